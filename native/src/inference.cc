// Inference kernels: convolutions with packed kernels, and GroupNorm fused
// with ReLU. Neither is differentiable; the TypeScript layer calls them only
// where no gradient is needed and the composition of libtorch ops otherwise.
//
// Packed convolutions. libtorch 1.13's mkldnn_convolution takes NCHW tensors
// and, with a pre-packed (opaque) kernel, always reorders its input to
// oneDNN's blocked layout and its output back: two copies of every activation
// per convolution, 40% of the convolution time of BiT-R50x1 at 128 px. With
// oneDNN's headers (Debian's libdnnl-dev, the library libtorch itself links)
// the convolutions here call oneDNN directly on channels-last (NHWC) tensors,
// which its brgemm kernels read and write as they are: no reorders, the
// kernel reordered once (at packing) into the layout the primitive asks for,
// primitives built once per input shape and kept, inference propagation, and
// the residual add as oneDNN's sum post-op when asked. Without the headers
// the ops fall back to libtorch's opaque kernels (NCHW in and out).
//
// groupNormRelu: GroupNorm (+ ReLU) in two passes over memory, statistics in
// double, for contiguous NCHW and channels-last inputs, parallel with
// at::parallel_for; the loops are plain C++ that the compiler vectorises
// (`omp simd`: the addon builds at -O2, where GCC vectorises only the
// cheapest loops otherwise), cloned for AVX-512, AVX2 and the baseline on
// x86-64.
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>

#ifdef BIT_WITH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BIT_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define BIT_VECTOR_CLONES
#endif

namespace bitnative {
namespace {

using R = Napi::Value;

std::string Dims(at::IntArrayRef d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); i++) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// ---------------------------------------------------------------------------
// GroupNorm + ReLU

// Per-channel sums and sums of squares of `rows` rows of `c` contiguous floats.
BIT_VECTOR_CLONES void ChannelMoments(const float* x, int64_t rows, int64_t c, double* sum, double* sq) {
  for (int64_t r = 0; r < rows; r++) {
    const float* row = x + r * c;
#pragma omp simd
    for (int64_t k = 0; k < c; k++) {
      double v = row[k];
      sum[k] += v;
      sq[k] += v * v;
    }
  }
}

// Sum and sum of squares of n contiguous floats.
BIT_VECTOR_CLONES void PlaneMoments(const float* x, int64_t n, double* sum, double* sq) {
  double s = 0, q = 0;
#pragma omp simd reduction(+ : s, q)
  for (int64_t i = 0; i < n; i++) {
    double v = x[i];
    s += v;
    q += v * v;
  }
  *sum = s;
  *sq = q;
}

// y = x * scale + shift per channel over `rows` rows of `c` channels, ReLU optional.
BIT_VECTOR_CLONES void ApplyChannels(const float* x, float* y, int64_t rows, int64_t c, const float* scale, const float* shift, bool relu) {
  for (int64_t r = 0; r < rows; r++) {
    const float* in = x + r * c;
    float* out = y + r * c;
    if (relu) {
#pragma omp simd
      for (int64_t k = 0; k < c; k++) out[k] = std::max(in[k] * scale[k] + shift[k], 0.0f);
    } else {
#pragma omp simd
      for (int64_t k = 0; k < c; k++) out[k] = in[k] * scale[k] + shift[k];
    }
  }
}

// y = x * scale + shift over n contiguous floats, ReLU optional.
BIT_VECTOR_CLONES void ApplyPlane(const float* x, float* y, int64_t n, float scale, float shift, bool relu) {
  if (relu) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = std::max(x[i] * scale + shift, 0.0f);
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale + shift;
  }
}

// Pixels per task of the channels-last passes.
constexpr int64_t kRowsPerTask = 16;

