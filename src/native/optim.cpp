// AdamW (libtorch's, with a step that needs less memory) and global grad-norm clipping, exposed
// with what a trainer needs on top: parameter groups, a learning rate set every step, and optimizer
// state that can be read out for a checkpoint and written back on resume.
#include "handles.h"
#include "vector-math.h"

#include <sstream>

#include <torch/optim/adamw.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <functional>
#include <string>
#include <unordered_map>
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

// A gradient element as T: float32/float64 as stored, bf16 widened (through its bits: vectorisable).
template <typename T, typename G>
inline T gradientAt(const G* g, int64_t i) {
  if constexpr (std::is_same_v<G, c10::BFloat16>)
    return static_cast<T>(widen(g[i]));
  else
    return static_cast<T>(g[i]);
}

// The AdamW update of n elements in one pass: the gradient read in its own precision G and scaled (the clipping coefficient; 1 without clipping), the parameter and both
// moments updated, and — for a mixed-precision student — the parameter's bf16 compute copy written
// from the result. The pointers never alias (a parameter, its gradient, its two moments, its
// copy), which lets the compiler vectorise the loop, square root, divisions and conversions included.
template <typename T, typename G, bool WriteCopy>
DISTILLERY_VECTOR_CLONES void updateElements(T* __restrict p, const G* __restrict g, T* __restrict m, T* __restrict v, c10::BFloat16* __restrict copy, int64_t n,
                                             const AdamWCoefficients<T>& k, T scale) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const T gi = gradientAt<T>(g, i) * scale;
    const T mi = m[i] * k.beta1 + k.oneMinusBeta1 * gi;
    const T vi = v[i] * k.beta2 + k.oneMinusBeta2 * gi * gi;
    const T denom = std::sqrt(vi) / k.biasCorrection2Sqrt + k.eps;
    const T pi = p[i] * k.decay - k.stepSize * mi / denom;
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
    if constexpr (WriteCopy) copy[i] = narrowTo<c10::BFloat16>(static_cast<float>(pi));
  }
}

// Σ x² of n elements in double (a gradient's squared L2 norm; bf16 and float32 alike).
template <typename G>
DISTILLERY_VECTOR_CLONES double sumOfSquaresOf(const G* __restrict x, int64_t n) {
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) {
    const double xi = gradientAt<float>(x, i);
    sum += xi * xi;
  }
  return sum;
}

template <typename G>
double sumOfSquares(const G* x, int64_t n) {
  return at::parallel_reduce(
      int64_t{0}, n, int64_t{1} << 15, 0.0, [&](int64_t begin, int64_t end, double partial) { return partial + sumOfSquaresOf(x + begin, end - begin); },
      std::plus<double>());
}

// The global norm of the gradients, as torch.nn.utils.clip_grad_norm_ computes it (the norm of the
// per-tensor norms), returned as a 0-dim tensor of the gradients' promoted dtype (float32 for bf16)
// on their device. The L2 norm of CPU float32/bf16 gradients is summed in double in one pass and
// reads bf16 gradients as they are: libtorch's norm with a float32 result would first copy each
// into a float32 temporary (0.6 GB for Qwen3-0.6B's embedding, every step).
at::Tensor globalGradNorm(const std::vector<at::Tensor>& grads, double normType) {
  at::ScalarType dtype = at::kFloat;
  for (const at::Tensor& g : grads) dtype = at::promote_types(dtype, g.scalar_type());
  auto onePass = [&](const at::Tensor& g) {
    return normType == 2.0 && g.device().is_cpu() && g.is_contiguous() && (g.scalar_type() == at::kFloat || g.scalar_type() == at::kBFloat16);
  };
  if (std::all_of(grads.begin(), grads.end(), onePass)) {
    double squares = 0;
    for (const at::Tensor& g : grads)
      squares += g.scalar_type() == at::kFloat ? sumOfSquares(g.data_ptr<float>(), g.numel()) : sumOfSquares(g.data_ptr<c10::BFloat16>(), g.numel());
    return at::scalar_tensor(std::sqrt(squares), at::TensorOptions().dtype(dtype));
  }
  std::vector<at::Tensor> norms;
  norms.reserve(grads.size());
  for (const at::Tensor& g : grads) norms.push_back(at::linalg_vector_norm(g, normType, c10::nullopt, false, dtype));
  return at::linalg_vector_norm(at::stack(norms), normType);
}

