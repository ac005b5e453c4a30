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
// No autograd: the callers are the chunked loss's hand-written head backward and the teacher.
#include "handles.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <dlfcn.h>
#if defined(__linux__)
#include <link.h>
#endif

#include <cstring>
#include <string>

namespace distillery {
namespace {

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

bool onednnServes(const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(); }

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

Napi::Value GemmBackend(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), onednnSgemm() ? "onednn" : "aten"); }

}  // namespace

void registerGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", guardedFunction(env, Gemm));
  exports.Set("gemmBackend", guardedFunction(env, GemmBackend));
}

}  // namespace distillery