at::Tensor GroupNormRelu(const at::Tensor& input, int64_t groups, const c10::optional<at::Tensor>& weight,
                         const c10::optional<at::Tensor>& bias, double eps, bool relu) {
  RECORD_FUNCTION("bit::group_norm_relu", std::vector<c10::IValue>());
  if (input.scalar_type() != at::kFloat || input.device().type() != at::kCPU) {
    throw ArgError("x must be a float32 CPU tensor, got " + DtypeName(input.scalar_type()) + " on " + input.device().str());
  }
  if (input.dim() < 2) throw ArgError("x must have a batch and a channel dimension, got shape " + Dims(input.sizes()));
  const int64_t n = input.size(0), c = input.size(1);
  if (groups < 1 || c % groups != 0) {
    throw ArgError("groups (" + std::to_string(groups) + ") must divide the " + std::to_string(c) + " channels");
  }
  for (const auto* p : {&weight, &bias}) {
    if (*p && (p->value().numel() != c || p->value().scalar_type() != at::kFloat)) {
      throw ArgError("weight and bias must be float32 with one value per channel (" + std::to_string(c) + "), got " +
                     Dims(p->value().sizes()));
    }
  }
  if (c10::GradMode::is_enabled() && (input.requires_grad() || (weight && weight->requires_grad()) || (bias && bias->requires_grad()))) {
    throw ArgError("groupNormRelu has no gradient; where gradients are needed use groupNorm then relu");
  }
  const bool channelsLast = input.dim() == 4 && input.size(1) > 1 && input.is_contiguous(at::MemoryFormat::ChannelsLast) &&
                            !input.is_contiguous();
  const at::Tensor x = channelsLast ? input : input.contiguous();
  at::Tensor y = at::empty_like(x, channelsLast ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
  if (x.numel() == 0) return y;
  const int64_t hw = x.numel() / (n * c), cpg = c / groups;
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();

  // Pass 1: per (sample, channel) sums and sums of squares, in double.
  std::vector<double> sum(n * c, 0.0), sq(n * c, 0.0);
  if (channelsLast) {
    // Tasks are (sample, block of kRowsPerTask pixels); each adds its channel sums under a lock-free split:
    // the blocks of one sample are reduced per thread, then merged.
    const int64_t blocks = (hw + kRowsPerTask - 1) / kRowsPerTask;
    const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n * blocks));
    std::vector<double> part(threads * n * c * 2, 0.0);
    at::parallel_for(0, threads, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; t++) {
        // thread slot t takes an equal share of the (sample, block) tasks
        const int64_t total = n * blocks, from = total * t / threads, to = total * (t + 1) / threads;
        double* s = part.data() + t * n * c * 2;
        for (int64_t task = from; task < to; task++) {
          const int64_t b = task / blocks, blk = task % blocks;
          const int64_t r0 = blk * kRowsPerTask, rows = std::min(kRowsPerTask, hw - r0);
          ChannelMoments(xp + (b * hw + r0) * c, rows, c, s + b * c * 2, s + b * c * 2 + c);
        }
      }
    });
    for (int64_t t = 0; t < threads; t++) {
      const double* s = part.data() + t * n * c * 2;
      for (int64_t b = 0; b < n; b++) {
        for (int64_t k = 0; k < c; k++) {
          sum[b * c + k] += s[b * c * 2 + k];
          sq[b * c + k] += s[b * c * 2 + c + k];
        }
      }
    }
  } else {
    at::parallel_for(0, n * c, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; p++) PlaneMoments(xp + p * hw, hw, &sum[p], &sq[p]);
    });
  }

  // Per (sample, channel) scale and shift: gamma * rstd and beta - mean * gamma * rstd.
  std::vector<float> scale(n * c), shift(n * c);
  const at::Tensor wc = weight ? weight->contiguous() : at::Tensor(), bc = bias ? bias->contiguous() : at::Tensor();
  const float* wp = weight ? wc.data_ptr<float>() : nullptr;
  const float* bp = bias ? bc.data_ptr<float>() : nullptr;
  const double count = static_cast<double>(hw * cpg);
  for (int64_t b = 0; b < n; b++) {
    for (int64_t g = 0; g < groups; g++) {
      double s = 0, q = 0;
      for (int64_t k = g * cpg; k < (g + 1) * cpg; k++) {
        s += sum[b * c + k];
        q += sq[b * c + k];
      }
      const double mean = s / count;
      const double var = std::max(q / count - mean * mean, 0.0);
      const double rstd = 1.0 / std::sqrt(var + eps);
      for (int64_t k = g * cpg; k < (g + 1) * cpg; k++) {
        const double a = (wp ? wp[k] : 1.0) * rstd;
        scale[b * c + k] = static_cast<float>(a);
        shift[b * c + k] = static_cast<float>((bp ? bp[k] : 0.0) - mean * a);
      }
    }
  }

  // Pass 2: normalize, scale, shift (and ReLU).
  if (channelsLast) {
    const int64_t blocks = (hw + kRowsPerTask - 1) / kRowsPerTask;
    at::parallel_for(0, n * blocks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t task = t0; task < t1; task++) {
        const int64_t b = task / blocks, r0 = (task % blocks) * kRowsPerTask, rows = std::min(kRowsPerTask, hw - r0);
        const int64_t off = (b * hw + r0) * c;
        ApplyChannels(xp + off, yp + off, rows, c, &scale[b * c], &shift[b * c], relu);
      }
    });
  } else {
    at::parallel_for(0, n * c, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; p++) ApplyPlane(xp + p * hw, yp + p * hw, hw, scale[p], shift[p], relu);
    });
  }
  return y;
}

