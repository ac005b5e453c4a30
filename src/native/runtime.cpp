// Tensor handles and everything about a tensor that is not an ATen operator: creation from and
// copy to JS memory, metadata, autograd entry points, grad mode, seeding, threads, devices, and the
// live-tensor statistics that prove a training loop runs in flat memory.
#include "handles.h"

#include <algorithm>
#include <cstdlib>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/GradMode.h>
#include <c10/util/Logging.h>
#include <torch/version.h>

#include <cerrno>
#include <cstring>
#include <unistd.h>
#include <mutex>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <unordered_map>

namespace distillery {
namespace {

constexpr napi_type_tag kTensorTag = {0x64697374696c6c65ULL, 0x7279746e736f7231ULL};
constexpr napi_type_tag kGeneratorTag = {0x64697374696c6c65ULL, 0x727967656e657231ULL};

// ---- live-tensor accounting -------------------------------------------------------------------
// Views share storage, so bytes are counted once per storage, not once per handle.
struct StorageUse {
  int64_t handles = 0;
  int64_t bytes = 0;
};
std::unordered_map<const void*, StorageUse> gStorages;
int64_t gLiveHandles = 0;
int64_t gLiveBytes = 0;
int64_t gLiveCpuBytes = 0;

// V8 is told how much CPU memory live tensor handles hold (so a program that forgets to dispose
// tensors still gets collected under pressure), but in coarse steps: it runs a full mark-compact
// whenever external memory has grown 64 MB past the last one, and a training step's activations
// grow by gigabytes and are then disposed deterministically — a forward pass of Qwen3-0.6B over 512
// tokens triggered ~30 full collections, whose concurrent marking took a core from the matrix
// products (the forward ran ~12 % slower). The figure V8 holds is updated when the live bytes have
// moved by more than half of it (at least 256 MiB): within a factor of 1.5 of the truth, it reacts
// to real growth, such as leaked handles, and not to a step's transient memory.
constexpr int64_t kMinExternalStep = int64_t{256} << 20;
int64_t gReportedCpuBytes = 0;

void reportExternalMemory(Napi::Env env) {
  const int64_t change = gLiveCpuBytes - gReportedCpuBytes;
  if (std::llabs(change) <= std::max(kMinExternalStep, gReportedCpuBytes / 2)) return;
  Napi::MemoryManagement::AdjustExternalMemory(env, change);
  gReportedCpuBytes = gLiveCpuBytes;
}

struct TensorHolder {
  at::Tensor tensor;
  const void* storageKey = nullptr;
  bool cpu = true;
};

void account(Napi::Env env, TensorHolder& holder) {
  gLiveHandles++;
  const at::Tensor& t = holder.tensor;
  if (!t.defined() || !t.has_storage()) return;
  holder.storageKey = t.storage().unsafeGetStorageImpl();
  holder.cpu = t.device().is_cpu();
  StorageUse& use = gStorages[holder.storageKey];
  if (use.handles++ == 0) {
    use.bytes = static_cast<int64_t>(t.storage().nbytes());
    gLiveBytes += use.bytes;
    if (holder.cpu) {
      gLiveCpuBytes += use.bytes;
      reportExternalMemory(env);
    }
  }
}

void unaccount(Napi::Env env, TensorHolder& holder) {
  gLiveHandles--;
  if (holder.storageKey == nullptr) return;
  auto it = gStorages.find(holder.storageKey);
  if (it != gStorages.end() && --it->second.handles == 0) {
    gLiveBytes -= it->second.bytes;
    if (holder.cpu) {
      gLiveCpuBytes -= it->second.bytes;
      reportExternalMemory(env);
    }
    gStorages.erase(it);
  }
  holder.storageKey = nullptr;
}

// Explicit disposal resets the tensor; the finalizer (a safety net for handles the JS side
// forgot) only releases what is still held.
void release(Napi::Env env, TensorHolder& holder) {
  if (!holder.tensor.defined() && holder.storageKey == nullptr) return;
  unaccount(env, holder);
  holder.tensor.reset();
}

TensorHolder* holderOf(const Napi::Value& value) {
  if (!value.IsExternal()) return nullptr;
  auto ext = value.As<Napi::External<TensorHolder>>();
  bool tagged = false;
  if (napi_check_object_type_tag(value.Env(), ext, &kTensorTag, &tagged) != napi_ok || !tagged) return nullptr;
  return ext.Data();
}

// ---- dtype / device helpers ---------------------------------------------------------------------
at::ScalarType scalarTypeArg(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a dtype code");
  return static_cast<at::ScalarType>(v.As<Napi::Number>().Int32Value());
}

std::vector<int64_t> shapeArg(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> shape(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value d = arr.Get(i);
    if (!d.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be an array of integers");
    shape[i] = d.As<Napi::Number>().Int64Value();
  }
  return shape;
}

Napi::Array shapeToJs(Napi::Env env, at::IntArrayRef sizes) {
  auto out = Napi::Array::New(env, sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) out.Set(i, Napi::Number::New(env, static_cast<double>(sizes[i])));
  return out;
}

// ---- exported functions -------------------------------------------------------------------------
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  TensorHolder* holder = holderOf(info[0]);
  if (holder == nullptr) throw Napi::TypeError::New(info.Env(), "dispose: argument is not a tensor handle");
  release(info.Env(), *holder);
  return info.Env().Undefined();
}

Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  TensorHolder* holder = holderOf(info[0]);
  return Napi::Boolean::New(info.Env(), holder == nullptr || !holder->tensor.defined());
}

// fromBuffer(bytes: ArrayBufferView, dtype, shape, device?) copies host bytes into a new tensor.
Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() && !info[0].IsDataView() && !info[0].IsArrayBuffer())
    throw Napi::TypeError::New(env, "fromBuffer: data must be a TypedArray, Buffer or ArrayBuffer");
  const uint8_t* data;
  size_t length;
  if (info[0].IsArrayBuffer()) {
    auto ab = info[0].As<Napi::ArrayBuffer>();
    data = static_cast<const uint8_t*>(ab.Data());
    length = ab.ByteLength();
  } else if (info[0].IsTypedArray()) {
    auto ta = info[0].As<Napi::TypedArray>();
    data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    length = ta.ByteLength();
  } else {
    auto dv = info[0].As<Napi::DataView>();
    data = static_cast<const uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    length = dv.ByteLength();
  }
  at::ScalarType dtype = scalarTypeArg(info[1], "fromBuffer: dtype");
  std::vector<int64_t> shape = shapeArg(info[2], "fromBuffer: shape");
  c10::Device device(at::kCPU);
  if (info.Length() > 3 && info[3].IsString()) device = c10::Device(info[3].As<Napi::String>().Utf8Value());
  // For a GPU the bytes are staged in pinned (page-locked) host memory and copied without waiting:
  // a copy from pageable memory makes the host wait for the device. libtorch's caching host
  // allocator keeps the staging block until the copy has run, so it may be released at once.
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype).pinned_memory(device.is_cuda()));
  size_t expected = t.nbytes();
  if (expected != length)
    throw Napi::RangeError::New(env, "fromBuffer: " + std::to_string(length) + " bytes given but shape " +
                                         c10::str(t.sizes()) + " of " + c10::toString(dtype) + " needs " +
                                         std::to_string(expected));
  if (length > 0) std::memcpy(t.data_ptr(), data, length);
  if (!device.is_cpu()) t = t.to(device, /*non_blocking=*/device.is_cuda());
  return wrapTensor(env, std::move(t));
}

