// AdamW (libtorch's, with a step that needs less memory) and global grad-norm clipping, exposed
// with what a trainer needs on top: parameter groups, a learning rate set every step, and optimizer
// state that can be read out for a checkpoint and written back on resume.
#include "handles.h"

#include <sstream>

#include <torch/optim/adamw.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>

namespace distillery {
namespace {

constexpr napi_type_tag kAdamWTag = {0x64697374696c6c65ULL, 0x727961646d773031ULL};

torch::optim::AdamW& unwrapAdamW(const Napi::Value& value) {
  bool tagged = false;
  if (!value.IsExternal() || napi_check_object_type_tag(value.Env(), value, &kAdamWTag, &tagged) != napi_ok || !tagged)
    throw Napi::TypeError::New(value.Env(), "not an AdamW optimizer handle");
  return *value.As<Napi::External<torch::optim::AdamW>>().Data();
}

// libtorch 1.x keys optimizer state by the TensorImpl address printed as a string; 2.x by the
// address itself. Compute whichever this libtorch uses.
template <typename Map>
typename Map::key_type stateKey(const at::Tensor& param) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    // As libtorch 1.x's own c10::guts::to_string (gone in 2.x): the pointer through an ostream.
    std::ostringstream key;
    key << param.unsafeGetTensorImpl();
    return key.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

// One step's AdamW coefficients for a parameter group, computed in double and used in the
// parameter's own precision by the fused update (as<T>) or as scalars by libtorch's ops.
template <typename T>
struct AdamWCoefficients {
  T decay;  // 1 − lr·weight_decay
  T beta1, oneMinusBeta1, beta2, oneMinusBeta2;
  T stepSize;  // lr / (1 − β1^t)
  T biasCorrection2Sqrt;  // sqrt(1 − β2^t)
  T eps;

  template <typename U>
  AdamWCoefficients<U> as() const {
    return {static_cast<U>(decay), static_cast<U>(beta1), static_cast<U>(oneMinusBeta1), static_cast<U>(beta2), static_cast<U>(oneMinusBeta2),
            static_cast<U>(stepSize), static_cast<U>(biasCorrection2Sqrt), static_cast<U>(eps)};
  }
};

// The AdamW update of n elements in one pass. The pointers never alias (a parameter, its gradient
// and its two moments), which lets the compiler vectorise the loop, square root and divisions included.
template <typename T>
void updateElements(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, int64_t n, const AdamWCoefficients<T>& k) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i];
    const T mi = m[i] * k.beta1 + k.oneMinusBeta1 * gi;
    const T vi = v[i] * k.beta2 + k.oneMinusBeta2 * gi * gi;
    const T denom = std::sqrt(vi) / k.biasCorrection2Sqrt + k.eps;
    p[i] = p[i] * k.decay - k.stepSize * mi / denom;
    m[i] = mi;
    v[i] = vi;
  }
}

