// Distributed collectives: libtorch's c10d with a TCPStore rendezvous and the
// Gloo process group (the engine under PyTorch's DistributedDataParallel).
// Only transport lives here; sharding, bucketing and fault reporting are
// TypeScript.
#include "common.h"

#ifdef BIT_WITH_DIST
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

namespace bitnative {
namespace {

// What the heartbeat thread shares with the main thread.
struct Heartbeat {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
};

struct DistState {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::string host;
  uint16_t port = 0;
  int64_t storeWorld = 0;
  int rank = -1;
  int world = 0;
  std::chrono::milliseconds timeout{60000};
  std::shared_ptr<Heartbeat> hb;
  std::thread hbThread;

  // Signals the heartbeat thread to stop; joins it, or (at process exit,
  // where it may be blocked on a dead connection) lets it go.
  void StopHeartbeat(bool join) {
    if (hb) {
      {
        std::lock_guard<std::mutex> g(hb->mu);
        hb->stop = true;
      }
      hb->cv.notify_all();
    }
    if (hbThread.joinable()) {
      if (join) hbThread.join();
      else hbThread.detach();
    }
    hb.reset();
  }
  ~DistState() { StopHeartbeat(false); }
};

DistState g_dist;

DistState& Need() {
  if (!g_dist.pg) throw ArgError("the distributed process group is not initialised (call distInit first)");
  return g_dist;
}

c10d::TCPStore& NeedStore() {
  if (!g_dist.store) throw ArgError("no store (call distInit or distStoreConnect first)");
  return *g_dist.store;
}

c10d::TCPStoreOptions StoreOptions(uint16_t port, bool isServer, int64_t world, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions so;
  so.port = port;
  so.isServer = isServer;
  so.numWorkers = static_cast<size_t>(world);
  so.waitWorkers = false;
  so.timeout = timeout;
  return so;
}

void WaitWork(const c10::intrusive_ptr<c10d::Work>& work) { work->wait(g_dist.timeout); }

c10d::ReduceOp ParseReduce(const std::string& s) {
  if (s == "sum") return c10d::ReduceOp::SUM;
  if (s == "max") return c10d::ReduceOp::MAX;
  if (s == "min") return c10d::ReduceOp::MIN;
  throw ArgError("reduce op must be 'sum', 'max' or 'min', got '" + s + "'");
}

uint16_t CheckPort(int64_t port) {
  if (port < 1 || port > 65535) throw ArgError("port must be in 1..65535, got " + std::to_string(port));
  return static_cast<uint16_t>(port);
}

// Creates the TCPStore (server on the rank that hosts it, client elsewhere).
void ConnectStore(const std::string& host, uint16_t port, bool isServer, int64_t world, std::chrono::milliseconds timeout) {
  if (g_dist.store) throw ArgError("the rendezvous store is already connected (call distDestroy first)");
  g_dist.store = c10::make_intrusive<c10d::TCPStore>(host, StoreOptions(port, isServer, world, timeout));
  g_dist.host = host;
  g_dist.port = port;
  g_dist.storeWorld = world;
  g_dist.timeout = timeout;
}

// Adds 1 to `key` every `interval` over a connection of its own, so that the
// other ranks can tell a live rank (even one blocked in a collective) from a
// lost one. Stops quietly when the store goes away.
void HeartbeatLoop(std::shared_ptr<Heartbeat> s, std::string host, uint16_t port, int64_t world, std::string key,
                   std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
  try {
    c10d::TCPStore client(host, StoreOptions(port, false, world, timeout));
    std::unique_lock<std::mutex> lk(s->mu);
    while (!s->stop) {
      lk.unlock();
      client.add(key, 1);
      lk.lock();
      s->cv.wait_for(lk, interval, [&] { return s->stop; });
    }
  } catch (const std::exception&) {
    // the store is gone: the counter stops, which is what the other ranks watch
  }
}

const std::vector<OpEntry> kDist = {
    {"distInit", [](Args& a) -> Napi::Value {
       // host, port, rank, world, timeoutMs[, interface]. Reuses the store of
       // distStoreConnect when there is one (rendezvous checks come first).
       if (g_dist.pg) throw ArgError("the distributed process group is already initialised");
       std::string host = a.str(0);
       uint16_t port = CheckPort(a.i64(1));
       int64_t rank = a.i64(2), world = a.i64(3), timeoutMs = a.i64(4);
       if (world < 1 || rank < 0 || rank >= world)
         throw ArgError("rank " + std::to_string(rank) + " is outside world size " + std::to_string(world));
       std::chrono::milliseconds timeout(timeoutMs);
       if (!g_dist.store) ConnectStore(host, port, rank == 0, world, timeout);
       auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
       std::string iface = a.isNullish(5) ? "" : a.str(5);
       if (!iface.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
       else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
       opts->threads = 2;
       auto prefixed = c10::make_intrusive<c10d::PrefixStore>("bit/pg", g_dist.store);
       auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, static_cast<int>(rank), static_cast<int>(world), opts);
       g_dist.pg = pg;
       g_dist.rank = static_cast<int>(rank);
       g_dist.world = static_cast<int>(world);
       g_dist.timeout = timeout;
       return a.env().Undefined();
     }},
    {"distStoreConnect", [](Args& a) -> Napi::Value {
       // A store client or server alone (rendezvous checks before the group forms).
       // host, port, isServer, world, timeoutMs
       ConnectStore(a.str(0), CheckPort(a.i64(1)), a.b(2), a.i64(3), std::chrono::milliseconds(a.i64(4)));
       return a.env().Undefined();
     }},
    {"distStoreSetTimeout", [](Args& a) -> Napi::Value {
       // timeoutMs: the limit of later store operations (connecting used the one given then)
       auto& store = NeedStore();
       int64_t ms = a.i64(0);
       if (ms < 1) throw ArgError("the store timeout must be >= 1 ms, got " + std::to_string(ms));
       store.setTimeout(std::chrono::milliseconds(ms));
       return a.env().Undefined();
     }},
    {"distHeartbeat", [](Args& a) -> Napi::Value {
       // key, intervalMs: starts the heartbeat thread (one per process).
       NeedStore();
       if (g_dist.hbThread.joinable()) throw ArgError("the heartbeat is already running");
       int64_t interval = a.i64(1);
       if (interval < 1) throw ArgError("the heartbeat interval must be >= 1 ms, got " + std::to_string(interval));
       auto s = std::make_shared<Heartbeat>();
       g_dist.hb = s;
       g_dist.hbThread = std::thread(HeartbeatLoop, s, g_dist.host, g_dist.port, g_dist.storeWorld, a.str(0),
                                     std::chrono::milliseconds(interval), g_dist.timeout);
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
       auto& store = NeedStore();
       auto v = a.str(1);
       store.set(a.str(0), std::vector<uint8_t>(v.begin(), v.end()));
       return a.env().Undefined();
     }},
    {"distStoreGet", [](Args& a) -> Napi::Value {
       // key, timeoutMs: waits for the key up to the timeout
       auto& store = NeedStore();
       std::string key = a.str(0);
       store.wait({key}, std::chrono::milliseconds(a.i64(1)));
       auto v = store.get(key);
       return Napi::String::New(a.env(), std::string(v.begin(), v.end()));
     }},
    {"distStoreCheck", [](Args& a) -> Napi::Value {
       return Napi::Boolean::New(a.env(), NeedStore().check({a.str(0)}));
     }},
    {"distStoreAdd", [](Args& a) -> Napi::Value {
       return Napi::Number::New(a.env(), static_cast<double>(NeedStore().add(a.str(0), a.i64(1))));
     }},
    {"distDestroy", [](Args& a) -> Napi::Value {
       g_dist.StopHeartbeat(true);
       g_dist.pg.reset();
       g_dist.store.reset();
       g_dist.rank = -1;
       g_dist.world = 0;
       g_dist.host.clear();
       g_dist.port = 0;
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
    {"distDestroy", Unavailable},    {"distHeartbeat", Unavailable},    {"distStoreSetTimeout", Unavailable},
    {"distIsInitialized", [](Args& a) -> Napi::Value { return Napi::Boolean::New(a.env(), false); }},
};
}  // namespace
const std::vector<OpEntry>& DistOps() { return kDist; }
}  // namespace bitnative

#endif