// readFile(fd, position, length, dtype, shape) reads `length` bytes of an open file straight into
// a new CPU tensor's storage. Loading checkpoints through JavaScript Buffers left the glibc heap
// holding the largest tensors' bytes after they were freed (Distillery keeps freed heap memory for
// reuse), resident for the rest of the run (the README's memory section gives what this saved at
// Qwen3-4B's size). Bounds are the caller's (the safetensors reader checks every offset against
// the file).
Napi::Value ReadFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const int64_t position = info[1].As<Napi::Number>().Int64Value();
  const int64_t length = info[2].As<Napi::Number>().Int64Value();
  at::ScalarType dtype = scalarTypeArg(info[3], "readFile: dtype");
  std::vector<int64_t> shape = shapeArg(info[4], "readFile: shape");
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (position < 0 || length != static_cast<int64_t>(t.nbytes()))
    throw Napi::RangeError::New(env, "readFile: " + std::to_string(length) + " bytes at " + std::to_string(position) + " for shape " +
                                         c10::str(t.sizes()) + " of " + c10::toString(dtype) + ", which needs " + std::to_string(t.nbytes()));
  auto* out = static_cast<char*>(t.data_ptr());
  int64_t done = 0;
  while (done < length) {
    const ssize_t n = pread(fd, out + done, static_cast<size_t>(length - done), position + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Napi::Error::New(env, std::string("readFile: ") + std::strerror(errno));
    if (n == 0) throw Napi::RangeError::New(env, "readFile: the file ended after " + std::to_string(position + done) + " bytes");
    done += n;
  }
  return wrapTensor(env, std::move(t));
}