// torch::optim::AdamW with the same formula (and its state, so checkpoints hold the same tensors),
// computed in one fused pass per parameter on the CPU (fusedUpdate). Elsewhere (CUDA) it runs
// libtorch's operations one by one, but makes the update's denominator sqrt(v̂) + eps a slice at a
// time: libtorch builds it for the whole parameter at once, two temporaries the size of the largest
// parameter (2 × 0.6 GB for Qwen3-0.6B's embedding), which set the peak memory of an otherwise
// chunked training step.
class LeanAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  at::Tensor step(LossClosure closure = nullptr) override {
    torch::NoGradGuard noGrad;
    at::Tensor loss;
    if (closure) {
      at::AutoGradMode enable(true);
      loss = closure();
    }
    auto& states = state();
    for (auto& group : param_groups()) {
      auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
      TORCH_CHECK(!o.amsgrad(), "AdamW: amsgrad is not supported");
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        const at::Tensor& grad = p.grad();
        TORCH_CHECK(!grad.is_sparse(), "AdamW does not support sparse gradients");
        auto key = stateKey<std::remove_reference_t<decltype(states)>>(p);
        if (states.find(key) == states.end()) {
          auto fresh = std::make_unique<torch::optim::AdamWParamState>();
          fresh->step(0);
          fresh->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
          fresh->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
          states[key] = std::move(fresh);
        }
        auto& s = static_cast<torch::optim::AdamWParamState&>(*states[key]);
        s.step(s.step() + 1);
        const double beta1 = std::get<0>(o.betas());
        const double beta2 = std::get<1>(o.betas());
        const double biasCorrection1 = 1 - std::pow(beta1, s.step());
        const double biasCorrection2 = 1 - std::pow(beta2, s.step());
        const AdamWCoefficients<double> c{1 - o.lr() * o.weight_decay(), beta1, 1 - beta1, beta2, 1 - beta2, o.lr() / biasCorrection1, std::sqrt(biasCorrection2), o.eps()};
        if (fusable(p, grad, s.exp_avg(), s.exp_avg_sq())) {
          fusedUpdate(p, grad, s.exp_avg(), s.exp_avg_sq(), c);
          continue;
        }
        if (o.weight_decay() != 0) p.mul_(c.decay);
        s.exp_avg().mul_(beta1).add_(grad, c.oneMinusBeta1);
        s.exp_avg_sq().mul_(beta2).addcmul_(grad, grad, c.oneMinusBeta2);
        update(p, s.exp_avg(), s.exp_avg_sq(), c.stepSize, c.biasCorrection2Sqrt, c.eps);
      }
    }
    return loss;
  }

 private:
  // One pass over the parameter, its gradient and both moments instead of libtorch's nine
  // (decay, two per moment, sqrt, div, add, addcdiv), each of which streams the whole tensor from
  // memory, which for a large embedding is a visible share of a small model's step (the README's
  // Performance notes give the A/B). Same formula and order of operations, in the parameter's own
  // precision; only the roundings of fused multiply-adds may differ from libtorch's vectorised
  // kernels (in the last bit).
  static bool fusable(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v) {
    const at::ScalarType dtype = p.scalar_type();
    if (dtype != at::kFloat && dtype != at::kDouble) return false;
    for (const at::Tensor* t : {&p, &g, &m, &v})
      if (!t->device().is_cpu() || t->scalar_type() != dtype || !t->is_contiguous() || t->numel() != p.numel()) return false;
    return true;
  }

  static void fusedUpdate(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const AdamWCoefficients<double>& c) {
    if (p.scalar_type() == at::kFloat)
      fusedUpdateAs<float>(p, g, m, v, c);
    else
      fusedUpdateAs<double>(p, g, m, v, c);
  }

  template <typename T>
  static void fusedUpdateAs(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, const AdamWCoefficients<double>& c) {
    const AdamWCoefficients<T> k = c.as<T>();
    T* pd = p.data_ptr<T>();
    const T* gd = g.data_ptr<T>();
    T* md = m.data_ptr<T>();
    T* vd = v.data_ptr<T>();
    at::parallel_for(0, p.numel(), int64_t{1} << 15, [&](int64_t begin, int64_t end) { updateElements(pd + begin, gd + begin, md + begin, vd + begin, end - begin, k); });
  }

  // Elements per slice of the denominator: 16 MB in float32, large enough to keep every thread busy.
  static constexpr int64_t kSlice = int64_t{1} << 22;

  static void update(at::Tensor& p, const at::Tensor& m, const at::Tensor& v, double stepSize, double biasCorrection2Sqrt, double eps) {
    auto apply = [&](at::Tensor pPart, const at::Tensor& mPart, const at::Tensor& vPart) {
      at::Tensor denom = vPart.sqrt();
      denom.div_(biasCorrection2Sqrt).add_(eps);
      pPart.addcdiv_(mPart, denom, -stepSize);
    };
    const int64_t n = p.numel();
    if (n <= kSlice || !p.is_contiguous() || !m.is_contiguous() || !v.is_contiguous()) {
      apply(p, m, v);
      return;
    }
    at::Tensor pFlat = p.view(-1), mFlat = m.view(-1), vFlat = v.view(-1);
    for (int64_t start = 0; start < n; start += kSlice) {
      const int64_t length = std::min(kSlice, n - start);
      apply(pFlat.narrow(0, start, length), mFlat.narrow(0, start, length), vFlat.narrow(0, start, length));
    }
  }
};

