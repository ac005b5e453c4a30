// CUDA memory figures for the memory plan and the metrics: free and total bytes of a device (the
// budget a run is planned against) and the caching allocator's current and peak allocated bytes
// (what a step used: torch.cuda.max_memory_allocated). Compiled with CUDA only where libtorch has
// it (DISTILLERY_CUDA, set by CMakeLists.txt); elsewhere the functions answer null.
//
// API differences handled: the allocator's statistics struct moved from
// c10::cuda::CUDACachingAllocator (1.x) to c10::CachingDeviceAllocator (2.6); both index
// allocated_bytes by StatType with AGGREGATE = 0, which is used here by value.
#include "handles.h"

#ifdef DISTILLERY_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

namespace distillery {
namespace {

#ifdef DISTILLERY_CUDA
c10::DeviceIndex deviceArg(const Napi::CallbackInfo& info) {
  const int64_t index = info[0].As<Napi::Number>().Int64Value();
  if (index < 0 || index >= c10::cuda::device_count()) throw Napi::RangeError::New(info.Env(), "cuda memory: no CUDA device " + std::to_string(index));
  return static_cast<c10::DeviceIndex>(index);
}

// cudaDeviceMemory(index) → { freeBytes, totalBytes } (cudaMemGetInfo: for planning, not per step).
Napi::Value CudaDeviceMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  c10::cuda::CUDAGuard guard(deviceArg(info));
  size_t freeBytes = 0, totalBytes = 0;
  const cudaError_t status = cudaMemGetInfo(&freeBytes, &totalBytes);
  if (status != cudaSuccess) throw Napi::Error::New(env, std::string("cudaMemGetInfo: ") + cudaGetErrorString(status));
  auto out = Napi::Object::New(env);
  out.Set("freeBytes", static_cast<double>(freeBytes));
  out.Set("totalBytes", static_cast<double>(totalBytes));
  return out;
}

// cudaAllocated(index) → { allocatedBytes, peakAllocatedBytes }: the caching allocator's own counters,
// read without touching the device (no synchronisation), so a training step can report them.
Napi::Value CudaAllocated(const Napi::CallbackInfo& info) {
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(deviceArg(info));
  const auto& aggregate = stats.allocated_bytes[0];
  auto out = Napi::Object::New(info.Env());
  out.Set("allocatedBytes", static_cast<double>(aggregate.current));
  out.Set("peakAllocatedBytes", static_cast<double>(aggregate.peak));
  return out;
}

Napi::Value CudaResetPeak(const Napi::CallbackInfo& info) {
  c10::cuda::CUDACachingAllocator::resetPeakStats(deviceArg(info));
  return info.Env().Undefined();
}
#else
Napi::Value CudaDeviceMemory(const Napi::CallbackInfo& info) { return info.Env().Null(); }
Napi::Value CudaAllocated(const Napi::CallbackInfo& info) { return info.Env().Null(); }
Napi::Value CudaResetPeak(const Napi::CallbackInfo& info) { return info.Env().Undefined(); }
#endif

}  // namespace

void registerCudaMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaDeviceMemory", guardedFunction(env, CudaDeviceMemory));
  exports.Set("cudaAllocated", guardedFunction(env, CudaAllocated));
  exports.Set("cudaResetPeak", guardedFunction(env, CudaResetPeak));
}

}  // namespace distillery
