// Shared helpers of the native addon: tensor handles, argument conversion and
// the guard that turns every C++ exception into a JavaScript error naming the op.
//
// The addon is deliberately thin: it converts types, calls one libtorch
// function and converts the result back. All model, data and training logic
// lives in TypeScript.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <atomic>
#include <functional>
#include <c10/util/Optional.h>
#include <stdexcept>
#include <string>
#include <vector>

namespace bitnative {

// A tensor handle owned by JavaScript. `alive` is false once disposed.
struct Box {
  at::Tensor t;
  bool alive = true;
};

// Live handles (created and not yet disposed) and handles that JavaScript
// dropped without disposing (collected by the garbage collector instead).
extern std::atomic<int64_t> g_live;
extern std::atomic<int64_t> g_leaked;

// Argument error: the guard prefixes it with the op name.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Napi::Value Wrap(Napi::Env env, at::Tensor t);
Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts);

// Positional argument access with uniform, op-independent messages.
class Args {
 public:
  explicit Args(const Napi::CallbackInfo& info) : info_(info) {}
  Napi::Env env() const { return info_.Env(); }
  size_t size() const { return info_.Length(); }
  bool isNullish(size_t i) const;
  bool isNumber(size_t i) const { return i < size() && info_[i].IsNumber(); }
  at::Tensor& t(size_t i) const;
  c10::optional<at::Tensor> optT(size_t i) const;
  std::vector<at::Tensor> tensors(size_t i) const;
  std::vector<int64_t> ints(size_t i) const;
  c10::optional<std::vector<int64_t>> optInts(size_t i) const;
  int64_t i64(size_t i) const;
  double f64(size_t i) const;
  bool b(size_t i) const;
  std::string str(size_t i) const;
  at::ScalarType dtype(size_t i) const;
  // A number (scalar) or a tensor at position i.
  bool isScalar(size_t i) const { return isNumber(i) || (i < size() && info_[i].IsBoolean()); }
  at::Scalar scalar(size_t i) const;
  const Napi::CallbackInfo& info() const { return info_; }

 private:
  Napi::Value at(size_t i) const;
  const Napi::CallbackInfo& info_;
};

using OpFn = std::function<Napi::Value(Args&)>;

struct OpEntry {
  const char* name;
  OpFn fn;
};

// Registers every op of a table on `exports`, each wrapped by the guard.
void Register(Napi::Env env, Napi::Object exports, const std::vector<OpEntry>& table);

at::ScalarType ParseDtype(const std::string& s);
std::string DtypeName(at::ScalarType t);

// Op tables, one per translation unit.
const std::vector<OpEntry>& CoreOps();
const std::vector<OpEntry>& MathOps();
const std::vector<OpEntry>& InferenceOps();
const std::vector<OpEntry>& DistOps();

}  // namespace bitnative
