// C = op(A)·op(B) (+ C) for float32 CPU matrices through oneDNN's sgemm when the libtorch in this
// process links oneDNN as a shared library (Debian's does), else through ATen (mm / addmm_).
//
// Why: ATen sends float32 matrix products to the BLAS it was built with, on Debian the generic
// libblas.so.3, i.e. OpenBLAS. For the LM-head products of distillation — hidden [c, H] against a
// [V, H] head with H of 128-1,024 — oneDNN's sgemm measured 13-25 % faster than OpenBLAS's for the
// logits and the weight gradient, and up to 2x for the input gradient [c, V]·[V, H] (2-core AMD
// EPYC, float32, 2 threads). oneDNN is already loaded (libtorch uses it for bfloat16 and
// convolutions) and runs on ATen's OpenMP threads. Inside a KD step (in-process A/B, same weights):
// the loss-and-heads phase 41-48 -> 36-38 ms at V = 4,096 and the step 848 -> 751 ms at V = 151,936.
// That needs OpenBLAS's workers asleep between calls (OPENBLAS_THREAD_TIMEOUT, native/index.ts):
// with their default busy-wait the same products ran 1.5x slower than OpenBLAS's own.
// gemm records no gradient: its callers are the chunked loss's hand-written head backward and the
// teacher. batchedMatmul (attention's products) is differentiable.
#include "handles.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <dlfcn.h>
#if defined(__linux__)
#include <link.h>
#endif

#include <atomic>
#include <cstring>
#include <string>

namespace distillery {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// dnnl_sgemm from oneDNN's C API (dnnl.h; unchanged from v1 to v3): row-major, returns dnnl_success (0).
using SgemmFunction = int (*)(char transA, char transB, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                              int64_t ldb, float beta, float* c, int64_t ldc);

// Only a oneDNN that is already loaded: the one libtorch itself uses (libdnnl.so.2 beside Debian 12's
// libtorch, libdnnl.so.3.6 beside Debian 13's), found among the process's loaded objects, never a
// second copy. dlsym(RTLD_DEFAULT) cannot see it: Node loads the addon, and so libtorch's
// dependencies, with local symbol scope.
#if defined(__linux__)
int findLoadedOnednn(struct dl_phdr_info* info, size_t, void* found) {
  const char* name = info->dlpi_name;
  if (name && std::strstr(name, "/libdnnl.so")) {
    *static_cast<std::string*>(found) = name;
    return 1;
  }
  return 0;
}
#endif

SgemmFunction onednnSgemm() {
  static const SgemmFunction function = []() -> SgemmFunction {
#if !defined(__linux__)
    return nullptr;  // elsewhere ATen's own BLAS serves every product
#else
    std::string path;
    dl_iterate_phdr(findLoadedOnednn, &path);
    if (path.empty()) return nullptr;
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    return handle ? reinterpret_cast<SgemmFunction>(dlsym(handle, "dnnl_sgemm")) : nullptr;
#endif
  }();
  return function;
}

// oneDNN's sgemm takes float32 CPU matrices, contiguous (row-major) in memory.
bool onednnServesType(const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; }
bool onednnServes(const at::Tensor& t) { return onednnServesType(t) && t.is_contiguous(); }

// gemm(a, b, transposeA, transposeB, accumulate | null): returns op(a)·op(b), or adds it into
// `accumulate` in place (and returns undefined), for 2-D matrices.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  const at::Tensor a = unwrapTensor(info[0], "gemm a");
  const at::Tensor b = unwrapTensor(info[1], "gemm b");
  const bool transposeA = info[2].As<Napi::Boolean>().Value();
  const bool transposeB = info[3].As<Napi::Boolean>().Value();
  const bool accumulate = info.Length() > 4 && !info[4].IsNull() && !info[4].IsUndefined();
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2, "gemm: 2-D matrices expected, got ", a.sizes(), " and ", b.sizes());
  TORCH_CHECK(!torch::autograd::GradMode::is_enabled() || (!a.requires_grad() && !b.requires_grad()), "gemm: records no gradient; call it under no-grad or on detached tensors");
  const at::Tensor opA = transposeA ? a.t() : a;
  const at::Tensor opB = transposeB ? b.t() : b;
  const int64_t m = opA.size(0), k = opA.size(1), n = opB.size(1);
  TORCH_CHECK(opB.size(0) == k, "gemm: inner dimensions differ: ", opA.sizes(), " x ", opB.sizes());
  at::Tensor c = accumulate ? unwrapTensor(info[4], "gemm accumulate") : at::empty({m, n}, a.options());
  TORCH_CHECK(c.dim() == 2 && c.size(0) == m && c.size(1) == n, "gemm: accumulate must be [", m, ", ", n, "], got ", c.sizes());
  const SgemmFunction sgemm = onednnSgemm();
  if (sgemm && onednnServes(a) && onednnServes(b) && onednnServes(c) && m > 0 && n > 0 && k > 0) {
    const int status = sgemm(transposeA ? 'T' : 'N', transposeB ? 'T' : 'N', m, n, k, 1.0f, a.data_ptr<float>(), a.size(1), b.data_ptr<float>(), b.size(1),
                             accumulate ? 1.0f : 0.0f, c.data_ptr<float>(), n);
    TORCH_CHECK(status == 0, "gemm: oneDNN sgemm failed with status ", status);
  } else if (accumulate) {
    c.addmm_(opA, opB);
  } else {
    at::mm_out(c, opA, opB);
  }
  return accumulate ? info.Env().Undefined() : wrapTensor(info.Env(), std::move(c));
}

