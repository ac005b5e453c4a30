// The default distillation loss of a chunk of target rows — forward KL at temperature τ plus
// cross-entropy — and its gradient with respect to the student's logits, in three passes over each
// row instead of the ~20 full-size elementwise kernels (and saved intermediates) that autograd runs
// through log_softmax, exp, sub, mul, sum and their backward. On CPU at a 151,936-token vocabulary
// those kernels are most of a KD step; here each row is read three times while it sits in cache.
//
// Per row, with u = s/τ, w = t/τ over the vocabulary both models share, and s over the student's:
//   kd  = τ²·Σ p_T·(log p_T − log q_S),  p_T = softmax(w), q_S = softmax(u)
//   ce  = logsumexp(s) − s[y]
//   ∂(α·kd + (1−α)·ce)/∂s = α·τ·(q_S − p_T) + (1−α)·(softmax(s) − onehot(y))   (q_S, p_T: 0 beyond the shared part)
// The gradient is scaled by `scale` (1/N: the loss is a mean over the step's N target tokens).
// x86-64 CPUs with AVX2 and FMA get a vectorised exp. The plain loop (same arithmetic) is what any
// other CPU gets when it calls the kernel; the trainer uses the kernel only where it is vectorised
// and autograd elsewhere (a scalar exp is slower than ATen's vectorised kernels). Tests run both.
#include "handles.h"
#include "vector-math.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>


