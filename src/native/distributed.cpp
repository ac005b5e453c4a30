// PyTorch's c10d collectives for multi-process data parallelism: a TCPStore rendezvous, a Gloo
// (CPU) or NCCL (CUDA) process group, and the few collectives a data-parallel trainer needs —
// bucketed all-reduce, broadcast, barrier — plus raw store access, which the trainer uses to tell
// which rank failed when a collective does. Nothing here knows about models or training.
//
// libtorch 1.13 derives the Gloo/NCCL groups from c10d::ProcessGroup, 2.x from c10d::Backend;
// both expose the same collective signatures, so one alias covers both. Gloo needs its headers
// (Debian: libgloo-dev); builds without them, or without NCCL, still load and say what is missing.
#include "handles.h"

#include <torch/version.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace distillery {
namespace {

#ifdef USE_C10D_GLOO

#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> group;
};

constexpr napi_type_tag kGroupTag = {0x64697374696c6c65ULL, 0x727970726f636772ULL};

Group& unwrapGroup(const Napi::Value& value) {
  bool tagged = false;
  if (!value.IsExternal() || napi_check_object_type_tag(value.Env(), value, &kGroupTag, &tagged) != napi_ok || !tagged)
    throw Napi::TypeError::New(value.Env(), "not a process group handle");
  Group& g = *value.As<Napi::External<Group>>().Data();
  if (!g.group) throw Napi::Error::New(value.Env(), "the process group was already closed");
  return g;
}

std::string stringField(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("distInit: ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

int64_t intField(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("distInit: ") + key + " must be a number");
  return v.As<Napi::Number>().Int64Value();
}

std::shared_ptr<::gloo::transport::Device> glooDevice(const std::string& masterAddr, const std::string& interface) {
  // As torch.distributed: GLOO_SOCKET_IFNAME names the interface; otherwise the address this
  // machine's hostname resolves to. Single-machine runs rendezvous on loopback and stay there.
  if (!interface.empty()) return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  if (masterAddr == "127.0.0.1" || masterAddr == "localhost") return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// distInit({ backend, rank, worldSize, masterAddr, masterPort, timeoutMs, interface, hostStore })
// -> handle. The store's host (rank 0, or torchrun's agent) serves the TCPStore; every rank
// connects to it, then the group connects all pairs. Keys live under "distillery/", apart from
// whatever else shares the store (torchrun's agent keeps its rendezvous there).
// libtorch 2.4 made the libuv TCPStore backend the default, and builds without libuv (Debian's 2.6)
// refuse it ("use_libuv was requested but PyTorch was build without libuv support"): there the
// classic backend serves, as PyTorch itself falls back when USE_LIBUV=0.
c10::intrusive_ptr<c10d::Store> tcpStore(const std::string& host, c10d::TCPStoreOptions options) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  try {
    return c10::make_intrusive<c10d::TCPStore>(host, options);
  } catch (const std::exception& error) {
    if (std::string(error.what()).find("libuv") == std::string::npos) throw;
    options.useLibUV = false;
  }
#endif
  return c10::make_intrusive<c10d::TCPStore>(host, options);
}

Napi::Value DistInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "distInit: expected an options object");
  auto o = info[0].As<Napi::Object>();
  const std::string backend = stringField(o, "backend");
  const int rank = static_cast<int>(intField(o, "rank"));
  const int size = static_cast<int>(intField(o, "worldSize"));
  const std::string masterAddr = stringField(o, "masterAddr");
  const auto port = intField(o, "masterPort");
  const std::chrono::milliseconds timeout(intField(o, "timeoutMs"));
  const std::string interface = o.Get("interface").IsString() ? o.Get("interface").As<Napi::String>().Utf8Value() : "";
  if (size < 1 || rank < 0 || rank >= size) throw Napi::RangeError::New(env, "distInit: rank must be in [0, worldSize)");
  if (port < 1 || port > 65535) throw Napi::RangeError::New(env, "distInit: masterPort must be in 1..65535");

  c10d::TCPStoreOptions storeOptions;
  storeOptions.port = static_cast<std::uint16_t>(port);
  storeOptions.isServer = o.Get("hostStore").ToBoolean();
  storeOptions.numWorkers = static_cast<std::size_t>(size);
  storeOptions.waitWorkers = false;  // the group's own rendezvous below waits for every rank
  storeOptions.timeout = timeout;
  auto holder = std::make_unique<Group>();
  holder->store = c10::make_intrusive<c10d::PrefixStore>("distillery/", tcpStore(masterAddr, storeOptions));

  if (backend == "gloo") {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(glooDevice(masterAddr, interface));
    options->threads = 2;
    holder->group = c10::make_intrusive<c10d::ProcessGroupGloo>(holder->store, rank, size, options);
  } else if (backend == "nccl") {
#ifdef USE_C10D_NCCL
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    holder->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(holder->store, rank, size, options);
#else
    throw Napi::Error::New(env, "this build of the addon has no NCCL (libtorch without CUDA, or nccl.h not found at build time); use --dist-backend gloo");
#endif
  } else {
    throw Napi::RangeError::New(env, "distInit: backend must be 'gloo' or 'nccl', got '" + backend + "'");
  }
  auto ext = Napi::External<Group>::New(env, holder.release(), [](Napi::Env, Group* g) { delete g; });
  napi_type_tag_object(env, ext, &kGroupTag);
  return ext;
}