// ---------------------------------------------------------------------------
// Packed convolutions

struct ConvParams {
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups;
};

ConvParams ReadParams(Args& a, size_t first) {
  ConvParams p{a.ints(first), a.ints(first + 1), a.ints(first + 2), a.i64(first + 3)};
  for (const auto* v : {&p.stride, &p.padding, &p.dilation}) {
    if (v->size() != 2) throw ArgError("stride, padding and dilation must be pairs");
  }
  if (p.groups < 1) throw ArgError("groups must be at least 1, got " + std::to_string(p.groups));
  return p;
}

std::string Describe(const ConvParams& p) {
  return "stride " + Dims(p.stride) + ", padding " + Dims(p.padding) + ", dilation " + Dims(p.dilation) + ", groups " + std::to_string(p.groups);
}

#ifdef BIT_WITH_ONEDNN

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& Engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// How a convolution runs: oneDNN's direct algorithm on the channels-last
// tensors as they are, or its Winograd algorithm (3x3, stride 1), which works
// on a blocked layout: the input and the output are reordered around it.
enum class Algo { kDirect, kWinograd };

// A kernel packed for oneDNN, owned by the storage of the tensor handed to
// JavaScript (its data pointer's context; see PackedOf). `weights` holds the
// kernel in the layout `wdesc` the first primitive asked for; a primitive
// that wants another layout gets its own reordered copy, made from `plain`
// (the OIHW kernel, kept only where the packed layout cannot be reordered
// back: Winograd's).
struct PackedConv {
  int64_t oc, ic, kh, kw;  // OIHW of the whole kernel (ic: per group)
  ConvParams params;
  Algo algo;
  memory::desc wdesc;
  at::Tensor weights;  // bytes
  at::Tensor plain;    // OIHW float32, or undefined
  struct Primitive {
    std::vector<int64_t> key;  // N, H, W, bias, sum, threads
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward conv;
    at::Tensor weights;  // in pd.weights_desc()
    // Where src and dst are not channels-last (Winograd): the reorders in and out (the latter adding to
    // the output when the convolution accumulates).
    c10::optional<dnnl::reorder> in, out;
  };
  std::vector<std::unique_ptr<Primitive>> primitives;
  std::mutex mutex;
};

void DeletePacked(void* ctx) { delete static_cast<PackedConv*>(ctx); }