namespace distillery {
namespace {

struct RowSettings {
  float invTau;
  float gradKd;  // α·τ·scale
  float gradCe;  // (1−α)·scale
  int64_t shared;
  int64_t vocab;
};

struct RowSums {
  double kd;  // Σ p_T·(log p_T − log q_S), before τ²
  double ce;
};

// Pass 2 keeps the exponentials it computes — the teacher's in the gradient row, the student's
// two in per-thread scratch rows — so pass 3 is multiplications only: 3 exps per element, not 5.
// A row and its scratch stay in cache between the passes (0.6 MB each at a 151,936-token vocabulary).
struct ScratchRows {
  float* studentAtTau;  // exp(s/τ − max/τ) over the shared part
  float* studentAtOne;  // exp(s − max) over the whole row
};

// The KD term of one element from its normalised probabilities: p_T·(log p_T − log q_S), where
// log p_T − log q_S = (t − s)/τ − (logZ'_T − logZ'_S) with logZ' = max/τ + log Σexp.
inline float klTerm(float pt, float t, float s, float invTau, float logZDiff) { return pt * ((t - s) * invTau - logZDiff); }

// Scalar reference of the three passes; also the path on CPUs without AVX2.
RowSums rowScalar(const float* s, const float* t, float* g, int64_t y, const RowSettings& r, ScratchRows x) {
  float mt = -std::numeric_limits<float>::infinity(), ms = mt;
  for (int64_t j = 0; j < r.shared; ++j) {
    mt = std::max(mt, t[j]);
    ms = std::max(ms, s[j]);
  }
  float m1 = ms;
  for (int64_t j = r.shared; j < r.vocab; ++j) m1 = std::max(m1, s[j]);
  double zt = 0, zs = 0, z1 = 0;
  for (int64_t j = 0; j < r.shared; ++j) {
    zt += g[j] = std::exp((t[j] - mt) * r.invTau);
    zs += x.studentAtTau[j] = std::exp((s[j] - ms) * r.invTau);
  }
  for (int64_t j = 0; j < r.vocab; ++j) z1 += x.studentAtOne[j] = std::exp(s[j] - m1);
  const float logZDiff = (mt - ms) * r.invTau + static_cast<float>(std::log(zt) - std::log(zs));
  const float invZt = static_cast<float>(1.0 / zt), invZs = static_cast<float>(1.0 / zs), invZ1 = static_cast<float>(1.0 / z1);
  double kd = 0;
  for (int64_t j = 0; j < r.shared; ++j) {
    const float pt = g[j] * invZt, qs = x.studentAtTau[j] * invZs, p1 = x.studentAtOne[j] * invZ1;
    kd += klTerm(pt, t[j], s[j], r.invTau, logZDiff);
    g[j] = r.gradKd * (qs - pt) + r.gradCe * p1;
  }
  for (int64_t j = r.shared; j < r.vocab; ++j) g[j] = r.gradCe * (x.studentAtOne[j] * invZ1);
  g[y] -= r.gradCe;
  return {kd, static_cast<double>(m1) + std::log(z1) - s[y]};
}

#ifdef DISTILLERY_AVX2
AVX2_FMA inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

// Adds 8 floats into 4 double lanes (sums over a whole vocabulary row keep double precision).
AVX2_FMA inline __m256d addWide(__m256d acc, __m256 v) {
  acc = _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
  return _mm256_add_pd(acc, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

AVX2_FMA inline double hsum(__m256d v) {
  __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

AVX2_FMA RowSums rowAvx2(const float* s, const float* t, float* g, int64_t y, const RowSettings& r, ScratchRows x) {
  const int64_t sharedVec = r.shared & ~int64_t(7);
  const float inf = std::numeric_limits<float>::infinity();
  // Pass 1: the maxima (shared part of both, then the rest of the student's row).
  __m256 vmt = _mm256_set1_ps(-inf), vms = vmt;
  for (int64_t j = 0; j < sharedVec; j += 8) {
    vmt = _mm256_max_ps(vmt, _mm256_loadu_ps(t + j));
    vms = _mm256_max_ps(vms, _mm256_loadu_ps(s + j));
  }
  float mt = hmax(vmt), ms = hmax(vms);
  for (int64_t j = sharedVec; j < r.shared; ++j) {
    mt = std::max(mt, t[j]);
    ms = std::max(ms, s[j]);
  }
  float m1 = ms;
  for (int64_t j = r.shared; j < r.vocab; ++j) m1 = std::max(m1, s[j]);
  // Pass 2: the three exponentials, kept, and their sums.
  const __m256 invTau = _mm256_set1_ps(r.invTau), bt = _mm256_set1_ps(mt * r.invTau), bs = _mm256_set1_ps(ms * r.invTau), b1 = _mm256_set1_ps(m1);
  __m256d zt = _mm256_setzero_pd(), zs = zt, z1 = zt;
  for (int64_t j = 0; j < sharedVec; j += 8) {
    const __m256 sv = _mm256_loadu_ps(s + j);
    const __m256 et = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(t + j), invTau, bt));
    const __m256 es = exp8(_mm256_fmsub_ps(sv, invTau, bs));
    const __m256 e1 = exp8(_mm256_sub_ps(sv, b1));
    _mm256_storeu_ps(g + j, et);
    _mm256_storeu_ps(x.studentAtTau + j, es);
    _mm256_storeu_ps(x.studentAtOne + j, e1);
    zt = addWide(zt, et);
    zs = addWide(zs, es);
    z1 = addWide(z1, e1);
  }
  double ztSum = hsum(zt), zsSum = hsum(zs), z1Sum = hsum(z1);
  for (int64_t j = sharedVec; j < r.shared; ++j) {
    ztSum += g[j] = std::exp((t[j] - mt) * r.invTau);
    zsSum += x.studentAtTau[j] = std::exp((s[j] - ms) * r.invTau);
    z1Sum += x.studentAtOne[j] = std::exp(s[j] - m1);
  }
  // The student's rows beyond the shared vocabulary (padded embeddings) count for CE only.
  __m256d rest = _mm256_setzero_pd();
  int64_t j = r.shared;
  for (; j + 8 <= r.vocab; j += 8) {
    const __m256 e1 = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), b1));
    _mm256_storeu_ps(x.studentAtOne + j, e1);
    rest = addWide(rest, e1);
  }
  z1Sum += hsum(rest);
  for (; j < r.vocab; ++j) z1Sum += x.studentAtOne[j] = std::exp(s[j] - m1);
  const float logZDiff = (mt - ms) * r.invTau + static_cast<float>(std::log(ztSum) - std::log(zsSum));
  const float invZt = static_cast<float>(1.0 / ztSum), invZs = static_cast<float>(1.0 / zsSum), invZ1 = static_cast<float>(1.0 / z1Sum);
  // Pass 3: the KD sum and the gradient, from the kept exponentials.
  const __m256 vInvZt = _mm256_set1_ps(invZt), vInvZs = _mm256_set1_ps(invZs), vInvZ1 = _mm256_set1_ps(invZ1), vLogZDiff = _mm256_set1_ps(logZDiff);
  const __m256 gradKd = _mm256_set1_ps(r.gradKd), gradCe = _mm256_set1_ps(r.gradCe);
  __m256d kd = _mm256_setzero_pd();
  for (int64_t k = 0; k < sharedVec; k += 8) {
    const __m256 pt = _mm256_mul_ps(_mm256_loadu_ps(g + k), vInvZt);
    const __m256 qs = _mm256_mul_ps(_mm256_loadu_ps(x.studentAtTau + k), vInvZs);
    const __m256 p1 = _mm256_mul_ps(_mm256_loadu_ps(x.studentAtOne + k), vInvZ1);
    const __m256 logRatio = _mm256_fmsub_ps(_mm256_sub_ps(_mm256_loadu_ps(t + k), _mm256_loadu_ps(s + k)), invTau, vLogZDiff);
    kd = addWide(kd, _mm256_mul_ps(pt, logRatio));
    _mm256_storeu_ps(g + k, _mm256_fmadd_ps(gradKd, _mm256_sub_ps(qs, pt), _mm256_mul_ps(gradCe, p1)));
  }
  double kdSum = hsum(kd);
  for (int64_t k = sharedVec; k < r.shared; ++k) {
    const float pt = g[k] * invZt, qs = x.studentAtTau[k] * invZs, p1 = x.studentAtOne[k] * invZ1;
    kdSum += klTerm(pt, t[k], s[k], r.invTau, logZDiff);
    g[k] = r.gradKd * (qs - pt) + r.gradCe * p1;
  }
  int64_t k = r.shared;
  for (; k + 8 <= r.vocab; k += 8) _mm256_storeu_ps(g + k, _mm256_mul_ps(gradCe, _mm256_mul_ps(_mm256_loadu_ps(x.studentAtOne + k), vInvZ1)));
  for (; k < r.vocab; ++k) g[k] = r.gradCe * (x.studentAtOne[k] * invZ1);
  g[y] -= r.gradCe;
  return {kdSum, static_cast<double>(m1) + std::log(z1Sum) - s[y]};
}