double numberField(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

// createAdamW(groups: [{ params, lr, weightDecay, beta1, beta2, eps }]) -> handle
Napi::Value CreateAdamW(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto groupsJs = info[0].As<Napi::Array>();
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (uint32_t g = 0; g < groupsJs.Length(); g++) {
    auto o = groupsJs.Get(g).As<Napi::Object>();
    auto options = std::make_unique<torch::optim::AdamWOptions>(numberField(o, "lr", 1e-3));
    options->betas(std::make_tuple(numberField(o, "beta1", 0.9), numberField(o, "beta2", 0.999)))
        .eps(numberField(o, "eps", 1e-8))
        .weight_decay(numberField(o, "weightDecay", 0.01));
    groups.emplace_back(tensorList(o.Get("params"), "AdamW params"), std::move(options));
  }
  torch::optim::AdamW* opt = new LeanAdamW(std::move(groups));
  auto ext = Napi::External<torch::optim::AdamW>::New(env, opt, [](Napi::Env, torch::optim::AdamW* p) { delete p; });
  napi_type_tag_object(env, ext, &kAdamWTag);
  return ext;
}

Napi::Value AdamWStep(const Napi::CallbackInfo& info) {
  unwrapAdamW(info[0]).step();
  return info.Env().Undefined();
}

Napi::Value AdamWZeroGrad(const Napi::CallbackInfo& info) {
  for (auto& group : unwrapAdamW(info[0]).param_groups())
    for (auto& p : group.params()) p.mutable_grad() = at::Tensor();  // set to none: frees the memory
  return info.Env().Undefined();
}

// setLr(opt, groupIndex, lr) / getLr(opt, groupIndex)
Napi::Value AdamWSetLr(const Napi::CallbackInfo& info) {
  auto& groups = unwrapAdamW(info[0]).param_groups();
  uint32_t g = info[1].As<Napi::Number>().Uint32Value();
  if (g >= groups.size()) throw Napi::RangeError::New(info.Env(), "setLr: no parameter group " + std::to_string(g));
  static_cast<torch::optim::AdamWOptions&>(groups[g].options()).lr(info[2].As<Napi::Number>().DoubleValue());
  return info.Env().Undefined();
}

Napi::Value AdamWGetLr(const Napi::CallbackInfo& info) {
  auto& groups = unwrapAdamW(info[0]).param_groups();
  uint32_t g = info[1].As<Napi::Number>().Uint32Value();
  if (g >= groups.size()) throw Napi::RangeError::New(info.Env(), "getLr: no parameter group " + std::to_string(g));
  return Napi::Number::New(info.Env(), static_cast<torch::optim::AdamWOptions&>(groups[g].options()).lr());
}

// getState(opt) -> per parameter in group order: { step, expAvg, expAvgSq } or null before the first step.
Napi::Value AdamWGetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& opt = unwrapAdamW(info[0]);
  auto& state = opt.state();
  auto out = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& group : opt.param_groups()) {
    for (auto& p : group.params()) {
      auto it = state.find(stateKey<std::remove_reference_t<decltype(state)>>(p));
      if (it == state.end()) {
        out.Set(i++, env.Null());
        continue;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      auto o = Napi::Object::New(env);
      o.Set("step", static_cast<double>(s.step()));
      o.Set("expAvg", wrapTensor(env, s.exp_avg()));
      o.Set("expAvgSq", wrapTensor(env, s.exp_avg_sq()));
      out.Set(i++, o);
    }
  }
  return out;
}

