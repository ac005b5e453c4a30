// Three layers of every Qwen3 decoder block as one CPU kernel each, forward and backward, instead of
// the chains of elementwise ATen kernels that Hugging Face's formulas expand to:
//   RMSNorm:  y = w · to_dtype(x₃₂ · rsqrt(mean(x₃₂²) + ε))            (8 kernels → 1; backward ~12 → 1)
//   rotary:   y = x·cos + rotate_half(x)·sin, rotate_half([x₁, x₂]) = [−x₂, x₁]   (6 → 1; backward ~7 → 1)
//   SwiGLU:   y = silu(g)·u, silu(g) = g·σ(g)   (2 → 1, backward 4 → 1, and two saved [tokens × I]
//             tensors instead of three; float32 with AVX2, where its exp is vectorised)
// On a 2-core CPU each ATen kernel of a [8, 128, 256] activation costs a parallel region and a
// pass over memory; these layers run four and two times per decoder layer, in the teacher's forward
// and the student's forward and backward. The arithmetic is the formulas' own, rounded where they
// round (bfloat16/float16 products are rounded to the dtype as ATen's ops round them), so float32
// results equal the composite ops' but for the order of RMSNorm's sum of squares.
// Both are torch::autograd::Functions: the student's backward runs through them, and under no-grad
// (the teacher) nothing is saved.
#include "handles.h"
#include "vector-math.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <type_traits>
#include <vector>

namespace distillery {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per parallel task: about 16K elements, so small activations stay on one thread (a parallel
// region costs more than the work below that) and large ones split across the cores.
int64_t rowGrain(int64_t width) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, width)); }

// Σ v² over a row in float, in 16 independent lanes so that the compiler vectorises it.
template <typename T>
float sumOfSquares(const T* x, int64_t n) {
  float lanes[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; ++k) {
      const float v = static_cast<float>(x[j + k]);
      lanes[k] += v * v;
    }
  float tail = 0;
  for (; j < n; ++j) tail += static_cast<float>(x[j]) * static_cast<float>(x[j]);
  for (int width = 8; width >= 1; width /= 2)
    for (int k = 0; k < width; ++k) lanes[k] += lanes[k + width];
  return lanes[0] + tail;
}

template <typename T>
void rmsNormForwardRows(const T* x, const T* w, T* y, float* rstd, int64_t rows, int64_t dim, float eps) {
  at::parallel_for(0, rows, rowGrain(dim), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T* xi = x + i * dim;
      T* yi = y + i * dim;
      const float r = 1.0f / std::sqrt(sumOfSquares(xi, dim) / static_cast<float>(dim) + eps);
      rstd[i] = r;
      // w · to_dtype(x·r): the product in float, rounded to T, then the weight's product rounded to T.
#pragma omp simd
      for (int64_t j = 0; j < dim; ++j) yi[j] = narrowTo<T>(widen(w[j]) * widen(narrowTo<T>(widen(xi[j]) * r)));
    }
  });
}

// dx = r·(g − n·mean(g·n)), n = x·r, g = to_float(dy·w) (the gradient reaching the float32 normed
// values through the dtype cast); dw = Σ_rows dy·to_dtype(n), summed per column in double over
// rows in order, so that it does not depend on the thread count.
template <typename T>
void rmsNormBackwardRows(const T* dy, const T* x, const T* w, const float* rstd, T* dx, T* dw, int64_t rows, int64_t dim) {
  at::parallel_for(0, rows, rowGrain(dim), [&](int64_t begin, int64_t end) {
    std::vector<float> g(dim);
    for (int64_t i = begin; i < end; ++i) {
      const T* dyi = dy + i * dim;
      const T* xi = x + i * dim;
      const float r = rstd[i];
      float dot = 0;
      for (int64_t j = 0; j < dim; ++j) {
        g[j] = widen(narrowTo<T>(widen(dyi[j]) * widen(w[j])));
        dot += g[j] * widen(xi[j]) * r;
      }
      const float mean = dot / static_cast<float>(dim);
      T* dxi = dx + i * dim;
#pragma omp simd
      for (int64_t j = 0; j < dim; ++j) dxi[j] = narrowTo<T>(r * (g[j] - widen(xi[j]) * r * mean));
    }
  });
  at::parallel_for(0, dim, 16, [&](int64_t begin, int64_t end) {
    std::vector<double> sums(end - begin, 0.0);
    for (int64_t i = 0; i < rows; ++i) {
      const T* dyi = dy + i * dim;
      const T* xi = x + i * dim;
      const float r = rstd[i];
      for (int64_t j = begin; j < end; ++j) sums[j - begin] += static_cast<double>(widen(dyi[j]) * widen(narrowTo<T>(widen(xi[j]) * r)));
    }
    for (int64_t j = begin; j < end; ++j) dw[j] = static_cast<T>(sums[j - begin]);
  });
}