// op(a[i])·op(b[i]) for every i of contiguous float32 CPU batches [n, rows, cols], through oneDNN's
// sgemm, one matrix of the batch per task on ATen's threads. ATen's bmm multiplies the matrices one
// after another, each across all threads: for attention's many small products (8 sequences × 2
// key/value heads, 256 × 64 by 64 × 128) that ran 2.3x slower (0.89 vs 0.39 ms, same results).
at::Tensor batchedProduct(const at::Tensor& a, const at::Tensor& b, bool transposeA, bool transposeB) {
  const int64_t batch = a.size(0);
  const int64_t m = transposeA ? a.size(2) : a.size(1), k = transposeA ? a.size(1) : a.size(2);
  const int64_t n = transposeB ? b.size(1) : b.size(2);
  TORCH_CHECK(b.size(0) == batch && (transposeB ? b.size(2) : b.size(1)) == k, "batchedMatmul: shapes do not multiply: ", a.sizes(),
              transposeA ? "ᵀ" : "", " x ", b.sizes(), transposeB ? "ᵀ" : "");
  at::Tensor c = at::empty({batch, m, n}, a.options());
  if (m == 0 || n == 0) return c;
  if (k == 0) return c.zero_();
  const SgemmFunction sgemm = onednnSgemm();
  const float* ad = a.data_ptr<float>();
  const float* bd = b.data_ptr<float>();
  float* cd = c.data_ptr<float>();
  std::atomic<int> failed{0};
  at::parallel_for(0, batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int status = sgemm(transposeA ? 'T' : 'N', transposeB ? 'T' : 'N', m, n, k, 1.0f, ad + i * m * k, a.size(2), bd + i * k * n, b.size(2), 0.0f,
                               cd + i * m * n, n);
      if (status != 0) failed = status;
    }
  });
  TORCH_CHECK(failed == 0, "batchedMatmul: oneDNN sgemm failed with status ", failed.load());
  return c;
}

// The same products differentiably: C = op(A)·op(B), so ∂A = ∂C·op(B)ᵀ (transposed back when A was
// used transposed) and ∂B = op(A)ᵀ·∂C (likewise), each again one batched product.
struct BatchedMatmulFunction : public torch::autograd::Function<BatchedMatmulFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b, bool transposeA, bool transposeB) {
    ctx->save_for_backward({a, b});
    ctx->saved_data["transposeA"] = transposeA;
    ctx->saved_data["transposeB"] = transposeB;
    return batchedProduct(a, b, transposeA, transposeB);
  }

  static variable_list backward(AutogradContext* ctx, variable_list gradOutputs) {
    const variable_list saved = ctx->get_saved_variables();
    const at::Tensor& a = saved[0];
    const at::Tensor& b = saved[1];
    const bool transposeA = ctx->saved_data["transposeA"].toBool(), transposeB = ctx->saved_data["transposeB"].toBool();
    const at::Tensor grad = gradOutputs[0].contiguous();
    at::Tensor gradA, gradB;
    if (ctx->needs_input_grad(0))
      gradA = transposeA ? batchedProduct(b, grad, transposeB, true) : batchedProduct(grad, b, false, !transposeB);
    if (ctx->needs_input_grad(1))
      gradB = transposeB ? batchedProduct(grad, a, true, transposeA) : batchedProduct(a, grad, !transposeA, false);
    return {gradA, gradB, at::Tensor(), at::Tensor()};
  }
};

// batchedMatmul(a [..., r, c], b [..., r', c'], transposeA, transposeB) -> op(a)·op(b) over the
// leading (batch) dimensions, which must be equal. Records a gradient like any op.
Napi::Value BatchedMatmul(const Napi::CallbackInfo& info) {
  const at::Tensor a = unwrapTensor(info[0], "batchedMatmul a");
  const at::Tensor b = unwrapTensor(info[1], "batchedMatmul b");
  const bool transposeA = info[2].As<Napi::Boolean>().Value();
  const bool transposeB = info[3].As<Napi::Boolean>().Value();
  TORCH_CHECK(a.dim() >= 3 && a.dim() == b.dim() && a.sizes().slice(0, a.dim() - 2) == b.sizes().slice(0, b.dim() - 2),
              "batchedMatmul: batches of matrices with the same leading dimensions expected, got ", a.sizes(), " and ", b.sizes());
  const at::Tensor opA = transposeA ? a.transpose(-2, -1) : a;
  const at::Tensor opB = transposeB ? b.transpose(-2, -1) : b;
  // Any strides: the operands are made contiguous below.
  if (!onednnSgemm() || !onednnServesType(a) || !onednnServesType(b)) return wrapTensor(info.Env(), at::matmul(opA, opB));
  std::vector<int64_t> outSizes(a.sizes().begin(), a.sizes().end() - 2);
  outSizes.push_back(opA.size(-2));
  outSizes.push_back(opB.size(-1));
  const auto flat = [](const at::Tensor& t) { return t.contiguous().reshape({-1, t.size(-2), t.size(-1)}); };
  return wrapTensor(info.Env(), BatchedMatmulFunction::apply(flat(a), flat(b), transposeA, transposeB).view(outSizes));
}

Napi::Value GemmBackend(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), onednnSgemm() ? "onednn" : "aten"); }

}  // namespace

void registerGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", guardedFunction(env, Gemm));
  exports.Set("gemmBackend", guardedFunction(env, GemmBackend));
  exports.Set("batchedMatmul", guardedFunction(env, BatchedMatmul));
}

}  // namespace distillery