PackedConv* PackedOf(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage() || t.storage().data_ptr().get_deleter() != &DeletePacked) {
    throw ArgError("packed must be a kernel from packConv2dWeight");
  }
  return static_cast<PackedConv*>(t.storage().data_ptr().get_context());
}

memory::dims WeightDims(const PackedConv& p) {
  const int64_t g = p.params.groups;
  if (g == 1) return {p.oc, p.ic, p.kh, p.kw};
  return {g, p.oc / g, p.ic, p.kh, p.kw};
}

int64_t OutSize(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t d) { return (in + 2 * pad - d * (k - 1) - 1) / s + 1; }

// Winograd for 3x3 stride-1 kernels of at most kWinogradMaxChannels in and
// out channels: 10-15% less convolution time over BiT-R50x1 at batch 8 (its
// 3x3 layers are half its multiply-adds), the same at batch 1, outputs
// within 1e-5 of the direct algorithm's. Its transformed kernel is 4x the
// size of the kernel (and the plain kernel is kept beside it), hence the
// width limit; BIT_CONV_WINOGRAD=0 turns it off.
constexpr int64_t kWinogradMaxChannels = 512;

Algo Choose(const PackedConv& p) {
  const auto& q = p.params;
  const bool eligible = p.kh == 3 && p.kw == 3 && q.stride == std::vector<int64_t>{1, 1} && q.dilation == std::vector<int64_t>{1, 1} &&
                        q.groups == 1 && p.ic % 16 == 0 && p.oc % 16 == 0 && p.ic <= kWinogradMaxChannels && p.oc <= kWinogradMaxChannels;
  static const bool enabled = [] {
    const char* env = std::getenv("BIT_CONV_WINOGRAD");
    return !(env && std::string(env) == "0");
  }();
  return eligible && enabled ? Algo::kWinograd : Algo::kDirect;
}

dnnl::convolution_forward::primitive_desc Describe(const PackedConv& p, Algo algo, int64_t n, int64_t h, int64_t w, bool bias, bool sum) {
  const auto& q = p.params;
  const int64_t oh = OutSize(h, p.kh, q.stride[0], q.padding[0], q.dilation[0]);
  const int64_t ow = OutSize(w, p.kw, q.stride[1], q.padding[1], q.dilation[1]);
  const bool direct = algo == Algo::kDirect;
  const Tag act = direct ? Tag::nhwc : Tag::any;
  memory::desc src({n, p.ic * q.groups, h, w}, memory::data_type::f32, act);
  memory::desc dst({n, p.oc, oh, ow}, memory::data_type::f32, act);
  memory::desc wei(WeightDims(p), memory::data_type::f32, Tag::any);
  memory::dims strides{q.stride[0], q.stride[1]}, dil{q.dilation[0] - 1, q.dilation[1] - 1}, pad{q.padding[0], q.padding[1]};
  const auto prop = dnnl::prop_kind::forward_inference;
  const auto alg = direct ? dnnl::algorithm::convolution_direct : dnnl::algorithm::convolution_winograd;
  auto desc = bias ? dnnl::convolution_forward::desc(prop, alg, src, wei, memory::desc({p.oc}, memory::data_type::f32, Tag::x), dst, strides, dil, pad, pad)
                   : dnnl::convolution_forward::desc(prop, alg, src, wei, dst, strides, dil, pad, pad);
  dnnl::primitive_attr attr;
  if (sum && direct) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  return dnnl::convolution_forward::primitive_desc(desc, attr, Engine());
}

// Describe with `p.algo`, or the direct algorithm where oneDNN has no Winograd kernel for the shape or the CPU.
std::pair<dnnl::convolution_forward::primitive_desc, Algo> DescribeAny(const PackedConv& p, int64_t n, int64_t h, int64_t w, bool bias, bool sum) {
  if (p.algo == Algo::kWinograd) {
    try {
      return {Describe(p, Algo::kWinograd, n, h, w, bias, sum), Algo::kWinograd};
    } catch (const dnnl::error&) {
      // no Winograd implementation here: direct below
    }
  }
  return {Describe(p, Algo::kDirect, n, h, w, bias, sum), Algo::kDirect};
}