void checkCpuFloating(const at::Tensor& t, const char* what) {
  TORCH_CHECK(t.device().is_cpu(), what, ": CPU tensors only (got ", t.device(), ")");
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), what, ": floating-point tensors only (got ", t.scalar_type(), ")");
}

struct RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight, double eps) {
    const at::Tensor x = input.contiguous();
    const at::Tensor w = weight.contiguous();
    const int64_t dim = x.size(-1);
    const int64_t rows = dim == 0 ? 0 : x.numel() / dim;
    at::Tensor y = at::empty_like(x, at::MemoryFormat::Contiguous);
    at::Tensor rstd = at::empty({rows}, x.options().dtype(at::kFloat));
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "rmsNorm", [&] {
      rmsNormForwardRows<scalar_t>(x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), rstd.data_ptr<float>(), rows, dim, static_cast<float>(eps));
    });
    ctx->save_for_backward({x, w, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& w = saved[1];
    const at::Tensor& rstd = saved[2];
    const at::Tensor dy = gradOutputs[0].contiguous();
    const int64_t dim = x.size(-1);
    const int64_t rows = dim == 0 ? 0 : x.numel() / dim;
    at::Tensor dx = at::empty_like(x, at::MemoryFormat::Contiguous);
    at::Tensor dw = at::empty_like(w, at::MemoryFormat::Contiguous);
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "rmsNormBackward", [&] {
      rmsNormBackwardRows<scalar_t>(dy.data_ptr<scalar_t>(), x.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), rstd.data_ptr<float>(), dx.data_ptr<scalar_t>(), dw.data_ptr<scalar_t>(), rows, dim);
    });
    return {dx, dw, at::Tensor()};
  }
};

// Rotary rows: y₁ = x₁·c₁ − x₂·s₁, y₂ = x₂·c₂ + x₁·s₂ over the two halves of each head row,
// each product and the sum rounded to T as mul/add/neg round them. `inverse` gives the backward:
// dx₁ = dy₁·c₁ + dy₂·s₂, dx₂ = dy₂·c₂ − dy₁·s₁.
// (In float for the 16- and 32-bit types, in double for float64, as ATen computes each.)
template <typename T>
DISTILLERY_VECTOR_CLONES void rotaryRow(const T* __restrict x, const T* __restrict c, const T* __restrict s, T* __restrict y, int64_t half, bool inverse) {
  // To and from the accumulation type: bf16 through its bits (widen/narrowTo), so that the loops vectorise.
  using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const auto load = [](T v) -> Acc { if constexpr (std::is_same_v<T, double>) return v; else return widen(v); };
  const auto store = [](Acc v) -> T { if constexpr (std::is_same_v<T, double>) return v; else return narrowTo<T>(v); };
  const auto round = [&](Acc v) { return load(store(v)); };
  if (!inverse) {
#pragma omp simd
    for (int64_t j = 0; j < half; ++j) {
      const Acc x1 = load(x[j]), x2 = load(x[j + half]);
      y[j] = store(round(x1 * load(c[j])) + round(-x2 * load(s[j])));
      y[j + half] = store(round(x2 * load(c[j + half])) + round(x1 * load(s[j + half])));
    }
  } else {
#pragma omp simd
    for (int64_t j = 0; j < half; ++j) {
      const Acc x1 = load(x[j]), x2 = load(x[j + half]);
      y[j] = store(round(x1 * load(c[j])) + round(x2 * load(s[j + half])));
      y[j + half] = store(round(x2 * load(c[j + half])) + round(-x1 * load(s[j])));
    }
  }
}