// torch::optim::AdamW with the same formula (and its state, so checkpoints hold the same tensors),
// computed in one fused pass per parameter on the CPU (fusedUpdate). Elsewhere (CUDA) it runs
// libtorch's operations one by one, but makes the update's denominator sqrt(v̂) + eps a slice at a
// time: libtorch builds it for the whole parameter at once, two temporaries the size of the largest
// parameter (2 × 0.6 GB for Qwen3-0.6B's embedding), which set the peak memory of an otherwise
// chunked training step.
//
// stepMixed() is the step of a mixed-precision student: each float32 master weight (a parameter
// here) takes its gradient from its bf16 compute copy, scaled by the clipping coefficient, and
// writes the updated weight back into that copy, in the same pass. A float32 gradient per master
// never exists: without it the optimizer phase streams 28 bytes per parameter instead of ~46, and
// needs no fresh memory (the float32 gradients were 2.4 GB at 0.6B, mapped anew every step).
class LeanAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  // Each master's bf16 compute copy, by the master's TensorImpl.
  using Copies = std::unordered_map<const c10::TensorImpl*, at::Tensor>;

  at::Tensor step(LossClosure closure = nullptr) override {
    at::Tensor loss;
    if (closure) {
      at::AutoGradMode enable(true);
      loss = closure();
    }
    update(Copies{}, at::Tensor());
    return loss;
  }

  // `scale`: a 0-dim tensor multiplying every gradient (the clipping coefficient), or undefined.
  void stepMixed(const Copies& copies, const at::Tensor& scale) { update(copies, scale); }

 private:
  void update(const Copies& copies, const at::Tensor& scale) {
    torch::NoGradGuard noGrad;
    auto& states = state();
    // Read once: a CPU scale is a number the fused loop takes; elsewhere the tensor multiplies.
    const double cpuScale = scale.defined() && scale.device().is_cpu() ? scale.item<double>() : 1.0;
    for (auto& group : param_groups()) {
      auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
      TORCH_CHECK(!o.amsgrad(), "AdamW: amsgrad is not supported");
      for (auto& p : group.params()) {
        auto found = copies.find(p.unsafeGetTensorImpl());
        at::Tensor copy = found == copies.end() ? at::Tensor() : found->second;
        const at::Tensor grad = copy.defined() && copy.grad().defined() ? copy.grad() : p.grad();
        if (!grad.defined()) continue;
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
        if (fusable(p, grad, s.exp_avg(), s.exp_avg_sq(), copy)) {
          fusedUpdate(p, grad, s.exp_avg(), s.exp_avg_sq(), copy, c, cpuScale);
          continue;
        }
        at::Tensor g = grad.scalar_type() == p.scalar_type() ? grad : grad.to(p.scalar_type());
        if (scale.defined()) g = g.mul(scale.to(g.device()));
        if (o.weight_decay() != 0) p.mul_(c.decay);
        s.exp_avg().mul_(beta1).add_(g, c.oneMinusBeta1);
        s.exp_avg_sq().mul_(beta2).addcmul_(g, g, c.oneMinusBeta2);
        applyInSlices(p, s.exp_avg(), s.exp_avg_sq(), c.stepSize, c.biasCorrection2Sqrt, c.eps);
        if (copy.defined()) copy.copy_(p);
      }
    }
  }

  // One pass over the parameter, its gradient and both moments (and its compute copy) instead of
  // libtorch's nine (decay, two per moment, sqrt, div, add, addcdiv), each of which streams the
  // whole tensor from memory, which for a large embedding is a visible share of a small model's
  // step (the README's Performance notes give the A/B). Same formula and order of operations, in the
  // parameter's own precision (no multiply-add is contracted: -ffp-contract=off).
  static bool fusable(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v, const at::Tensor& copy) {
    const at::ScalarType dtype = p.scalar_type();
    if (dtype != at::kFloat && dtype != at::kDouble) return false;
    for (const at::Tensor* t : {&p, &m, &v})
      if (!t->device().is_cpu() || t->scalar_type() != dtype || !t->is_contiguous() || t->numel() != p.numel()) return false;
    const bool bf16Gradient = dtype == at::kFloat && g.scalar_type() == at::kBFloat16;
    if (!g.device().is_cpu() || !(g.scalar_type() == dtype || bf16Gradient) || !g.is_contiguous() || g.numel() != p.numel()) return false;
    if (!copy.defined()) return true;
    return dtype == at::kFloat && copy.device().is_cpu() && copy.scalar_type() == at::kBFloat16 && copy.is_contiguous() && copy.numel() == p.numel();
  }

  static void fusedUpdate(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, at::Tensor& copy, const AdamWCoefficients<double>& c, double scale) {
    if (p.scalar_type() == at::kDouble) return fusedUpdateAs<double, double, false>(p, g, m, v, copy, c, scale);
    const bool bf16Gradient = g.scalar_type() == at::kBFloat16;
    if (copy.defined())
      return bf16Gradient ? fusedUpdateAs<float, c10::BFloat16, true>(p, g, m, v, copy, c, scale) : fusedUpdateAs<float, float, true>(p, g, m, v, copy, c, scale);
    return bf16Gradient ? fusedUpdateAs<float, c10::BFloat16, false>(p, g, m, v, copy, c, scale) : fusedUpdateAs<float, float, false>(p, g, m, v, copy, c, scale);
  }

  template <typename T, typename G, bool WriteCopy>
  static void fusedUpdateAs(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v, at::Tensor& copy, const AdamWCoefficients<double>& c, double scale) {
    const AdamWCoefficients<T> k = c.as<T>();
    const T s = static_cast<T>(scale);
    T* pd = p.data_ptr<T>();
    const G* gd = g.data_ptr<G>();
    T* md = m.data_ptr<T>();
    T* vd = v.data_ptr<T>();
    c10::BFloat16* cd = WriteCopy ? copy.data_ptr<c10::BFloat16>() : nullptr;
    at::parallel_for(0, p.numel(), int64_t{1} << 15, [&](int64_t begin, int64_t end) {
      updateElements<T, G, WriteCopy>(pd + begin, gd + begin, md + begin, vd + begin, WriteCopy ? cd + begin : nullptr, end - begin, k, s);
    });
  }

  // Elements per slice of the denominator: 16 MB in float32, large enough to keep every thread busy.
  static constexpr int64_t kSlice = int64_t{1} << 22;

  static void applyInSlices(at::Tensor& p, const at::Tensor& m, const at::Tensor& v, double stepSize, double biasCorrection2Sqrt, double eps) {
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

// adamwStepMixed(opt, masters, copies, scale | null): the step with each master's gradient read
// from its compute copy (scaled) and the updated weight written back into the copy.
Napi::Value AdamWStepMixed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& opt = unwrapAdamW(info[0]);
  std::vector<at::Tensor> masters = tensorList(info[1], "adamwStepMixed masters");
  std::vector<at::Tensor> copies = tensorList(info[2], "adamwStepMixed copies");
  if (masters.size() != copies.size())
    throw Napi::RangeError::New(env, "adamwStepMixed: " + std::to_string(masters.size()) + " masters but " + std::to_string(copies.size()) + " copies");
  LeanAdamW::Copies byMaster;
  for (size_t i = 0; i < masters.size(); ++i) {
    if (!masters[i].sizes().equals(copies[i].sizes()))
      throw Napi::RangeError::New(env, "adamwStepMixed: master " + std::to_string(i) + " has shape " + c10::str(masters[i].sizes()) +
                                           " but its copy has " + c10::str(copies[i].sizes()));
    byMaster.emplace(masters[i].unsafeGetTensorImpl(), copies[i]);
  }
  at::Tensor scale = info[3].IsNull() || info[3].IsUndefined() ? at::Tensor() : unwrapTensor(info[3], "adamwStepMixed scale");
  static_cast<LeanAdamW&>(opt).stepMixed(byMaster, scale);
  return env.Undefined();
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

std::vector<at::Tensor> definedGradients(const Napi::Value& params, const char* what) {
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : tensorList(params, what))
    if (p.grad().defined()) grads.push_back(p.grad());
  return grads;
}