c10d::ReduceOp reduceOpOf(Napi::Env env, const std::string& name) {
  if (name == "sum") return c10d::ReduceOp::SUM;
  if (name == "max") return c10d::ReduceOp::MAX;
  if (name == "min") return c10d::ReduceOp::MIN;
  throw Napi::RangeError::New(env, "allReduce: op must be 'sum', 'max' or 'min', got '" + name + "'");
}

// Tensors go over the wire in buckets of about `bucketBytes` (one flat buffer each, as DDP does):
// one collective per bucket instead of one per parameter, with at most two buckets in flight so
// the extra memory stays two buckets, not a second copy of every gradient.
template <typename Launch>
void bucketed(std::vector<at::Tensor>& tensors, int64_t bucketBytes, Launch&& launch) {
  // Parameters are autograd leaves: writing received values into them is not a differentiable op.
  at::NoGradGuard noGrad;
  struct Pending {
    c10::intrusive_ptr<c10d::Work> work;
    std::vector<at::Tensor> flat;  // one element: the buffer sent
    std::vector<at::Tensor> members;
  };
  std::deque<Pending> inFlight;
  auto finish = [&]() {
    Pending& p = inFlight.front();
    p.work->wait();
    if (p.members.size() > 1 || !p.members[0].is_contiguous()) {
      int64_t offset = 0;
      for (auto& t : p.members) {
        const int64_t n = t.numel();
        t.copy_(p.flat[0].narrow(0, offset, n).view(t.sizes()));
        offset += n;
      }
    }
    inFlight.pop_front();
  };
  size_t i = 0;
  while (i < tensors.size()) {
    std::vector<at::Tensor> members{tensors[i]};
    int64_t bytes = tensors[i].numel() * static_cast<int64_t>(tensors[i].element_size());
    size_t j = i + 1;
    while (j < tensors.size() && bytes < bucketBytes && tensors[j].scalar_type() == tensors[i].scalar_type() &&
           tensors[j].device() == tensors[i].device()) {
      bytes += tensors[j].numel() * static_cast<int64_t>(tensors[j].element_size());
      members.push_back(tensors[j]);
      j++;
    }
    at::Tensor flat;
    if (members.size() == 1 && members[0].is_contiguous()) {
      flat = members[0];
    } else {
      std::vector<at::Tensor> pieces;
      for (auto& t : members) pieces.push_back(t.reshape({-1}));
      flat = at::cat(pieces);
    }
    std::vector<at::Tensor> buffer{flat};
    inFlight.push_back(Pending{launch(buffer), buffer, members});
    if (inFlight.size() > 2) finish();
    i = j;
  }
  while (!inFlight.empty()) finish();
}