// writeFile(fd, tensor) writes the tensor's elements (row-major, host byte order) at the file's
// current position, straight from its storage; returns the bytes written. Saving a checkpoint through
// JavaScript Buffers copied every tensor into the glibc heap, which keeps freed memory for reuse:
// a checkpoint of the student's weights and AdamW state raised the run's peak.
Napi::Value WriteFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = info[0].As<Napi::Number>().Int32Value();
  at::Tensor t = unwrapTensor(info[1], "writeFile: tensor").detach();
  if (!t.device().is_cpu()) t = t.to(at::kCPU);
  t = t.contiguous();
  const auto* data = static_cast<const char*>(t.data_ptr());
  const int64_t length = static_cast<int64_t>(t.nbytes());
  int64_t done = 0;
  while (done < length) {
    const ssize_t n = write(fd, data + done, static_cast<size_t>(length - done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Napi::Error::New(env, std::string("writeFile: ") + std::strerror(errno));
    done += n;
  }
  return Napi::Number::New(env, static_cast<double>(done));
}

// toBuffer(tensor) copies the tensor's elements (row-major, host byte order) into a new Buffer.
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor t = unwrapTensor(info[0], "toBuffer: tensor").detach();
  if (!t.device().is_cpu()) t = t.to(at::kCPU);
  t = t.contiguous();
  return Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(t.data_ptr()), t.nbytes());
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  return shapeToJs(info.Env(), unwrapTensor(info[0], "shape: tensor").sizes());
}
Napi::Value Strides(const Napi::CallbackInfo& info) {
  return shapeToJs(info.Env(), unwrapTensor(info[0], "strides: tensor").strides());
}
Napi::Value DType(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<int>(unwrapTensor(info[0], "dtype: tensor").scalar_type()));
}
Napi::Value Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), unwrapTensor(info[0], "device: tensor").device().str());
}
Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), unwrapTensor(info[0], "requiresGrad: tensor").requires_grad());
}
Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), unwrapTensor(info[0], "isLeaf: tensor").is_leaf());
}
Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  unwrapTensor(info[0], "setRequiresGrad: tensor").requires_grad_(info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

// grad(tensor) returns a new handle on the accumulated gradient, or null when there is none.
Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& g = unwrapTensor(info[0], "grad: tensor").grad();
  return g.defined() ? wrapTensor(env, g) : env.Null();
}

// setGrad(tensor, grad | null) replaces (or clears) the accumulated gradient.
Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = unwrapTensor(info[0], "setGrad: tensor");
  if (info[1].IsNull() || info[1].IsUndefined()) {
    t.mutable_grad() = at::Tensor();
    return env.Undefined();
  }
  const at::Tensor& grad = unwrapTensor(info[1], "setGrad: grad");
  // The same checks as PyTorch's `tensor.grad = ...`: libtorch's C++ setter makes none.
  if (!grad.sizes().equals(t.sizes()) || grad.scalar_type() != t.scalar_type() || grad.device() != t.device())
    throw Napi::Error::New(env, "setGrad: assigned grad of shape " + c10::str(grad.sizes()) + ", " + c10::toString(grad.scalar_type()) +
                                    " on " + grad.device().str() + " does not match the tensor's shape " + c10::str(t.sizes()) +
                                    ", " + c10::toString(t.scalar_type()) + " on " + t.device().str());
  t.mutable_grad() = grad;
  return env.Undefined();
}

