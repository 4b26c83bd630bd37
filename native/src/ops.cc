// The op table: each entry converts its arguments, calls one libtorch
// function and wraps the result. Bind what the project uses; add ops as needs
// arise. Argument validation with op-specific messages lives in TypeScript;
// everything libtorch rejects comes back through the guard as a JS error.
//
// Adding an op takes two rows, one per language:
//   1. here (or in addon.cc / dist.cc for lifecycle and collectives), an entry
//      {"name", [](Args& a) -> R { WRAP(at::fn(T0, a.t(1), a.i64(2))); }}:
//      positional arguments through Args (t, optT, tensors, ints, i64, f64, b,
//      str, scalar), the result through WRAP / WrapList / VOID; a fused op is
//      the same, with its loop or its sequence of at:: calls in the lambda;
//   2. in src/native/binding.ts, the row `name: op<(t: H, ...) => H>()` with
//      its TypeScript signature, or `name: unary` (binary, reduction,
//      binaryInPlace, unaryInPlace) when `tensor.name(...)` should pass its
//      arguments through as they are: the Tensor method is then derived from
//      the row. An op that needs argument checks gets a function in
//      src/tensor/functional.ts (or ops.ts) that validates, then calls it.
// Then `node native/build.cjs` and `npm run build`; test/native/binding.test.ts
// fails while the addon's exported names and the table's rows differ.
#include "common.h"

#include <ATen/core/Reduction.h>