// allReduce(group, tensors, op, bucketBytes): in place, every rank ends with the reduction.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Group& g = unwrapGroup(info[0]);
  std::vector<at::Tensor> tensors = tensorList(info[1], "allReduce tensors");
  c10d::AllreduceOptions options;
  options.reduceOp = reduceOpOf(info.Env(), info[2].As<Napi::String>().Utf8Value());
  bucketed(tensors, info[3].As<Napi::Number>().Int64Value(), [&](std::vector<at::Tensor>& b) { return g.group->allreduce(b, options); });
  return info.Env().Undefined();
}

// broadcast(group, tensors, root, bucketBytes): in place, every rank ends with root's values.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Group& g = unwrapGroup(info[0]);
  std::vector<at::Tensor> tensors = tensorList(info[1], "broadcast tensors");
  c10d::BroadcastOptions options;
  options.rootRank = info[2].As<Napi::Number>().Int32Value();
  bucketed(tensors, info[3].As<Napi::Number>().Int64Value(), [&](std::vector<at::Tensor>& b) { return g.group->broadcast(b, options); });
  return info.Env().Undefined();
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  unwrapGroup(info[0]).group->barrier()->wait();
  return info.Env().Undefined();
}

Napi::Value StoreSet(const Napi::CallbackInfo& info) {
  Group& g = unwrapGroup(info[0]);
  const std::string value = info[2].As<Napi::String>().Utf8Value();
  g.store->set(info[1].As<Napi::String>().Utf8Value(), std::vector<uint8_t>(value.begin(), value.end()));
  return info.Env().Undefined();
}

// storeGet(group, key) -> string | null: never blocks (null when the key is not set yet).
Napi::Value StoreGet(const Napi::CallbackInfo& info) {
  Group& g = unwrapGroup(info[0]);
  const std::string key = info[1].As<Napi::String>().Utf8Value();
  if (!g.store->check({key})) return info.Env().Null();
  std::vector<uint8_t> value = g.store->get(key);
  return Napi::String::New(info.Env(), std::string(value.begin(), value.end()));
}

// distClose(group): releases the group, then the store (rank 0's store server with it).
Napi::Value DistClose(const Napi::CallbackInfo& info) {
  Group& g = unwrapGroup(info[0]);
  g.group.reset();
  g.store.reset();
  return info.Env().Undefined();
}

Napi::Value Available(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  out.Set("gloo", true);
#ifdef USE_C10D_NCCL
  out.Set("nccl", true);
#else
  out.Set("nccl", false);
#endif
  return out;
}

#else  // no Gloo headers at build time

Napi::Value Unavailable(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(),
                         "this build of the addon has no c10d collectives: Gloo's headers were missing when it was built "
                         "(Debian/Ubuntu: apt-get install libgloo-dev, then node scripts/build-native.mjs --force)");
}

Napi::Value Available(const Napi::CallbackInfo& info) {
  auto out = Napi::Object::New(info.Env());
  out.Set("gloo", false);
  out.Set("nccl", false);
  return out;
}

#endif

}  // namespace

void registerDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("distAvailable", guardedFunction(env, Available));
#ifdef USE_C10D_GLOO
  exports.Set("distInit", guardedFunction(env, DistInit));
  exports.Set("distAllReduce", guardedFunction(env, AllReduce));
  exports.Set("distBroadcast", guardedFunction(env, Broadcast));
  exports.Set("distBarrier", guardedFunction(env, Barrier));
  exports.Set("distStoreSet", guardedFunction(env, StoreSet));
  exports.Set("distStoreGet", guardedFunction(env, StoreGet));
  exports.Set("distClose", guardedFunction(env, DistClose));
#else
  for (const char* name : {"distInit", "distAllReduce", "distBroadcast", "distBarrier", "distStoreSet", "distStoreGet", "distClose"})
    exports.Set(name, guardedFunction(env, Unavailable));
#endif
}

}  // namespace distillery
