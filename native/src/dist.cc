// Distributed collectives: libtorch's c10d with a TCPStore rendezvous and the
// Gloo process group (the engine under PyTorch's DistributedDataParallel).
// Only transport lives here; sharding, bucketing and fault reporting are
// TypeScript.
#include "common.h"

#ifdef BIT_WITH_DIST
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>

namespace bitnative {
namespace {

struct DistState {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  int rank = -1;
  int world = 0;
  std::chrono::milliseconds timeout{60000};
};

DistState g_dist;

DistState& Need() {
  if (!g_dist.pg) throw ArgError("the distributed process group is not initialised (call distInit first)");
  return g_dist;
}

void WaitWork(const c10::intrusive_ptr<c10d::Work>& work) { work->wait(g_dist.timeout); }

c10d::ReduceOp ParseReduce(const std::string& s) {
  if (s == "sum") return c10d::ReduceOp::SUM;
  if (s == "max") return c10d::ReduceOp::MAX;
  if (s == "min") return c10d::ReduceOp::MIN;
  throw ArgError("reduce op must be 'sum', 'max' or 'min', got '" + s + "'");
}

const std::vector<OpEntry> kDist = {
    {"distInit", [](Args& a) -> Napi::Value {
       // host, port, rank, world, timeoutMs[, interface]
       if (g_dist.pg) throw ArgError("the distributed process group is already initialised");
       std::string host = a.str(0);
       int64_t port = a.i64(1), rank = a.i64(2), world = a.i64(3), timeoutMs = a.i64(4);
       if (port < 1 || port > 65535) throw ArgError("port must be in 1..65535, got " + std::to_string(port));
       if (world < 1 || rank < 0 || rank >= world)
         throw ArgError("rank " + std::to_string(rank) + " is outside world size " + std::to_string(world));
       std::chrono::milliseconds timeout(timeoutMs);
       c10d::TCPStoreOptions so;
       so.port = static_cast<uint16_t>(port);
       so.isServer = rank == 0;
       so.numWorkers = static_cast<size_t>(world);
       so.waitWorkers = false;
       so.timeout = timeout;
       auto store = c10::make_intrusive<c10d::TCPStore>(host, so);
       auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
       std::string iface = a.isNullish(5) ? "" : a.str(5);
       if (!iface.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
       else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
       opts->threads = 2;
       auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(rank), static_cast<int>(world), opts);
       g_dist.store = store;
       g_dist.pg = pg;
       g_dist.rank = static_cast<int>(rank);
       g_dist.world = static_cast<int>(world);
       g_dist.timeout = timeout;
       return a.env().Undefined();
     }},
    {"distStoreConnect", [](Args& a) -> Napi::Value {
       // A store client or server alone (rendezvous checks before the group forms).
       // host, port, isServer, world, timeoutMs
       c10d::TCPStoreOptions so;
       so.port = static_cast<uint16_t>(a.i64(1));
       so.isServer = a.b(2);
       so.numWorkers = static_cast<size_t>(a.i64(3));
       so.waitWorkers = false;
       so.timeout = std::chrono::milliseconds(a.i64(4));
       g_dist.store = c10::make_intrusive<c10d::TCPStore>(a.str(0), so);
       g_dist.timeout = so.timeout;
       return a.env().Undefined();
     }},
    {"distIsInitialized", [](Args& a) -> Napi::Value { return Napi::Boolean::New(a.env(), static_cast<bool>(g_dist.pg)); }},
    {"distAllreduce", [](Args& a) -> Napi::Value {
       auto& d = Need();
       std::vector<at::Tensor> ts{a.t(0)};
       c10d::AllreduceOptions o;
       o.reduceOp = ParseReduce(a.isNullish(1) ? "sum" : a.str(1));
       o.timeout = d.timeout;
       WaitWork(d.pg->allreduce(ts, o));
       return a.env().Undefined();
     }},
    {"distBroadcast", [](Args& a) -> Napi::Value {
       auto& d = Need();
       std::vector<at::Tensor> ts{a.t(0)};
       c10d::BroadcastOptions o;
       o.rootRank = a.i64(1);
       o.timeout = d.timeout;
       WaitWork(d.pg->broadcast(ts, o));
       return a.env().Undefined();
     }},
    {"distBarrier", [](Args& a) -> Napi::Value {
       auto& d = Need();
       c10d::BarrierOptions o;
       o.timeout = d.timeout;
       WaitWork(d.pg->barrier(o));
       return a.env().Undefined();
     }},
    {"distStoreSet", [](Args& a) -> Napi::Value {
       if (!g_dist.store) throw ArgError("no store (call distInit or distStoreConnect first)");
       auto v = a.str(1);
       g_dist.store->set(a.str(0), std::vector<uint8_t>(v.begin(), v.end()));
       return a.env().Undefined();
     }},
    {"distStoreGet", [](Args& a) -> Napi::Value {
       // key, timeoutMs: waits for the key up to the timeout
       if (!g_dist.store) throw ArgError("no store (call distInit or distStoreConnect first)");
       std::string key = a.str(0);
       g_dist.store->wait({key}, std::chrono::milliseconds(a.i64(1)));
       auto v = g_dist.store->get(key);
       return Napi::String::New(a.env(), std::string(v.begin(), v.end()));
     }},
    {"distStoreCheck", [](Args& a) -> Napi::Value {
       if (!g_dist.store) throw ArgError("no store (call distInit or distStoreConnect first)");
       return Napi::Boolean::New(a.env(), g_dist.store->check({a.str(0)}));
     }},
    {"distStoreAdd", [](Args& a) -> Napi::Value {
       if (!g_dist.store) throw ArgError("no store (call distInit or distStoreConnect first)");
       return Napi::Number::New(a.env(), static_cast<double>(g_dist.store->add(a.str(0), a.i64(1))));
     }},
    {"distDestroy", [](Args& a) -> Napi::Value {
       g_dist.pg.reset();
       g_dist.store.reset();
       g_dist.rank = -1;
       g_dist.world = 0;
       return a.env().Undefined();
     }},
};

}  // namespace

const std::vector<OpEntry>& DistOps() { return kDist; }

}  // namespace bitnative

#else  // no c10d/Gloo headers: the ops exist and explain why they cannot run

namespace bitnative {
namespace {
Napi::Value Unavailable(Args&) {
  throw ArgError(
      "this build of the addon has no distributed support: libtorch's c10d/Gloo headers were not found at build time "
      "(install libgloo-dev, or point LIBTORCH at a libtorch that ships torch/csrc/distributed/c10d, then rebuild)");
}
const std::vector<OpEntry> kDist = {
    {"distInit", Unavailable},      {"distStoreConnect", Unavailable}, {"distAllreduce", Unavailable},
    {"distBroadcast", Unavailable}, {"distBarrier", Unavailable},      {"distStoreSet", Unavailable},
    {"distStoreGet", Unavailable},  {"distStoreCheck", Unavailable},   {"distStoreAdd", Unavailable},
    {"distDestroy", Unavailable},
    {"distIsInitialized", [](Args& a) -> Napi::Value { return Napi::Boolean::New(a.env(), false); }},
};
}  // namespace
const std::vector<OpEntry>& DistOps() { return kDist; }
}  // namespace bitnative

#endif
