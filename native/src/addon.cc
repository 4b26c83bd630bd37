// Entry point of the native addon: handle lifecycle, argument conversion, the
// error guard, and the core table (creation, read-back, queries, autograd,
// random numbers, threads, build information).
#include "common.h"

#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GeneratorImpl.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/version.h>

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

namespace bitnative {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_leaked{0};

static const napi_type_tag kBoxTag = {0x6269745f746f7263ULL, 0x685f68616e646c65ULL};  // "bit_torch_handle"

Napi::Value Wrap(Napi::Env env, at::Tensor t) {
  auto ext = Napi::External<Box>::New(env, new Box{std::move(t), true}, [](Napi::Env, Box* b) {
    if (b->alive) {
      g_leaked++;
      g_live--;
    }
    delete b;
  });
  ext.TypeTag(&kBoxTag);
  g_live++;
  return ext;
}

Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) arr.Set(static_cast<uint32_t>(i), Wrap(env, ts[i]));
  return arr;
}

// The box of a tensor handle of this addon, disposed or not (checks the type and the type tag).
static Box* BoxOf(const Napi::Value& v, const std::string& what) {
  if (!v.IsExternal()) throw ArgError(what + " must be a tensor handle");
  auto ext = v.As<Napi::External<Box>>();
  if (!ext.CheckTypeTag(&kBoxTag)) throw ArgError(what + " is not a tensor handle of this addon");
  return ext.Data();
}

// The box of a live tensor handle.
static Box* Unbox(const Napi::Value& v, const std::string& what) {
  Box* b = BoxOf(v, what);
  if (!b->alive) throw ArgError(what + " is a disposed tensor");
  return b;
}

Napi::Value Args::at(size_t i) const {
  if (i >= size()) throw ArgError("argument " + std::to_string(i) + " is missing");
  return info_[i];
}

bool Args::isNullish(size_t i) const { return i >= size() || info_[i].IsNull() || info_[i].IsUndefined(); }

at::Tensor& Args::t(size_t i) const { return Unbox(at(i), "argument " + std::to_string(i))->t; }

c10::optional<at::Tensor> Args::optT(size_t i) const {
  if (isNullish(i)) return c10::nullopt;
  return t(i);
}

std::vector<at::Tensor> Args::tensors(size_t i) const {
  auto v = at(i);
  if (!v.IsArray()) throw ArgError("argument " + std::to_string(i) + " must be an array of tensor handles");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++)
    out.push_back(Unbox(arr.Get(k), "argument " + std::to_string(i) + "[" + std::to_string(k) + "]")->t);
  return out;
}

std::vector<int64_t> Args::ints(size_t i) const {
  auto v = at(i);
  if (!v.IsArray()) throw ArgError("argument " + std::to_string(i) + " must be an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    auto e = arr.Get(k);
    if (!e.IsNumber()) throw ArgError("argument " + std::to_string(i) + "[" + std::to_string(k) + "] must be a number");
    out[k] = e.As<Napi::Number>().Int64Value();
  }
  return out;
}

c10::optional<std::vector<int64_t>> Args::optInts(size_t i) const {
  if (isNullish(i)) return c10::nullopt;
  return ints(i);
}

int64_t Args::i64(size_t i) const {
  auto v = at(i);
  if (!v.IsNumber()) throw ArgError("argument " + std::to_string(i) + " must be a number");
  return v.As<Napi::Number>().Int64Value();
}