// A reorder from layout `from` to `to`; with `sum`, it adds to what the destination holds.
dnnl::reorder MakeReorder(const memory::desc& from, const memory::desc& to, bool sum = false) {
  dnnl::primitive_attr attr;
  if (sum) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  return dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), from, Engine(), to, attr));
}

void Run(dnnl::reorder& r, const memory::desc& from, void* src, const memory::desc& to, void* dst) {
  memory a(from, Engine(), src), b(to, Engine(), dst);
  dnnl::stream s(Engine());
  r.execute(s, a, b);
  s.wait();
}

// Copies `src` (layout `from`) into `dst` (layout `to`).
void Reorder(void* src, const memory::desc& from, void* dst, const memory::desc& to) {
  auto r = MakeReorder(from, to);
  Run(r, from, src, to, dst);
}

at::Tensor Bytes(const memory::desc& d) { return at::empty({static_cast<int64_t>(d.get_size())}, at::TensorOptions().dtype(at::kByte)); }

memory::desc PlainWeights(const PackedConv& p) {
  return memory::desc(WeightDims(p), memory::data_type::f32, p.params.groups == 1 ? Tag::oihw : Tag::goihw);
}

// The kernel in layout `d`: the packed one, another primitive's, or reordered from the packed (or plain) kernel.
at::Tensor WeightsIn(PackedConv& p, const memory::desc& d) {
  if (d == p.wdesc) return p.weights;
  for (auto& o : p.primitives) {
    if (o->pd.weights_desc() == d) return o->weights;
  }
  at::Tensor out = Bytes(d);
  if (p.plain.defined()) {
    Reorder(p.plain.data_ptr(), PlainWeights(p), out.data_ptr(), d);
  } else {
    Reorder(p.weights.data_ptr(), p.wdesc, out.data_ptr(), d);
  }
  return out;
}

at::Tensor Pack(const at::Tensor& weight, const ConvParams& params, const std::vector<int64_t>& inputShape) {
  if (weight.dim() != 4 || weight.scalar_type() != at::kFloat) throw ArgError("weight must be a float32 OIHW kernel, got shape " + Dims(weight.sizes()));
  auto p = std::make_unique<PackedConv>();
  p->oc = weight.size(0);
  p->ic = weight.size(1);
  p->kh = weight.size(2);
  p->kw = weight.size(3);
  p->params = params;
  if (p->oc % params.groups != 0) throw ArgError("groups (" + std::to_string(params.groups) + ") must divide the " + std::to_string(p->oc) + " output channels");
  p->algo = Choose(*p);
  // The layout is chosen for the input shape given (a typical one when none is): oneDNN picks its kernel by shape.
  const int64_t n = inputShape.size() == 4 ? std::max<int64_t>(inputShape[0], 1) : 1;
  const int64_t h = inputShape.size() == 4 ? inputShape[2] : std::max<int64_t>(32, p->kh);
  const int64_t w = inputShape.size() == 4 ? inputShape[3] : std::max<int64_t>(32, p->kw);
  const at::Tensor plain = weight.contiguous();
  const auto described = DescribeAny(*p, n, h, w, false, false);
  p->algo = described.second;
  p->wdesc = described.first.weights_desc();
  p->weights = Bytes(p->wdesc);
  Reorder(plain.data_ptr(), PlainWeights(*p), p->weights.data_ptr(), p->wdesc);
  if (p->algo == Algo::kWinograd) p->plain = plain.clone();
  const int64_t bytes = p->weights.numel();
  void* data = p->weights.data_ptr();
  c10::DataPtr ptr(data, p.release(), &DeletePacked, c10::Device(c10::DeviceType::CPU));
  c10::Storage storage(c10::Storage::use_byte_size_t(), bytes, std::move(ptr), nullptr, false);
  return at::empty({0}, at::kFloat).set_(storage, 0, {bytes / 4}, {1});
}