double normTypeArgument(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].IsNumber() ? info[index].As<Napi::Number>().DoubleValue() : 2.0;
}

// gradNorm(params, normType=2) -> the global norm of the parameters' gradients (globalGradNorm).
Napi::Value GradNorm(const Napi::CallbackInfo& info) {
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> grads = definedGradients(info[0], "gradNorm params");
  if (grads.empty()) return wrapTensor(info.Env(), at::zeros({}, at::kFloat));
  return wrapTensor(info.Env(), globalGradNorm(grads, normTypeArgument(info, 1)));
}

// min(1, maxNorm / (norm + 1e-6)), as torch.nn.utils.clip_grad_norm_ scales: a 0-dim tensor beside `norm`.
at::Tensor clipCoefficientOf(const at::Tensor& norm, double maxNorm) { return (maxNorm / (norm + 1e-6)).clamp_max(1.0); }

// clipCoefficient(norm, maxNorm) -> the factor clipGradNorm scales the gradients by.
Napi::Value ClipCoefficient(const Napi::CallbackInfo& info) {
  at::NoGradGuard noGrad;
  return wrapTensor(info.Env(), clipCoefficientOf(unwrapTensor(info[0], "clipCoefficient norm"), info[1].As<Napi::Number>().DoubleValue()));
}