double Args::f64(size_t i) const {
  auto v = at(i);
  if (!v.IsNumber()) throw ArgError("argument " + std::to_string(i) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool Args::b(size_t i) const {
  auto v = at(i);
  if (!v.IsBoolean()) throw ArgError("argument " + std::to_string(i) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string Args::str(size_t i) const {
  auto v = at(i);
  if (!v.IsString()) throw ArgError("argument " + std::to_string(i) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

at::ScalarType Args::dtype(size_t i) const { return ParseDtype(str(i)); }

at::Scalar Args::scalar(size_t i) const {
  auto v = at(i);
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (!v.IsNumber()) throw ArgError("argument " + std::to_string(i) + " must be a number");
  return at::Scalar(v.As<Napi::Number>().DoubleValue());
}

at::ScalarType ParseDtype(const std::string& s) {
  if (s == "float32") return at::kFloat;
  if (s == "float64") return at::kDouble;
  if (s == "int64") return at::kLong;
  if (s == "int32") return at::kInt;
  if (s == "uint8") return at::kByte;
  if (s == "int8") return at::kChar;
  if (s == "bool") return at::kBool;
  if (s == "float16") return at::kHalf;
  if (s == "bfloat16") return at::kBFloat16;
  throw ArgError("unknown dtype '" + s + "' (expected float32, float64, int64, int32, uint8, int8, bool, float16 or bfloat16)");
}

std::string DtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kByte: return "uint8";
    case at::kChar: return "int8";
    case at::kBool: return "bool";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    default: return std::string(c10::toString(t));
  }
}

static Napi::Value Dispatch(const Napi::CallbackInfo& info) {
  auto* e = static_cast<const OpEntry*>(info.Data());
  try {
    Args a(info);
    return e->fn(a);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& err) {
    throw Napi::Error::New(info.Env(), std::string(e->name) + ": " + err.what_without_backtrace());
  } catch (const std::exception& err) {
    throw Napi::Error::New(info.Env(), std::string(e->name) + ": " + err.what());
  } catch (...) {
    throw Napi::Error::New(info.Env(), std::string(e->name) + ": unknown native error");
  }
}

void Register(Napi::Env env, Napi::Object exports, const std::vector<OpEntry>& table) {
  for (const auto& e : table) {
    exports.Set(e.name, Napi::Function::New(env, Dispatch, e.name, const_cast<OpEntry*>(&e)));
  }
}

// ---------------------------------------------------------------------------
// Allocation reuse: a caching CPU allocator
//
// glibc's malloc serves libtorch's large tensors either from its heap, which
// fragments under the allocation pattern of a training step (peak RSS grew
// by 60% over 30 steps of BiT-R50x1 while PyTorch stayed flat), or, below its
// mmap threshold, from fresh mappings whose every page faults and is zeroed
// on first touch (350k faults, +30% CPU time per step). This allocator gives
// every block of at least kMinBlock bytes its own mapping and keeps freed
// blocks for the next request of (about) the same size: a repeating step
// reuses them without faults. Blocks are mapped only while the bytes in use
// plus the bytes kept stay under the highest bytes-in-use seen so far plus
// kSlack; past that, the least recently freed blocks are unmapped. Smaller
// requests go to libtorch's default allocator. Once installed it stays (ideep
// frees buffers through whatever allocator is current), but can be switched
// to pass everything through.
namespace {

constexpr size_t kMinBlock = 256 * 1024;
constexpr size_t kPage = 4096;
constexpr size_t kSlack = 64 << 20;

class CachingCpuAllocator final : public c10::Allocator {
 public:
  explicit CachingCpuAllocator(c10::Allocator* fallback) : fallback_(fallback) {}

  c10::DataPtr allocate(size_t n) const override {
    void* p = nullptr;
    if (enabled_.load() && n >= kMinBlock) {
      p = TakeOrMap(n);
    } else {
      p = fallback_->raw_allocate(n);
    }
    return {p, p, &Release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &Release; }

  void setEnabled(bool on) { enabled_.store(on); }
  bool enabled() const { return enabled_.load(); }

  // Unmaps every kept block.
  void emptyCache() {
    std::lock_guard<std::mutex> lock(mutex_);
    while (!free_.empty()) Evict(free_.begin());
  }

  Napi::Object Stats(Napi::Env env) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto o = Napi::Object::New(env);
    o.Set("enabled", enabled_.load());
    o.Set("inUseBytes", static_cast<double>(inUse_));
    o.Set("cachedBytes", static_cast<double>(cached_));
    o.Set("peakInUseBytes", static_cast<double>(peak_));
    o.Set("hits", static_cast<double>(hits_));
    o.Set("misses", static_cast<double>(misses_));
    o.Set("evictions", static_cast<double>(evictions_));
    return o;
  }

  static CachingCpuAllocator* instance;

 private:
  struct Kept {
    void* ptr;
    uint64_t stamp;  // when it was freed (for least-recently-freed eviction)
  };

  void* TakeOrMap(size_t n) const {
    size_t need = (n + kPage - 1) / kPage * kPage;
    std::lock_guard<std::mutex> lock(mutex_);
    // the smallest kept block that fits, if it wastes at most 1/8 of it
    auto it = free_.lower_bound(need);
    if (it != free_.end() && it->first <= need + need / 8) {
      size_t size = it->first;
      void* p = it->second.ptr;
      free_.erase(it);
      cached_ -= size;
      inUse_ += size;
      sizes_[p] = size;
      hits_++;
      peak_ = std::max(peak_, inUse_);
      return p;
    }
    inUse_ += need;
    peak_ = std::max(peak_, inUse_);
    while (!free_.empty() && inUse_ + cached_ > peak_ + kSlack) Evict(Oldest());
    void* p = mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      // out of address space or memory: drop every kept block and retry once
      while (!free_.empty()) Evict(free_.begin());
      p = mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        inUse_ -= need;
        TORCH_CHECK(false, "out of memory: could not map ", need, " bytes for a tensor");
      }
    }
    sizes_[p] = need;
    misses_++;
    return p;
  }

  std::multimap<size_t, Kept>::iterator Oldest() const {
    auto oldest = free_.begin();
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (it->second.stamp < oldest->second.stamp) oldest = it;
    return oldest;
  }

  void Evict(std::multimap<size_t, Kept>::iterator it) const {
    munmap(it->second.ptr, it->first);
    cached_ -= it->first;
    evictions_++;
    free_.erase(it);
  }

  static void Release(void* p) {
    if (p == nullptr) return;
    CachingCpuAllocator* self = instance;
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      auto it = self->sizes_.find(p);
      if (it != self->sizes_.end()) {
        size_t size = it->second;
        self->sizes_.erase(it);
        self->inUse_ -= size;
        self->cached_ += size;
        self->free_.emplace(size, Kept{p, self->clock_++});
        return;
      }
    }
    self->fallback_->raw_deleter()(p);
  }

  c10::Allocator* fallback_;
  std::atomic<bool> enabled_{true};
  mutable std::mutex mutex_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable std::multimap<size_t, Kept> free_;
  mutable size_t inUse_ = 0, cached_ = 0, peak_ = 0;
  mutable uint64_t hits_ = 0, misses_ = 0, evictions_ = 0, clock_ = 0;
};

CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

// Installed once, when the addon loads, unless BIT_CACHING_ALLOCATOR=0.
CachingCpuAllocator* CachingAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    CachingCpuAllocator::instance = new CachingCpuAllocator(c10::GetDefaultCPUAllocator());
    const char* env = std::getenv("BIT_CACHING_ALLOCATOR");
    if (env != nullptr && std::string(env) == "0") CachingCpuAllocator::instance->setEnabled(false);
    c10::SetCPUAllocator(CachingCpuAllocator::instance, /*priority=*/1);
  });
  return CachingCpuAllocator::instance;
}

}  // namespace