namespace bitnative {
namespace {

using R = Napi::Value;
#define T0 a.t(0)
#define WRAP(expr) return Wrap(a.env(), (expr))
#define VOID(expr) \
  do {             \
    (expr);        \
    return a.env().Undefined(); \
  } while (0)

int64_t Reduction(const std::string& s) {
  if (s == "mean") return at::Reduction::Mean;
  if (s == "sum") return at::Reduction::Sum;
  if (s == "none") return at::Reduction::None;
  throw ArgError("reduction must be 'mean', 'sum' or 'none', got '" + s + "'");
}

at::MemoryFormat MemFormat(const std::string& s) {
  if (s == "contiguous") return at::MemoryFormat::Contiguous;
  if (s == "channelsLast") return at::MemoryFormat::ChannelsLast;
  if (s == "preserve") return at::MemoryFormat::Preserve;
  throw ArgError("memory format must be 'contiguous', 'channelsLast' or 'preserve', got '" + s + "'");
}

// Second operand: a tensor or a number.
#define BINARY(NAME, FN)                                       \
  {NAME, [](Args& a) -> R {                                    \
     if (a.isScalar(1)) WRAP(at::FN(T0, a.scalar(1)));          \
     WRAP(at::FN(T0, a.t(1)));                                  \
   }}
#define BINARY_(NAME, METHOD)                                  \
  {NAME, [](Args& a) -> R {                                    \
     if (a.isScalar(1)) VOID(T0.METHOD(a.scalar(1)));           \
     VOID(T0.METHOD(a.t(1)));                                   \
   }}
#define UNARY(NAME, FN) \
  { NAME, [](Args& a) -> R { WRAP(at::FN(T0)); } }

c10::optional<at::Scalar> OptScalar(Args& a, size_t i) {
  if (a.isNullish(i)) return c10::nullopt;
  return a.scalar(i);
}

at::IntArrayRef Dims(const c10::optional<std::vector<int64_t>>& d) {
  return d ? at::IntArrayRef(*d) : at::IntArrayRef();
}

const std::vector<OpEntry> kMath = {
    // ---- elementwise
    {"add", [](Args& a) -> R {
       at::Scalar alpha = a.isNullish(2) ? at::Scalar(1) : a.scalar(2);
       if (a.isScalar(1)) WRAP(at::add(T0, a.scalar(1), alpha));
       WRAP(at::add(T0, a.t(1), alpha));
     }},
    {"sub", [](Args& a) -> R {
       at::Scalar alpha = a.isNullish(2) ? at::Scalar(1) : a.scalar(2);
       if (a.isScalar(1)) WRAP(at::sub(T0, a.scalar(1), alpha));
       WRAP(at::sub(T0, a.t(1), alpha));
     }},
    BINARY("mul", mul),
    BINARY("div", div),
    BINARY("pow", pow),
    BINARY("eq", eq),
    BINARY("ne", ne),
    BINARY("lt", lt),
    BINARY("le", le),
    BINARY("gt", gt),
    BINARY("ge", ge),
    BINARY("remainder", remainder),
    {"maximum", [](Args& a) -> R {
       if (a.isScalar(1)) WRAP(at::clamp_min(T0, a.scalar(1)));
       WRAP(at::maximum(T0, a.t(1)));
     }},
    {"minimum", [](Args& a) -> R {
       if (a.isScalar(1)) WRAP(at::clamp_max(T0, a.scalar(1)));
       WRAP(at::minimum(T0, a.t(1)));
     }},
    UNARY("neg", neg),
    UNARY("exp", exp),
    UNARY("log", log),
    UNARY("log1p", log1p),
    UNARY("sqrt", sqrt),
    UNARY("rsqrt", rsqrt),
    UNARY("abs", abs),
    UNARY("relu", relu),
    UNARY("sigmoid", sigmoid),
    UNARY("tanh", tanh),
    UNARY("sign", sign),
    UNARY("floor", floor),
    UNARY("ceil", ceil),
    UNARY("round", round),
    UNARY("reciprocal", reciprocal),
    UNARY("square", square),
    UNARY("sin", sin),
    UNARY("cos", cos),
    UNARY("isfinite", isfinite),
    UNARY("isnan", isnan),
    UNARY("logicalNot", logical_not),
    {"clamp", [](Args& a) -> R { WRAP(at::clamp(T0, OptScalar(a, 1), OptScalar(a, 2))); }},
    {"where", [](Args& a) -> R {
       bool s1 = a.isScalar(1), s2 = a.isScalar(2);
       if (s1 && s2) WRAP(at::where(T0, a.scalar(1), a.scalar(2)));
       if (s1) WRAP(at::where(T0, a.scalar(1), a.t(2)));
       if (s2) WRAP(at::where(T0, a.t(1), a.scalar(2)));
       WRAP(at::where(T0, a.t(1), a.t(2)));
     }},
    {"maskedFill", [](Args& a) -> R { WRAP(at::masked_fill(T0, a.t(1), a.scalar(2))); }},
    {"lerp", [](Args& a) -> R { WRAP(at::lerp(T0, a.t(1), a.scalar(2))); }},

    // ---- reductions (dims null = all)
    {"sum", [](Args& a) -> R {
       auto d = a.optInts(1);
       if (!d) WRAP(at::sum(T0));
       WRAP(at::sum(T0, *d, a.b(2)));
     }},
    {"mean", [](Args& a) -> R {
       auto d = a.optInts(1);
       if (!d) WRAP(at::mean(T0));
       WRAP(at::mean(T0, *d, a.b(2)));
     }},
    {"var", [](Args& a) -> R {
       auto d = a.optInts(1);
       WRAP(at::var(T0, d ? at::OptionalIntArrayRef(*d) : at::OptionalIntArrayRef(), a.i64(2), a.b(3)));
     }},
    {"std", [](Args& a) -> R {
       auto d = a.optInts(1);
       WRAP(at::std(T0, d ? at::OptionalIntArrayRef(*d) : at::OptionalIntArrayRef(), a.i64(2), a.b(3)));
     }},
    {"varMean", [](Args& a) -> R {
       auto d = a.optInts(1);
       auto r = at::var_mean(T0, d ? at::OptionalIntArrayRef(*d) : at::OptionalIntArrayRef(), a.i64(2), a.b(3));
       return WrapList(a.env(), {std::get<0>(r), std::get<1>(r)});
     }},
    {"amax", [](Args& a) -> R { WRAP(at::amax(T0, Dims(a.optInts(1)), a.b(2))); }},
    {"amin", [](Args& a) -> R { WRAP(at::amin(T0, Dims(a.optInts(1)), a.b(2))); }},
    {"maxDim", [](Args& a) -> R {
       auto r = at::max(T0, a.i64(1), a.b(2));
       return WrapList(a.env(), {std::get<0>(r), std::get<1>(r)});
     }},
    {"argmax", [](Args& a) -> R {
       if (a.isNullish(1)) WRAP(at::argmax(T0));
       WRAP(at::argmax(T0, a.i64(1), a.b(2)));
     }},
    {"argmin", [](Args& a) -> R {
       if (a.isNullish(1)) WRAP(at::argmin(T0));
       WRAP(at::argmin(T0, a.i64(1), a.b(2)));
     }},
    {"topk", [](Args& a) -> R {
       auto r = at::topk(T0, a.i64(1), a.i64(2), a.b(3), a.b(4));
       return WrapList(a.env(), {std::get<0>(r), std::get<1>(r)});
     }},
    {"sort", [](Args& a) -> R {
       auto r = at::sort(T0, a.i64(1), a.b(2));
       return WrapList(a.env(), {std::get<0>(r), std::get<1>(r)});
     }},
    {"logsumexp", [](Args& a) -> R { WRAP(at::logsumexp(T0, a.ints(1), a.b(2))); }},
    {"norm", [](Args& a) -> R {
       auto d = a.optInts(2);
       if (!d) WRAP(at::norm(T0, a.scalar(1)));
       WRAP(at::norm(T0, a.scalar(1), *d, a.b(3)));
     }},
    {"all", [](Args& a) -> R { WRAP(at::all(T0)); }},
    {"any", [](Args& a) -> R { WRAP(at::any(T0)); }},
    {"cumsum", [](Args& a) -> R { WRAP(at::cumsum(T0, a.i64(1))); }},

    // ---- shape and indexing
    {"reshape", [](Args& a) -> R { WRAP(at::reshape(T0, a.ints(1))); }},
    {"view", [](Args& a) -> R { WRAP(T0.view(a.ints(1))); }},
    {"permute", [](Args& a) -> R { WRAP(T0.permute(a.ints(1))); }},
    {"transpose", [](Args& a) -> R { WRAP(at::transpose(T0, a.i64(1), a.i64(2))); }},
    {"contiguous", [](Args& a) -> R {
       auto fmt = a.isNullish(1) ? at::MemoryFormat::Contiguous : MemFormat(a.str(1));
       WRAP(T0.contiguous(fmt));
     }},
    {"clone", [](Args& a) -> R {
       auto fmt = a.isNullish(1) ? at::MemoryFormat::Preserve : MemFormat(a.str(1));
       WRAP(at::clone(T0, fmt));
     }},
    {"flatten", [](Args& a) -> R { WRAP(at::flatten(T0, a.i64(1), a.i64(2))); }},
    {"squeeze", [](Args& a) -> R {
       if (a.isNullish(1)) WRAP(at::squeeze(T0));
       WRAP(at::squeeze(T0, a.i64(1)));
     }},
    {"unsqueeze", [](Args& a) -> R { WRAP(at::unsqueeze(T0, a.i64(1))); }},
    {"expand", [](Args& a) -> R { WRAP(T0.expand(a.ints(1))); }},
    {"repeat", [](Args& a) -> R { WRAP(T0.repeat(a.ints(1))); }},
    {"flip", [](Args& a) -> R { WRAP(at::flip(T0, a.ints(1))); }},
    {"cat", [](Args& a) -> R { WRAP(at::cat(a.tensors(0), a.i64(1))); }},
    {"stack", [](Args& a) -> R { WRAP(at::stack(a.tensors(0), a.i64(1))); }},
    {"split", [](Args& a) -> R { return WrapList(a.env(), at::split(T0, a.i64(1), a.i64(2))); }},
    {"chunk", [](Args& a) -> R { return WrapList(a.env(), at::chunk(T0, a.i64(1), a.i64(2))); }},
    {"narrow", [](Args& a) -> R { WRAP(at::narrow(T0, a.i64(1), a.i64(2), a.i64(3))); }},
    {"slice", [](Args& a) -> R { WRAP(at::slice(T0, a.i64(1), a.i64(2), a.i64(3), a.i64(4))); }},
    {"select", [](Args& a) -> R { WRAP(at::select(T0, a.i64(1), a.i64(2))); }},
    {"indexSelect", [](Args& a) -> R { WRAP(at::index_select(T0, a.i64(1), a.t(2))); }},
    {"gather", [](Args& a) -> R { WRAP(at::gather(T0, a.i64(1), a.t(2))); }},
    {"scatter", [](Args& a) -> R { WRAP(at::scatter(T0, a.i64(1), a.t(2), a.t(3))); }},
    {"oneHot", [](Args& a) -> R { WRAP(at::one_hot(T0, a.i64(1))); }},
    {"constantPad", [](Args& a) -> R { WRAP(at::constant_pad_nd(T0, a.ints(1), a.scalar(2))); }},
    {"tril", [](Args& a) -> R { WRAP(at::tril(T0, a.i64(1))); }},
    {"triu", [](Args& a) -> R { WRAP(at::triu(T0, a.i64(1))); }},
    {"diagonal", [](Args& a) -> R { WRAP(at::diagonal(T0, a.i64(1), a.i64(2), a.i64(3))); }},

    // ---- neural-network ops
    {"conv2d", [](Args& a) -> R {
       WRAP(at::conv2d(T0, a.t(1), a.optT(2), a.ints(3), a.ints(4), a.ints(5), a.i64(6)));
     }},
    {"maxPool2d", [](Args& a) -> R {
       WRAP(at::max_pool2d(T0, a.ints(1), a.ints(2), a.ints(3), a.ints(4), a.b(5)));
     }},
    {"avgPool2d", [](Args& a) -> R {
       WRAP(at::avg_pool2d(T0, a.ints(1), a.ints(2), a.ints(3), a.b(4), a.b(5)));
     }},
    {"adaptiveAvgPool2d", [](Args& a) -> R { WRAP(at::adaptive_avg_pool2d(T0, a.ints(1))); }},
    {"groupNorm", [](Args& a) -> R {
       WRAP(at::group_norm(T0, a.i64(1), a.optT(2), a.optT(3), a.f64(4), false));
     }},
    {"batchNorm", [](Args& a) -> R {
       // x, weight?, bias?, runningMean?, runningVar?, training, momentum, eps
       WRAP(at::batch_norm(T0, a.optT(1), a.optT(2), a.optT(3), a.optT(4), a.b(5), a.f64(6), a.f64(7), false));
     }},
    {"layerNorm", [](Args& a) -> R {
       WRAP(at::layer_norm(T0, a.ints(1), a.optT(2), a.optT(3), a.f64(4), false));
     }},
    {"linear", [](Args& a) -> R { WRAP(at::linear(T0, a.t(1), a.optT(2))); }},
    {"matmul", [](Args& a) -> R { WRAP(at::matmul(T0, a.t(1))); }},
    {"softmax", [](Args& a) -> R { WRAP(at::softmax(T0, a.i64(1))); }},
    {"logSoftmax", [](Args& a) -> R { WRAP(at::log_softmax(T0, a.i64(1))); }},
    {"crossEntropy", [](Args& a) -> R {
       // logits [N,C], target int64 [N] (class indices) or float [N,C] (probabilities)
       WRAP(at::cross_entropy_loss(T0, a.t(1), a.optT(4), Reduction(a.str(2)), -100, a.f64(3)));
     }},
    {"bceWithLogits", [](Args& a) -> R {
       WRAP(at::binary_cross_entropy_with_logits(T0, a.t(1), a.optT(3), c10::nullopt, Reduction(a.str(2))));
     }},
    {"mseLoss", [](Args& a) -> R { WRAP(at::mse_loss(T0, a.t(1), Reduction(a.str(2)))); }},
    {"dropout", [](Args& a) -> R { WRAP(at::dropout(T0, a.f64(1), a.b(2))); }},
    {"upsampleBilinear", [](Args& a) -> R {
       WRAP(at::upsample_bilinear2d(T0, a.ints(1), a.b(2), c10::nullopt, c10::nullopt));
     }},

    // ---- linear algebra
    {"solve", [](Args& a) -> R { WRAP(at::linalg_solve(T0, a.t(1))); }},
    {"eigh", [](Args& a) -> R {
       auto r = at::linalg_eigh(T0, a.isNullish(1) ? "L" : a.str(1));
       return WrapList(a.env(), {std::get<0>(r), std::get<1>(r)});
     }},
    {"inv", [](Args& a) -> R { WRAP(at::linalg_inv(T0)); }},
    {"cholesky", [](Args& a) -> R { WRAP(at::linalg_cholesky(T0, false)); }},

    // ---- in place (optimizer updates, buffers)
    {"add_", [](Args& a) -> R {
       at::Scalar alpha = a.isNullish(2) ? at::Scalar(1) : a.scalar(2);
       if (a.isScalar(1)) VOID(T0.add_(a.scalar(1), alpha));
       VOID(T0.add_(a.t(1), alpha));
     }},
    BINARY_("mul_", mul_),
    BINARY_("div_", div_),
    {"copy_", [](Args& a) -> R { VOID(T0.copy_(a.t(1))); }},
    {"zero_", [](Args& a) -> R { VOID(T0.zero_()); }},
    {"fill_", [](Args& a) -> R { VOID(T0.fill_(a.scalar(1))); }},
    {"clamp_", [](Args& a) -> R { VOID(T0.clamp_(OptScalar(a, 1), OptScalar(a, 2))); }},
    {"addcmul_", [](Args& a) -> R { VOID(T0.addcmul_(a.t(1), a.t(2), a.scalar(3))); }},
    {"addcdiv_", [](Args& a) -> R { VOID(T0.addcdiv_(a.t(1), a.t(2), a.scalar(3))); }},
    {"relu_", [](Args& a) -> R { VOID(T0.relu_()); }},
    {"foreachAdd_", [](Args& a) -> R {
       // list += alpha * other   (other: list of tensors)
       VOID(at::_foreach_add_(a.tensors(0), a.tensors(1), a.scalar(2)));
     }},
    {"foreachMul_", [](Args& a) -> R { VOID(at::_foreach_mul_(a.tensors(0), a.scalar(1))); }},
    {"foreachMulAdd_", [](Args& a) -> R {
       // list = scale * list + other, one pass per tensor (at::add_out with the
       // output aliasing its scaled operand) where mul_ then add_ make two
       auto ts = a.tensors(0);
       auto others = a.tensors(2);
       auto scale = a.scalar(1);
       if (ts.size() != others.size()) throw ArgError("lists of different lengths");
       for (size_t i = 0; i < ts.size(); i++) at::add_out(ts[i], others[i], ts[i], scale);
       return a.env().Undefined();
     }},
    {"foreachZero_", [](Args& a) -> R { VOID(at::_foreach_zero_(a.tensors(0))); }},
    {"foreachNormSq", [](Args& a) -> R {
       // sum of squared L2 norms of a list, as one scalar tensor
       auto norms = at::_foreach_norm(a.tensors(0), 2);
       WRAP(at::stack(norms).square().sum());
     }},
};

}  // namespace

const std::vector<OpEntry>& MathOps() { return kMath; }

}  // namespace bitnative