// backward(tensor, grad?, retainGraph?) accumulates gradients into the graph's leaves.
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor& t = unwrapTensor(info[0], "backward: tensor");
  at::Tensor grad;
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) grad = unwrapTensor(info[1], "backward: gradient");
  c10::optional<bool> retain;
  if (info.Length() > 2 && info[2].IsBoolean()) retain = info[2].As<Napi::Boolean>().Value();
  t.backward(grad, retain, false);
  return env.Undefined();
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  c10::GradMode::set_enabled(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

bool cudaAvailable() { return at::globalContext().hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0; }

// manualSeed(seed) seeds the default generators of every device, as torch.manual_seed does.
Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(seed);
  }
  if (cudaAvailable()) {
    for (int i = 0; i < at::detail::getCUDAHooks().getNumGPUs(); i++) {
      // Context::defaultGenerator exists in 1.13 and 2.x (the CUDA hooks' getter was renamed in 2.x).
      at::Generator gen = at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i)));
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(seed);
    }
  }
  return env.Undefined();
}

// createGenerator(seed) makes an independent CPU generator for reproducible sampling.
Napi::Value CreateGenerator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  return wrapGenerator(env, at::make_generator<at::CPUGeneratorImpl>(seed));
}

at::Generator generatorOrDefault(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return at::detail::getDefaultCPUGenerator();
  return unwrapGenerator(v, "generator");
}

// getRngState(generator?) / setRngState(state, generator?): the byte state a checkpoint saves.
Napi::Value GetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Generator gen = generatorOrDefault(info[0]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return wrapTensor(env, gen.get_state());
}
Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& state = unwrapTensor(info[0], "setRngState: state");
  at::Generator gen = generatorOrDefault(info[1]);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
  return env.Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  at::set_num_threads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("torchVersionMajor", TORCH_VERSION_MAJOR);
  out.Set("torchVersionMinor", TORCH_VERSION_MINOR);
  out.Set("numThreads", at::get_num_threads());
  out.Set("numInteropThreads", at::get_num_interop_threads());
  out.Set("cudaAvailable", cudaAvailable());
  out.Set("cudaDeviceCount", cudaAvailable() ? at::detail::getCUDAHooks().getNumGPUs() : 0);
  out.Set("buildConfig", at::show_config());
  out.Set("parallelInfo", at::get_parallel_info());
  return out;
}

// Large CPU tensors (logits over a 150k vocabulary are tens of MB) are allocated and freed every
// step. glibc serves such blocks with fresh mmaps and unmaps them on free, so every step pays a page
// fault per 4 KB on first touch, which can cost more than the arithmetic itself (the README's
// Performance notes and `bench ops` give the figure). Keeping freed memory in the heap lets
// libtorch reuse it, as PyTorch's CUDA caching allocator does on GPUs.
// setAllocatorCaching(true|false) switches between that and glibc's defaults; returns whether supported.
Napi::Value SetAllocatorCaching(const Napi::CallbackInfo& info) {
  bool on = info[0].ToBoolean().Value();
  setCpuBlockCaching(on);
#if defined(__GLIBC__)
  if (on) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT32_MAX);
  } else {
    mallopt(M_MMAP_MAX, 65536);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    malloc_trim(0);  // give back what caching kept
  }
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("liveTensors", static_cast<double>(gLiveHandles));
  out.Set("liveBytes", static_cast<double>(gLiveBytes));
  out.Set("liveStorages", static_cast<double>(gStorages.size()));
  const CpuBlockStats blocks = cpuBlockStats();
  out.Set("cpuBlockLiveBytes", static_cast<double>(blocks.liveBytes));
  out.Set("cpuBlockPeakBytes", static_cast<double>(blocks.windowPeakBytes));
  out.Set("cpuBlockCachedBytes", static_cast<double>(blocks.cachedBytes));
  out.Set("cpuBlockMappedBytes", static_cast<double>(blocks.totalMappedBytes));
  return out;
}

Napi::Value ResetCpuBlockPeak(const Napi::CallbackInfo& info) {
  resetCpuBlockPeak();
  return info.Env().Undefined();
}

}  // namespace

Napi::Value wrapTensor(Napi::Env env, at::Tensor tensor) {
  auto* holder = new TensorHolder{std::move(tensor)};
  account(env, *holder);
  auto ext = Napi::External<TensorHolder>::New(env, holder, [](Napi::Env env, TensorHolder* h) {
    release(env, *h);
    delete h;
  });
  napi_type_tag_object(env, ext, &kTensorTag);
  return ext;
}