// ---------------------------------------------------------------------------
// Core table

static Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }
static Napi::Value Bool(Napi::Env env, bool v) { return Napi::Boolean::New(env, v); }
static at::TensorOptions Opts(at::ScalarType dt) { return at::TensorOptions().dtype(dt); }
// dtype at position i, optional device string at position i + 1 ("cpu", "cuda:0", "meta")
static at::TensorOptions OptsAt(Args& a, size_t i) {
  auto o = at::TensorOptions().dtype(a.dtype(i));
  if (!a.isNullish(i + 1)) o = o.device(at::Device(a.str(i + 1)));
  return o;
}

static size_t ElementSize(at::ScalarType dt) { return c10::elementSize(dt); }

static std::mutex g_seed_mutex;

static Napi::Value FromBuffer(Args& a) {
  auto v = a.info()[0];
  if (!v.IsTypedArray()) throw ArgError("argument 0 must be a typed array");
  auto ta = v.As<Napi::TypedArray>();
  auto shape = a.ints(1);
  auto dt = a.dtype(2);
  int64_t numel = 1;
  for (auto d : shape) {
    if (d < 0) throw ArgError("shape has a negative dimension");
    numel *= d;
  }
  size_t need = static_cast<size_t>(numel) * ElementSize(dt);
  if (ta.ByteLength() != need)
    throw ArgError("typed array holds " + std::to_string(ta.ByteLength()) + " bytes, shape and dtype need " + std::to_string(need));
  auto t = at::empty(shape, Opts(dt));
  if (need > 0) {
    auto* src = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    std::memcpy(t.data_ptr(), src, need);
  }
  return Wrap(a.env(), t);
}