// setState(opt, states) restores what getState returned (copies the tensors).
Napi::Value AdamWSetState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& opt = unwrapAdamW(info[0]);
  auto& state = opt.state();
  auto states = info[1].As<Napi::Array>();
  uint32_t i = 0;
  for (auto& group : opt.param_groups()) {
    for (auto& p : group.params()) {
      if (i >= states.Length()) throw Napi::RangeError::New(env, "setState: fewer states than parameters");
      Napi::Value v = states.Get(i++);
      auto key = stateKey<std::remove_reference_t<decltype(state)>>(p);
      if (v.IsNull() || v.IsUndefined()) {
        state.erase(key);
        continue;
      }
      auto o = v.As<Napi::Object>();
      auto s = std::make_unique<torch::optim::AdamWParamState>();
      s->step(static_cast<int64_t>(o.Get("step").As<Napi::Number>().Int64Value()));
      at::Tensor m = unwrapTensor(o.Get("expAvg"), "setState: expAvg");
      at::Tensor v2 = unwrapTensor(o.Get("expAvgSq"), "setState: expAvgSq");
      if (!m.sizes().equals(p.sizes()) || !v2.sizes().equals(p.sizes()))
        throw Napi::RangeError::New(env, "setState: state " + std::to_string(i - 1) + " has shape " +
                                             c10::str(m.sizes()) + " but the parameter has " + c10::str(p.sizes()));
      s->exp_avg(m.detach().to(p.options()).clone());
      s->exp_avg_sq(v2.detach().to(p.options()).clone());
      state[key] = std::move(s);
    }
  }
  if (i != states.Length()) throw Napi::RangeError::New(env, "setState: more states than parameters");
  return env.Undefined();
}

// clipGradNorm(params, maxNorm, normType=2) -> the total gradient norm before clipping, as a 0-dim
// tensor (the gradients' promoted dtype) on their device; the gradients are scaled by min(1, maxNorm / (norm + 1e-6)).
// As torch.nn.utils.clip_grad_norm_ in Python, and unlike libtorch's C++ one, which returns a
// double: the coefficient stays a tensor, so clipping never makes the host wait for the device
// (the trainer reads the norm once per step, together with the loss).
Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<at::Tensor> params = tensorList(info[0], "clipGradNorm params");
  double maxNorm = info[1].As<Napi::Number>().DoubleValue();
  double normType = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 2.0;
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return wrapTensor(env, at::zeros({}, at::kFloat));
  at::ScalarType dtype = grads.front().scalar_type();
  for (const at::Tensor& g : grads) dtype = at::promote_types(dtype, g.scalar_type());
  std::vector<at::Tensor> norms;
  norms.reserve(grads.size());
  for (const at::Tensor& g : grads) norms.push_back(at::linalg_vector_norm(g, normType).to(dtype));
  at::Tensor total = at::linalg_vector_norm(at::stack(norms), normType);
  at::Tensor coefficient = (maxNorm / (total + 1e-6)).clamp_max(1.0);
  for (at::Tensor& g : grads) g.mul_(coefficient.to(g.device()));
  return wrapTensor(env, std::move(total));
}

}  // namespace

void registerOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("createAdamW", guardedFunction(env, CreateAdamW));
  exports.Set("adamwStep", guardedFunction(env, AdamWStep));
  exports.Set("adamwZeroGrad", guardedFunction(env, AdamWZeroGrad));
  exports.Set("adamwSetLr", guardedFunction(env, AdamWSetLr));
  exports.Set("adamwGetLr", guardedFunction(env, AdamWGetLr));
  exports.Set("adamwGetState", guardedFunction(env, AdamWGetState));
  exports.Set("adamwSetState", guardedFunction(env, AdamWSetState));
  exports.Set("clipGradNorm", guardedFunction(env, ClipGradNorm));
}

}  // namespace distillery