at::Tensor ConvPacked(const at::Tensor& input, const at::Tensor& packed, const c10::optional<at::Tensor>& bias, const ConvParams& params,
                      const c10::optional<at::Tensor>& accumulate) {
  RECORD_FUNCTION("bit::conv2d_packed", std::vector<c10::IValue>());
  PackedConv* p = PackedOf(packed);
  const auto& q = p->params;
  if (q.stride != params.stride || q.padding != params.padding || q.dilation != params.dilation || q.groups != params.groups) {
    throw ArgError("the kernel was packed for " + Describe(q) + ", got " + Describe(params));
  }
  if (input.dim() != 4 || input.scalar_type() != at::kFloat || input.device().type() != at::kCPU) {
    throw ArgError("x must be a float32 NCHW CPU tensor, got shape " + Dims(input.sizes()) + " " + DtypeName(input.scalar_type()));
  }
  if (input.size(1) != p->ic * q.groups) {
    throw ArgError("x must have " + std::to_string(p->ic * q.groups) + " input channels (kernel [" + std::to_string(p->oc) + ", " +
                   std::to_string(p->ic) + ", " + std::to_string(p->kh) + ", " + std::to_string(p->kw) + "], groups " +
                   std::to_string(q.groups) + "), but got " + std::to_string(input.size(1)) + " (shape " + Dims(input.sizes()) + ")");
  }
  if (bias && (bias->numel() != p->oc || bias->scalar_type() != at::kFloat)) {
    throw ArgError("bias must be float32 with " + std::to_string(p->oc) + " values, got " + Dims(bias->sizes()));
  }
  const int64_t n = input.size(0), h = input.size(2), w = input.size(3);
  const int64_t oh = OutSize(h, p->kh, q.stride[0], q.padding[0], q.dilation[0]);
  const int64_t ow = OutSize(w, p->kw, q.stride[1], q.padding[1], q.dilation[1]);
  if (oh < 1 || ow < 1) throw ArgError("input " + Dims(input.sizes()) + " is smaller than the kernel");
  const std::vector<int64_t> outShape{n, p->oc, oh, ow};
  at::Tensor y;
  if (accumulate) {
    y = *accumulate;
    if (y.sizes() != at::IntArrayRef(outShape) || y.scalar_type() != at::kFloat || !y.is_contiguous(at::MemoryFormat::ChannelsLast)) {
      throw ArgError("accumulate must be a channels-last float32 tensor of the output's shape " + Dims(outShape) + ", got " + Dims(y.sizes()));
    }
  } else {
    y = at::empty(outShape, input.options().memory_format(at::MemoryFormat::ChannelsLast));
  }
  if (n == 0) return y;
  const at::Tensor x = input.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor b = bias ? bias->contiguous() : at::Tensor();

  const memory::desc srcNhwc({n, p->ic * q.groups, h, w}, memory::data_type::f32, Tag::nhwc);
  const memory::desc dstNhwc({n, p->oc, oh, ow}, memory::data_type::f32, Tag::nhwc);
  const std::vector<int64_t> key{n, h, w, bias ? 1 : 0, accumulate ? 1 : 0, at::get_num_threads()};
  PackedConv::Primitive* prim = nullptr;
  {
    std::lock_guard<std::mutex> lock(p->mutex);
    for (auto& e : p->primitives) {
      if (e->key == key) prim = e.get();
    }
    if (!prim) {
      const auto [pd, algo] = DescribeAny(*p, n, h, w, bias.has_value(), accumulate.has_value());
      auto e = std::make_unique<PackedConv::Primitive>(PackedConv::Primitive{key, pd, dnnl::convolution_forward(pd), WeightsIn(*p, pd.weights_desc())});
      if (algo != Algo::kDirect) {
        e->in = MakeReorder(srcNhwc, pd.src_desc());
        e->out = MakeReorder(pd.dst_desc(), dstNhwc, accumulate.has_value());
      }
      p->primitives.push_back(std::move(e));
      prim = p->primitives.back().get();
    }
  }
  auto& eng = Engine();
  const auto& pd = prim->pd;
  at::Tensor srcBlocked, dstBlocked;
  void* src = x.data_ptr();
  void* dst = y.data_ptr();
  if (prim->in) {
    srcBlocked = Bytes(pd.src_desc());
    dstBlocked = Bytes(pd.dst_desc());
    Run(*prim->in, srcNhwc, src, pd.src_desc(), srcBlocked.data_ptr());
    src = srcBlocked.data_ptr();
    dst = dstBlocked.data_ptr();
  }
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(pd.src_desc(), eng, src)},
                                       {DNNL_ARG_WEIGHTS, memory(pd.weights_desc(), eng, prim->weights.data_ptr())},
                                       {DNNL_ARG_DST, memory(pd.dst_desc(), eng, dst)}};
  if (bias) args.emplace(DNNL_ARG_BIAS, memory(pd.bias_desc(), eng, b.data_ptr()));
  dnnl::stream s(eng);
  prim->conv.execute(s, args);
  s.wait();
  if (prim->out) Run(*prim->out, pd.dst_desc(), dst, dstNhwc, y.data_ptr());
  return y;
}