#endif

// kdLossRows(student [c, V] float32, teacher [c, Vt] float32, targets [c] int64, temperature,
// alpha, scale, shared, plainLoop?) -> [sums float64 [Σkd (τ² applied), Σce], grad float32 [c, V]]
Napi::Value KdLossRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor student = unwrapTensor(info[0], "kdLossRows student").contiguous();
  at::Tensor teacher = unwrapTensor(info[1], "kdLossRows teacher").contiguous();
  at::Tensor targets = unwrapTensor(info[2], "kdLossRows targets").contiguous();
  const double tau = info[3].As<Napi::Number>().DoubleValue();
  const double alpha = info[4].As<Napi::Number>().DoubleValue();
  const double scale = info[5].As<Napi::Number>().DoubleValue();
  const int64_t shared = info[6].As<Napi::Number>().Int64Value();
  TORCH_CHECK(student.device().is_cpu() && teacher.device().is_cpu() && targets.device().is_cpu(), "kdLossRows: CPU tensors only");
  TORCH_CHECK(student.scalar_type() == at::kFloat && teacher.scalar_type() == at::kFloat, "kdLossRows: float32 logits only");
  TORCH_CHECK(targets.scalar_type() == at::kLong, "kdLossRows: int64 targets");
  TORCH_CHECK(student.dim() == 2 && teacher.dim() == 2 && targets.dim() == 1, "kdLossRows: logits [rows, V] and targets [rows]");
  const int64_t rows = student.size(0), vocab = student.size(1), teacherVocab = teacher.size(1);
  TORCH_CHECK(teacher.size(0) == rows && targets.size(0) == rows, "kdLossRows: rows differ");
  TORCH_CHECK(shared >= 1 && shared <= vocab && shared <= teacherVocab, "kdLossRows: shared vocabulary out of range");
  TORCH_CHECK(tau > 0, "kdLossRows: temperature must be > 0");
  const int64_t* y = targets.data_ptr<int64_t>();
  for (int64_t i = 0; i < rows; ++i) TORCH_CHECK(y[i] >= 0 && y[i] < vocab, "kdLossRows: target ", y[i], " outside [0, ", vocab, ")");

  at::Tensor grad = at::empty({rows, vocab}, student.options());
  std::vector<RowSums> perRow(rows);
  const RowSettings settings{static_cast<float>(1.0 / tau), static_cast<float>(alpha * tau * scale), static_cast<float>((1.0 - alpha) * scale), shared, vocab};
  const float* s = student.data_ptr<float>();
  const float* t = teacher.data_ptr<float>();
  float* g = grad.data_ptr<float>();
  const bool plainLoop = info.Length() > 7 && info[7].IsBoolean() && info[7].As<Napi::Boolean>().Value();
  const bool vectorised = hasAvx2() && !plainLoop;
  at::parallel_for(0, rows, 1, [&](int64_t begin, int64_t end) {
    // Written before it is read (pass 2, then pass 3): no need to zero it.
    const std::unique_ptr<float[]> scratch(new float[2 * static_cast<size_t>(vocab)]);
    const ScratchRows x{scratch.get(), scratch.get() + vocab};
    for (int64_t i = begin; i < end; ++i) {
#ifdef DISTILLERY_AVX2
      if (vectorised) {
        perRow[i] = rowAvx2(s + i * vocab, t + i * teacherVocab, g + i * vocab, y[i], settings, x);
        continue;
      }
#endif
      perRow[i] = rowScalar(s + i * vocab, t + i * teacherVocab, g + i * vocab, y[i], settings, x);
    }
  });
  (void)vectorised;
  double kd = 0, ce = 0;
  for (const RowSums& r : perRow) {
    kd += r.kd;
    ce += r.ce;
  }
  at::Tensor sums = at::empty({2}, at::TensorOptions().dtype(at::kDouble));
  sums.data_ptr<double>()[0] = kd * tau * tau;
  sums.data_ptr<double>()[1] = ce;
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(uint32_t(0), wrapTensor(env, std::move(sums)));
  out.Set(uint32_t(1), wrapTensor(env, std::move(grad)));
  return out;
}

}  // namespace

void registerKdLoss(Napi::Env env, Napi::Object exports) {
  exports.Set("kdLossRows", guardedFunction(env, KdLossRows));
}

}  // namespace distillery
