// One byte per cached log-probability. Each row's values are stored as distances ℓ = max − log p
// below the row's largest, on a per-row scale s (the row's own spread, at most MAX_SPREAD nats),
// through a map that is fine near the top and coarser further down:
//   ℓ(c) = s · (A·u + (1 − A)·u²),  u = c / 255
// so the largest probabilities — which carry most of the loss and its gradient — are kept to
// ±0.9 % or better, and a value 24 nats (10⁻¹⁰ times) below the top to ±8 %. Probabilities further
// down than MAX_SPREAD are stored at MAX_SPREAD (their mass is below 10⁻¹⁰ of the largest).
// Reading back renormalises: the decoded top-k probabilities are scaled to hold exactly the mass
// the tail does not (1 − tail, with the tail stored beside them), so each row is a distribution.
import { type Tensor, tidy } from '../../tensor/index.js';

const LEVELS = 255;
/** The linear share A of the map (its slope at the top, relative to the mean slope). */
const A = 0.2;
const MAX_SPREAD = 24;
/** A row whose values are all equal (k = 1, or ties) gets this spread instead of 0. */
const MIN_SPREAD = 2 ** -14;

export interface CodedLogProbs {
  /** [K, k] uint8, in the same order as the input. */
  codes: Tensor;
  /** [K] float16: each row's spread s. */
  spread: Tensor;
}

/** Codes for log-probabilities [K, k] (any order within a row). */
export function encodeLogProbs(logProbs: Tensor): CodedLogProbs {
  return tidy(() => {
    const distance = logProbs.maxDim(-1, true).values.sub(logProbs); // ℓ ≥ 0
    // The spread is stored as float16, and the codes are made against the stored value.
    const spread = distance.maxDim(-1).values.clamp(MIN_SPREAD, MAX_SPREAD).to('float16');
    const x = distance.div(spread.to('float32').unsqueeze(-1)).clamp(0, 1);
    // Solve s·(A·u + (1 − A)·u²) = ℓ for u ∈ [0, 1].
    const u = x.mul(4 * (1 - A)).add(A * A).sqrt().sub(A).div(2 * (1 - A));
    const codes = u.mul(LEVELS).round().clamp(0, LEVELS).to('uint8');
    return { codes, spread };
  });
}

/**
 * Log-probabilities [K, k] float32 from codes [K, k], spreads [K] and the tail log-masses [K]:
 * the decoded values renormalised so that Σ exp(log p) = 1 − exp(tail).
 */
export function decodeLogProbs(codes: Tensor, spread: Tensor, tailLogMass: Tensor): Tensor {
  return tidy(() => {
    const u = codes.to('float32').div(LEVELS);
    const relative = u.mul(1 - A).add(A).mul(u).mul(spread.to('float32').unsqueeze(-1)).neg(); // −ℓ
    // log(1 − exp(tail)); a tail that holds (almost) everything still leaves the top-k a tiny mass.
    const topMass = tailLogMass.to('float32').expm1().neg().clamp(1e-30).log();
    return relative.add(topMass.sub(relative.logsumexp(-1)).unsqueeze(-1));
  });
}