#else  // libtorch's opaque kernels

at::Tensor Pack(const at::Tensor& weight, const ConvParams& params, const std::vector<int64_t>&) {
  return at::mkldnn_reorder_conv2d_weight(weight.contiguous().to_mkldnn(), params.padding, params.stride, params.dilation, params.groups);
}

at::Tensor ConvPacked(const at::Tensor& input, const at::Tensor& packed, const c10::optional<at::Tensor>& bias, const ConvParams& params,
                      const c10::optional<at::Tensor>& accumulate) {
  if (!packed.is_mkldnn()) throw ArgError("packed must be a kernel from packConv2dWeight");
  if (input.dim() != 4 || input.size(1) != packed.size(1) * params.groups) {
    throw ArgError("x must have " + std::to_string(packed.size(1) * params.groups) + " input channels (kernel " + Dims(packed.sizes()) +
                   ", groups " + std::to_string(params.groups) + "), but got shape " + Dims(input.sizes()));
  }
  at::Tensor y = at::mkldnn_convolution(input.contiguous(), packed, bias, params.padding, params.stride, params.dilation, params.groups);
  if (!accumulate) return y;
  accumulate->add_(y);
  return *accumulate;
}

#endif

const std::vector<OpEntry> kInference = {
    {"groupNormRelu", [](Args& a) -> R {
       // x, groups, weight?, bias?, eps, relu
       return Wrap(a.env(), GroupNormRelu(a.t(0), a.i64(1), a.optT(2), a.optT(3), a.f64(4), a.b(5)));
     }},
    {"packConv2dWeight", [](Args& a) -> R {
       // weight OIHW float32, stride, padding, dilation, groups, input shape? -> the kernel in the layout
       // oneDNN's convolution with these parameters reads (chosen for that input shape), so that
       // inference does not reorder the kernel at every call
       std::vector<int64_t> shape = a.isNullish(5) ? std::vector<int64_t>() : a.ints(5);
       return Wrap(a.env(), Pack(a.t(0), ReadParams(a, 1), shape));
     }},
    {"conv2dPacked", [](Args& a) -> R {
       // x, packed, bias?, stride, padding, dilation, groups, accumulate? -> y (written into accumulate
       // when given: accumulate += conv(x) + bias); not differentiable
       return Wrap(a.env(), ConvPacked(a.t(0), a.t(1), a.optT(2), ReadParams(a, 3), a.optT(7)));
     }},
};

}  // namespace

const std::vector<OpEntry>& InferenceOps() { return kInference; }

}  // namespace bitnative