// clipGradNorm(params, maxNorm, normType=2) -> the total gradient norm before clipping, as a 0-dim
// tensor (the gradients' promoted dtype) on their device; the gradients are scaled by min(1, maxNorm / (norm + 1e-6)).
// As torch.nn.utils.clip_grad_norm_ in Python, and unlike libtorch's C++ one, which returns a
// double: the coefficient stays a tensor, so clipping never makes the host wait for the device
// (the trainer reads the norm once per step, together with the loss).
Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double maxNorm = info[1].As<Napi::Number>().DoubleValue();
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> grads = definedGradients(info[0], "clipGradNorm params");
  if (grads.empty()) return wrapTensor(env, at::zeros({}, at::kFloat));
  at::Tensor total = globalGradNorm(grads, normTypeArgument(info, 2));
  at::Tensor coefficient = clipCoefficientOf(total, maxNorm);
  for (at::Tensor& g : grads) g.mul_(coefficient.to(g.device()));
  return wrapTensor(env, std::move(total));
}

}  // namespace

void registerOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("createAdamW", guardedFunction(env, CreateAdamW));
  exports.Set("adamwStep", guardedFunction(env, AdamWStep));
  exports.Set("adamwStepMixed", guardedFunction(env, AdamWStepMixed));
  exports.Set("adamwZeroGrad", guardedFunction(env, AdamWZeroGrad));
  exports.Set("adamwSetLr", guardedFunction(env, AdamWSetLr));
  exports.Set("adamwGetLr", guardedFunction(env, AdamWGetLr));
  exports.Set("adamwGetState", guardedFunction(env, AdamWGetState));
  exports.Set("adamwSetState", guardedFunction(env, AdamWSetState));
  exports.Set("clipGradNorm", guardedFunction(env, ClipGradNorm));
  exports.Set("gradNorm", guardedFunction(env, GradNorm));
  exports.Set("clipCoefficient", guardedFunction(env, ClipCoefficient));
}

}  // namespace distillery
