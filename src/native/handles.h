// Shared between the addon's translation units: how a libtorch tensor lives inside a JS value,
// and how C++ exceptions become JS exceptions. Kept narrow on purpose: every .cpp that includes
// heavy libtorch headers costs ~10-20 s of compile time on a 2-core machine.
#pragma once

#define NAPI_VERSION 8
#include <napi.h>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include <exception>
#include <string>
#include <vector>

namespace distillery {

// Wraps a tensor into a fresh JS handle (a type-tagged External). Every handle is counted in the
// live-tensor statistics and its storage is reported to V8 as external memory until released.
Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor);

// The tensor behind a JS handle. Throws a JS TypeError naming `what` when the value is not a
// tensor handle, or when the handle was already disposed.
at::Tensor& unwrapTensor(const Napi::Value& value, const char* what);
bool isTensorHandle(const Napi::Value& value);
// The tensors of a JS array of handles; errors name `what`.
std::vector<at::Tensor> tensorList(const Napi::Value& value, const char* what);

Napi::Value wrapGenerator(Napi::Env env, at::Generator generator);
at::Generator& unwrapGenerator(const Napi::Value& value, const char* what);

// Runs `body`, turning libtorch and standard exceptions into JS exceptions that carry libtorch's
// own message (without its C++ backtrace), so no error from native code ever crashes the process.
template <typename Body>
Napi::Value guarded(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// Exposes `callback` to JS with every C++ exception (libtorch's included) converted to a JS
// exception: node-addon-api itself only converts Napi::Error, and anything else would terminate.
using Callback = Napi::Value (*)(const Napi::CallbackInfo&);
inline Napi::Function guardedFunction(Napi::Env env, Callback callback) {
  return Napi::Function::New(env, [callback](const Napi::CallbackInfo& info) -> Napi::Value {
    return guarded(info.Env(), [&]() -> Napi::Value { return callback(info); });
  });
}

// Registration hooks, one per translation unit.
void registerRuntime(Napi::Env env, Napi::Object exports);
void registerOps(Napi::Env env, Napi::Object exports);
void registerOptim(Napi::Env env, Napi::Object exports);
void registerDistributed(Napi::Env env, Napi::Object exports);
void registerCudaMemory(Napi::Env env, Napi::Object exports);
void registerKdLoss(Napi::Env env, Napi::Object exports);
void registerFusedLayers(Napi::Env env, Napi::Object exports);
void registerGemm(Napi::Env env, Napi::Object exports);

// Keeps freed CPU blocks of 1 MiB and more for reuse (on), or unmaps them at once (off): cpu-block-cache.cpp.
void setCpuBlockCaching(bool on);
// Bytes of CPU blocks (>= 1 MiB) in use, the most ever in use, kept for reuse, and the most in use
// since resetCpuBlockPeak(): how the memory plan's estimates are checked against what ran; and
// every byte ever mapped fresh (what a warm step should no longer add to).
struct CpuBlockStats {
  size_t liveBytes;
  size_t peakLiveBytes;
  size_t cachedBytes;
  size_t windowPeakBytes;
  size_t totalMappedBytes;
};
CpuBlockStats cpuBlockStats();
void resetCpuBlockPeak();

}  // namespace distillery