// x [B, H, T, D] with any strides but a unit last one; cos/sin [B or 1, T, D] contiguous.
// Returns a contiguous [B, H, T, D] (the attention matmuls read it as a batch of matrices).
at::Tensor rotaryApply(const at::Tensor& input, const at::Tensor& cos, const at::Tensor& sin, bool inverse) {
  const at::Tensor x = input.stride(-1) == 1 ? input : input.contiguous();
  const int64_t batch = x.size(0), heads = x.size(1), length = x.size(2), dim = x.size(3), half = dim / 2;
  const int64_t sb = x.stride(0), sh = x.stride(1), st = x.stride(2);
  const int64_t tableRowsPerBatch = cos.size(0) == 1 ? 0 : length * dim;
  at::Tensor y = at::empty({batch, heads, length, dim}, x.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "rotary", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* cp = cos.data_ptr<scalar_t>();
    const scalar_t* sp = sin.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    at::parallel_for(0, batch * heads * length, rowGrain(dim), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t t = row % length, h = (row / length) % heads, b = row / (length * heads);
        const int64_t table = b * tableRowsPerBatch + t * dim;
        rotaryRow<scalar_t>(xp + b * sb + h * sh + t * st, cp + table, sp + table, yp + row * dim, half, inverse);
      }
    });
  });
  return y;
}

struct RotaryFunction : public torch::autograd::Function<RotaryFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    return rotaryApply(x, cos, sin, false);
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    const variable_list saved = ctx->get_saved_variables();
    return {rotaryApply(gradOutputs[0], saved[0], saved[1], true), at::Tensor(), at::Tensor()};
  }
};

// SwiGLU over n float32 values: y = silu(g)·u, and its backward
//   du = dy·silu(g),  dg = dy·u·σ(g)·(1 + g·(1 − σ(g))).
// σ(g) = 1 / (1 + exp(−g)), as ATen's silu computes it.
void swigluForwardPlain(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void swigluBackwardPlain(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float sigma = 1.0f / (1.0f + std::exp(-g[i]));
    du[i] = dy[i] * (g[i] * sigma);
    dg[i] = dy[i] * u[i] * (sigma * (1.0f + g[i] * (1.0f - sigma)));
  }
}

#ifdef DISTILLERY_AVX2
AVX2_FMA void swigluForwardAvx2(const float* g, const float* u, float* y, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i);
    const __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, gv))));
    _mm256_storeu_ps(y + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
  }
  swigluForwardPlain(g + i, u + i, y + i, n - i);
}

AVX2_FMA void swigluBackwardAvx2(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i), dyv = _mm256_loadu_ps(dy + i);
    const __m256 sigma = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, gv))));
    _mm256_storeu_ps(du + i, _mm256_mul_ps(dyv, _mm256_mul_ps(gv, sigma)));
    const __m256 slope = _mm256_mul_ps(sigma, _mm256_add_ps(one, _mm256_mul_ps(gv, _mm256_sub_ps(one, sigma))));
    _mm256_storeu_ps(dg + i, _mm256_mul_ps(_mm256_mul_ps(dyv, _mm256_loadu_ps(u + i)), slope));
  }
  swigluBackwardPlain(dy + i, g + i, u + i, dg + i, du + i, n - i);
}
#endif

// Elements per parallel task: exp makes each element cost several times a plain elementwise op.
constexpr int64_t kSwigluGrain = 8192;

struct SwigluFunction : public torch::autograd::Function<SwigluFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up, bool plainLoop) {
    const at::Tensor g = gate.contiguous(), u = up.contiguous();
    at::Tensor y = at::empty_like(g, at::MemoryFormat::Contiguous);
    const float *gp = g.data_ptr<float>(), *up_ = u.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    const bool vectorised = hasAvx2() && !plainLoop;
    at::parallel_for(0, g.numel(), kSwigluGrain, [&](int64_t begin, int64_t end) {
#ifdef DISTILLERY_AVX2
      if (vectorised) return swigluForwardAvx2(gp + begin, up_ + begin, yp + begin, end - begin);
#endif
      swigluForwardPlain(gp + begin, up_ + begin, yp + begin, end - begin);
    });
    (void)vectorised;
    ctx->save_for_backward({g, u});
    ctx->saved_data["plainLoop"] = plainLoop;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& g = saved[0];
    const at::Tensor& u = saved[1];
    const at::Tensor dy = gradOutputs[0].contiguous();
    at::Tensor dg = at::empty_like(g), du = at::empty_like(u);
    const float *dyp = dy.data_ptr<float>(), *gp = g.data_ptr<float>(), *up_ = u.data_ptr<float>();
    float *dgp = dg.data_ptr<float>(), *dup = du.data_ptr<float>();
    const bool vectorised = hasAvx2() && !ctx->saved_data["plainLoop"].toBool();
    at::parallel_for(0, g.numel(), kSwigluGrain, [&](int64_t begin, int64_t end) {
#ifdef DISTILLERY_AVX2
      if (vectorised) return swigluBackwardAvx2(dyp + begin, gp + begin, up_ + begin, dgp + begin, dup + begin, end - begin);
#endif
      swigluBackwardPlain(dyp + begin, gp + begin, up_ + begin, dgp + begin, dup + begin, end - begin);
    });
    (void)vectorised;
    return {dg, du, at::Tensor()};
  }
};