static Napi::Value ToBuffer(Args& a) {
  auto t = a.t(0).detach().to(at::kCPU).contiguous();
  size_t n = t.numel() * t.element_size();
  auto buf = Napi::ArrayBuffer::New(a.env(), n);
  if (n > 0) std::memcpy(buf.Data(), t.data_ptr(), n);
  return buf;
}

static Napi::Value Shape(Args& a) {
  auto s = a.t(0).sizes();
  auto arr = Napi::Array::New(a.env(), s.size());
  for (size_t i = 0; i < s.size(); i++) arr.Set(static_cast<uint32_t>(i), Num(a.env(), static_cast<double>(s[i])));
  return arr;
}

static const std::vector<OpEntry> kCore = {
    // lifecycle and queries
    {"dispose", [](Args& a) -> Napi::Value {
       Box* b = BoxOf(a.info()[0], "argument 0");
       if (b->alive) {
         b->t = at::Tensor();
         b->alive = false;
         g_live--;
       }
       return a.env().Undefined();
     }},
    {"isDisposed", [](Args& a) -> Napi::Value { return Bool(a.env(), !BoxOf(a.info()[0], "argument 0")->alive); }},
    {"liveCount", [](Args& a) -> Napi::Value { return Num(a.env(), static_cast<double>(g_live.load())); }},
    {"leakedCount", [](Args& a) -> Napi::Value { return Num(a.env(), static_cast<double>(g_leaked.load())); }},
    {"shape", Shape},
    {"dtype", [](Args& a) -> Napi::Value { return Napi::String::New(a.env(), DtypeName(a.t(0).scalar_type())); }},
    {"device", [](Args& a) -> Napi::Value { return Napi::String::New(a.env(), a.t(0).device().str()); }},
    {"numel", [](Args& a) -> Napi::Value { return Num(a.env(), static_cast<double>(a.t(0).numel())); }},
    {"isContiguous", [](Args& a) -> Napi::Value { return Bool(a.env(), a.t(0).is_contiguous()); }},
    {"isChannelsLast", [](Args& a) -> Napi::Value {
       return Bool(a.env(), a.t(0).dim() == 4 && a.t(0).is_contiguous(at::MemoryFormat::ChannelsLast));
     }},
    {"version", [](Args& a) -> Napi::Value { return Num(a.env(), static_cast<double>(a.t(0)._version())); }},
    {"sameStorage", [](Args& a) -> Napi::Value { return Bool(a.env(), a.t(0).is_same(a.t(1))); }},
    // creation and read-back
    {"fromBuffer", FromBuffer},
    {"toBuffer", ToBuffer},
    {"item", [](Args& a) -> Napi::Value {
       auto& t = a.t(0);
       if (t.numel() != 1) throw ArgError("item needs a tensor of one element, got " + std::to_string(t.numel()));
       return Num(a.env(), t.item().toDouble());
     }},
    {"empty", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::empty(a.ints(0), OptsAt(a, 1))); }},
    {"zeros", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::zeros(a.ints(0), OptsAt(a, 1))); }},
    {"ones", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::ones(a.ints(0), OptsAt(a, 1))); }},
    {"full", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::full(a.ints(0), a.scalar(1), OptsAt(a, 2))); }},
    {"arange", [](Args& a) -> Napi::Value {
       return Wrap(a.env(), at::arange(a.scalar(0), a.scalar(1), a.scalar(2), Opts(a.dtype(3))));
     }},
    {"linspace", [](Args& a) -> Napi::Value {
       return Wrap(a.env(), at::linspace(a.scalar(0), a.scalar(1), a.i64(2), Opts(a.dtype(3))));
     }},
    {"eye", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::eye(a.i64(0), Opts(a.dtype(1)))); }},
    {"zerosLike", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::zeros_like(a.t(0))); }},
    {"onesLike", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::ones_like(a.t(0))); }},
    // random numbers (the global CPU generator, seeded by manualSeed)
    {"manualSeed", [](Args& a) -> Napi::Value {
       auto gen = at::detail::getDefaultCPUGenerator();
       std::lock_guard<std::mutex> lock(gen.mutex());
       gen.set_current_seed(static_cast<uint64_t>(a.i64(0)));
       return a.env().Undefined();
     }},
    {"rand", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::rand(a.ints(0), OptsAt(a, 1))); }},
    {"randn", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::randn(a.ints(0), OptsAt(a, 1))); }},
    {"randint", [](Args& a) -> Napi::Value {
       return Wrap(a.env(), at::randint(a.i64(0), a.i64(1), a.ints(2), Opts(at::kLong)));
     }},
    {"randperm", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::randperm(a.i64(0), Opts(at::kLong))); }},
    {"bernoulli", [](Args& a) -> Napi::Value { return Wrap(a.env(), at::bernoulli(a.t(0))); }},
    {"uniform_", [](Args& a) -> Napi::Value {
       a.t(0).uniform_(a.f64(1), a.f64(2));
       return a.env().Undefined();
     }},
    {"normal_", [](Args& a) -> Napi::Value {
       a.t(0).normal_(a.f64(1), a.f64(2));
       return a.env().Undefined();
     }},
    // dtype and device
    {"to", [](Args& a) -> Napi::Value { return Wrap(a.env(), a.t(0).to(a.dtype(1))); }},
    {"toDevice", [](Args& a) -> Napi::Value { return Wrap(a.env(), a.t(0).to(at::Device(a.str(1)))); }},
    {"cudaAvailable", [](Args& a) -> Napi::Value { return Bool(a.env(), at::hasCUDA()); }},
    // autograd
    {"setRequiresGrad", [](Args& a) -> Napi::Value {
       a.t(0).set_requires_grad(a.b(1));
       return a.env().Undefined();
     }},
    {"requiresGrad", [](Args& a) -> Napi::Value { return Bool(a.env(), a.t(0).requires_grad()); }},
    {"grad", [](Args& a) -> Napi::Value {
       const auto& g = a.t(0).grad();
       if (!g.defined()) return a.env().Null();
       return Wrap(a.env(), g);
     }},
    {"setGrad", [](Args& a) -> Napi::Value {
       auto& t = a.t(0);
       auto g = a.optT(1);
       if (g) t.mutable_grad() = *g;
       else t.mutable_grad().reset();
       return a.env().Undefined();
     }},
    {"backward", [](Args& a) -> Napi::Value {
       auto g = a.optT(1);
       bool retain = a.size() > 2 && !a.isNullish(2) && a.b(2);
       a.t(0).backward(g ? *g : at::Tensor(), retain);
       return a.env().Undefined();
     }},
    {"detach", [](Args& a) -> Napi::Value { return Wrap(a.env(), a.t(0).detach()); }},
    {"setGradEnabled", [](Args& a) -> Napi::Value {
       bool prev = at::GradMode::is_enabled();
       at::GradMode::set_enabled(a.b(0));
       return Bool(a.env(), prev);
     }},
    {"isGradEnabled", [](Args& a) -> Napi::Value { return Bool(a.env(), at::GradMode::is_enabled()); }},
    // threads and build information
    {"setNumThreads", [](Args& a) -> Napi::Value {
       int64_t n = a.i64(0);
       if (n < 1) throw ArgError("thread count must be at least 1, got " + std::to_string(n));
       at::set_num_threads(static_cast<int>(n));
       return a.env().Undefined();
     }},
    {"getNumThreads", [](Args& a) -> Napi::Value { return Num(a.env(), at::get_num_threads()); }},
    // the caching CPU allocator (see above)
    {"allocatorStats", [](Args& a) -> Napi::Value { return CachingAllocator()->Stats(a.env()); }},
    {"setCachingAllocator", [](Args& a) -> Napi::Value {
       CachingAllocator()->setEnabled(a.b(0));
       return a.env().Undefined();
     }},
    {"emptyCache", [](Args& a) -> Napi::Value {
       CachingAllocator()->emptyCache();
       return a.env().Undefined();
     }},
    // op timings: libtorch's own RecordFunction events (its legacy CPU profiler,
    // what torch.autograd.profiler reads), for this thread and the autograd
    // engine's work on its behalf
    {"profilerStart", [](Args& a) -> Napi::Value {
       namespace impl = torch::profiler::impl;
       torch::autograd::profiler::enableProfilerLegacy(impl::ProfilerConfig(impl::ProfilerState::CPU));
       return a.env().Undefined();
     }},
    {"profilerStop", [](Args& a) -> Napi::Value {
       // Every op call as [name, thread, startUs, endUs, depth]: push/pop pairs
       // matched per thread; depth is the nesting level (0 = called from JS).
       using torch::autograd::profiler::EventKind;
       using torch::autograd::profiler::LegacyEvent;
       auto lists = torch::autograd::profiler::disableProfilerLegacy();
       auto env = a.env();
       auto out = Napi::Array::New(env);
       uint32_t n = 0;
       for (auto& list : lists) {
         std::vector<const LegacyEvent*> stack;
         for (auto& e : list) {
           if (e.kind() == EventKind::PushRange) {
             stack.push_back(&e);
           } else if (e.kind() == EventKind::PopRange && !stack.empty()) {
             const LegacyEvent* start = stack.back();
             stack.pop_back();
             auto row = Napi::Array::New(env, 5);
             row.Set(0u, Napi::String::New(env, start->name()));
             row.Set(1u, Num(env, static_cast<double>(start->threadId())));
             row.Set(2u, Num(env, start->cpuUs()));
             row.Set(3u, Num(env, e.cpuUs()));
             row.Set(4u, Num(env, static_cast<double>(stack.size())));
             out.Set(n++, row);
           }
         }
       }
       return out;
     }},
    {"buildInfo", [](Args& a) -> Napi::Value {
       auto o = Napi::Object::New(a.env());
       o.Set("torchVersion", TORCH_VERSION);
       o.Set("config", at::show_config());
       o.Set("parallelInfo", at::get_parallel_info());
       o.Set("cuda", at::hasCUDA());
       o.Set("mkldnn", at::hasMKLDNN());
#ifdef BIT_WITH_ONEDNN
       o.Set("onednn", true);
#else
       o.Set("onednn", false);
#endif
       o.Set("lapack", at::hasLAPACK());
#ifdef BIT_WITH_DIST
       o.Set("distributed", true);
#else
       o.Set("distributed", false);
#endif
       return o;
     }},
};

const std::vector<OpEntry>& CoreOps() { return kCore; }

}  // namespace bitnative

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace bitnative;
  CachingAllocator();
  Register(env, exports, CoreOps());
  Register(env, exports, MathOps());
  Register(env, exports, InferenceOps());
  Register(env, exports, DistOps());
  return exports;
}

NODE_API_MODULE(bit_native, Init)