bool isTensorHandle(const Napi::Value& value) { return holderOf(value) != nullptr; }

at::Tensor& unwrapTensor(const Napi::Value& value, const char* what) {
  TensorHolder* holder = holderOf(value);
  if (holder == nullptr) throw Napi::TypeError::New(value.Env(), std::string(what) + " is not a tensor");
  if (!holder->tensor.defined())
    throw Napi::Error::New(value.Env(), std::string(what) + " was already disposed");
  return holder->tensor;
}

Napi::Value wrapGenerator(Napi::Env env, at::Generator generator) {
  auto ext = Napi::External<at::Generator>::New(env, new at::Generator(std::move(generator)),
                                                [](Napi::Env, at::Generator* g) { delete g; });
  napi_type_tag_object(env, ext, &kGeneratorTag);
  return ext;
}

at::Generator& unwrapGenerator(const Napi::Value& value, const char* what) {
  bool tagged = false;
  if (!value.IsExternal() || napi_check_object_type_tag(value.Env(), value, &kGeneratorTag, &tagged) != napi_ok || !tagged)
    throw Napi::TypeError::New(value.Env(), std::string(what) + " is not a generator");
  return *value.As<Napi::External<at::Generator>>().Data();
}

std::vector<at::Tensor> tensorList(const Napi::Value& value, const char* what) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), std::string(what) + " must be an array of tensors");
  auto arr = value.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(unwrapTensor(arr.Get(i), what));
  return out;
}

void registerRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("dispose", guardedFunction(env, Dispose));
  exports.Set("isDisposed", guardedFunction(env, IsDisposed));
  exports.Set("fromBuffer", guardedFunction(env, FromBuffer));
  exports.Set("toBuffer", guardedFunction(env, ToBuffer));
  exports.Set("readFile", guardedFunction(env, ReadFile));
  exports.Set("writeFile", guardedFunction(env, WriteFile));
  exports.Set("shape", guardedFunction(env, Shape));
  exports.Set("strides", guardedFunction(env, Strides));
  exports.Set("dtype", guardedFunction(env, DType));
  exports.Set("device", guardedFunction(env, Device));
  exports.Set("requiresGrad", guardedFunction(env, RequiresGrad));
  exports.Set("isLeaf", guardedFunction(env, IsLeaf));
  exports.Set("setRequiresGrad", guardedFunction(env, SetRequiresGrad));
  exports.Set("grad", guardedFunction(env, Grad));
  exports.Set("setGrad", guardedFunction(env, SetGrad));
  exports.Set("backward", guardedFunction(env, Backward));
  exports.Set("isGradEnabled", guardedFunction(env, IsGradEnabled));
  exports.Set("setGradEnabled", guardedFunction(env, SetGradEnabled));
  exports.Set("manualSeed", guardedFunction(env, ManualSeed));
  exports.Set("createGenerator", guardedFunction(env, CreateGenerator));
  exports.Set("getRngState", guardedFunction(env, GetRngState));
  exports.Set("setRngState", guardedFunction(env, SetRngState));
  exports.Set("setNumThreads", guardedFunction(env, SetNumThreads));
  exports.Set("runtimeInfo", guardedFunction(env, RuntimeInfo));
  exports.Set("memoryStats", guardedFunction(env, MemoryStats));
  exports.Set("resetCpuBlockPeak", guardedFunction(env, ResetCpuBlockPeak));
  exports.Set("setAllocatorCaching", guardedFunction(env, SetAllocatorCaching));
}

}  // namespace distillery

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // c10's logger takes its level from TORCH_CPP_LOG_LEVEL only when initialised (Python torch does it
  // on import); without this, libtorch 2.x builds without glog print c10d's retry traces regardless.
  c10::initLogging();
  distillery::registerRuntime(env, exports);
  distillery::registerOps(env, exports);
  distillery::registerOptim(env, exports);
  distillery::registerDistributed(env, exports);
  distillery::registerCudaMemory(env, exports);
  distillery::registerKdLoss(env, exports);
  distillery::registerFusedLayers(env, exports);
  distillery::registerGemm(env, exports);
  return exports;
}

NODE_API_MODULE(distillery_native, Init)