// rmsNorm(x [..., D], weight [D], eps) → [..., D] in x's dtype.
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  const at::Tensor x = unwrapTensor(info[0], "rmsNorm input");
  const at::Tensor w = unwrapTensor(info[1], "rmsNorm weight");
  const double eps = info[2].As<Napi::Number>().DoubleValue();
  checkCpuFloating(x, "rmsNorm input");
  checkCpuFloating(w, "rmsNorm weight");
  TORCH_CHECK(x.dim() >= 1 && w.dim() == 1 && w.size(0) == x.size(-1), "rmsNorm: weight [", x.size(-1), "] expected for input ", x.sizes(), ", got ", w.sizes());
  TORCH_CHECK(w.scalar_type() == x.scalar_type(), "rmsNorm: weight dtype ", w.scalar_type(), " differs from input dtype ", x.scalar_type());
  TORCH_CHECK(eps >= 0, "rmsNorm: eps must be >= 0");
  return wrapTensor(info.Env(), RmsNormFunction::apply(x, w, eps));
}

// rotary(x [B, H, T, D], cos [B|1, T, D], sin [B|1, T, D]) → contiguous [B, H, T, D].
Napi::Value Rotary(const Napi::CallbackInfo& info) {
  const at::Tensor x = unwrapTensor(info[0], "rotary input");
  const at::Tensor cos = unwrapTensor(info[1], "rotary cos").contiguous();
  const at::Tensor sin = unwrapTensor(info[2], "rotary sin").contiguous();
  checkCpuFloating(x, "rotary input");
  TORCH_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "rotary: input [B, H, T, D] with an even D expected, got ", x.sizes());
  for (const at::Tensor* table : {&cos, &sin}) {
    checkCpuFloating(*table, "rotary cos/sin");
    TORCH_CHECK(table->dim() == 3 && (table->size(0) == 1 || table->size(0) == x.size(0)) && table->size(1) == x.size(2) && table->size(2) == x.size(3),
                "rotary: cos/sin [", x.size(0), " or 1, ", x.size(2), ", ", x.size(3), "] expected, got ", table->sizes());
    TORCH_CHECK(table->scalar_type() == x.scalar_type(), "rotary: cos/sin dtype ", table->scalar_type(), " differs from input dtype ", x.scalar_type());
  }
  return wrapTensor(info.Env(), RotaryFunction::apply(x, cos, sin));
}

// swiglu(gate [..., I], up [..., I] float32, plainLoop?) → silu(gate)·up.
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  const at::Tensor gate = unwrapTensor(info[0], "swiglu gate");
  const at::Tensor up = unwrapTensor(info[1], "swiglu up");
  const bool plainLoop = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  for (const at::Tensor* t : {&gate, &up}) {
    checkCpuFloating(*t, "swiglu");
    TORCH_CHECK(t->scalar_type() == at::kFloat, "swiglu: float32 tensors only (got ", t->scalar_type(), ")");
  }
  TORCH_CHECK(gate.sizes() == up.sizes(), "swiglu: gate ", gate.sizes(), " and up ", up.sizes(), " differ in shape");
  return wrapTensor(info.Env(), SwigluFunction::apply(gate, up, plainLoop));
}

// Whether the fused kernels' vectorised loops run here (kd-loss.cpp's and SwiGLU's: x86-64 with AVX2 and FMA).
Napi::Value KernelsVectorised(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), hasAvx2()); }

}  // namespace

void registerFusedLayers(Napi::Env env, Napi::Object exports) {
  exports.Set("rmsNorm", guardedFunction(env, RmsNorm));
  exports.Set("rotary", guardedFunction(env, Rotary));
  exports.Set("swiglu", guardedFunction(env, Swiglu));
  exports.Set("kernelsVectorised", guardedFunction(env, KernelsVectorised));
}

}  // namespace distillery
