// The KD term when teacher and student tokenize differently (--cross-tokenizer). Their tokens are
// aligned into spans that cover the same bytes (alignment.ts); each span is scored once:
//
// - gold, a span of one token on each side (same bytes, so the same string): the ordinary
//   divergence (--loss, τ, τ²) between the two next-token distributions restricted to the tokens
//   both vocabularies share (vocabulary-map.ts) and renormalised there. With one tokenizer on both
//   sides every span is such a span and the map is the identity: exactly the ordinary KD loss.
// - every other span (gold), and every span (uld): Universal Logit Distillation (Boizard et al.,
//   2024) on the span's merged distributions, Σ_i |sort(p_T)_i − sort(p_S)_i| with both sorted in
//   descending order and the shorter vocabulary padded with zeros, no τ² factor.
//
// A span predicting tokens x_1 … x_k (on one side) is merged by the chain rule, as TRL's GOLD does
// with uld_token_merge_strategy="bayesian": p(x_1 … x_{k−1}, y) = p_k(y) · Π_{j<k} p_j(x_j), where
// p_j is the (tempered) distribution at the position that predicts x_j. It is the distribution of
// "the span's observed prefix, then y" — the one merge in which every factor is the prediction of
// the token it multiplies (GOLD's default "observed" merge reads each row one position late).
import { cat, crossEntropy, type Tensor, tidy, zeros } from '../../tensor/index.js';
import { divergencePerToken } from '../divergences.js';
import type { LossSettings, LossSums } from '../loss-types.js';

export type CrossTokenizerMethod = 'gold' | 'uld';

/** One side of a chunk's multi-token spans: which rows are merged into which span. */
export interface SpanSide {
  /** Per span, the row whose whole distribution the merge keeps (the span's last prediction). */
  lastRows: Tensor;
  /** Rows before the last in each span, the token each predicted, and the span it belongs to. */
  prefixRows: Tensor;
  prefixTokens: Tensor;
  prefixSpans: Tensor;
}

/** What a chunk of student target rows is compared with, all indices local to the chunk. */
export interface CrossRows {
  method: CrossTokenizerMethod;
  /** The teacher's logits [m, V_T] at the rows this chunk's spans use. */
  teacherLogits: Tensor;
  /** gold's one-token spans: student row i is compared with teacher row i over the mapped vocabulary. */
  exact: { studentRows: Tensor; teacherRows: Tensor } | null;
  /** Spans scored by ULD (count > 0), merged on each side. */
  spans: { count: number; student: SpanSide; teacher: SpanSide } | null;
  /** Token ids both vocabularies hold with the same bytes, pairwise (int64 [M] each). */
  vocabulary: { studentIds: Tensor; teacherIds: Tensor };
}

/** Log-probabilities [spans, V] of each span's merged distribution (see the header). */
function mergedLogProbs(logProbs: Tensor, side: SpanSide, count: number): Tensor {
  return tidy(() => {
    const last = logProbs.indexSelect(0, side.lastRows);
    if (side.prefixRows.numel === 0) return last;
    const observed = logProbs.indexSelect(0, side.prefixRows).gather(-1, side.prefixTokens.unsqueeze(-1)).squeeze(-1);
    const prefix = zeros([count], { dtype: logProbs.dtype, device: logProbs.device }).indexAdd(0, side.prefixSpans, observed);
    return last.add(prefix.unsqueeze(-1));
  });
}

/**
 * ULD per row of two probability matrices [N, V_a] and [N, V_b]: Σ_i |sort(a)_i − sort(b)_i| with
 * the shorter row padded with zeros — i.e. over the first min(V_a, V_b) sorted entries, plus the
 * longer row's remaining mass. Returns [N].
 */
export function uldPerRow(a: Tensor, b: Tensor): Tensor {
  return tidy(() => {
    const sa = a.sort(-1, true).values;
    const sb = b.sort(-1, true).values;
    const shared = Math.min(sa.size(-1), sb.size(-1));
    let distance = sa.slice(-1, 0, shared).sub(sb.slice(-1, 0, shared)).abs().sum(-1);
    const longer = sa.size(-1) > shared ? sa : sb.size(-1) > shared ? sb : null;
    if (longer) distance = distance.add(longer.slice(-1, shared).sum(-1));
    return distance;
  });
}

/** Σkd and Σce of a chunk's student logits [K, V_S] against the teacher's aligned rows. */
export function crossRowLossSums(student: Tensor, rows: CrossRows, targets: Tensor, settings: LossSettings): LossSums {
  return tidy(() => {
    const s = student.dtype === 'float64' ? student : student.to('float32');
    const t = rows.teacherLogits.to(s.dtype).detach();
    const tau = settings.temperature;
    const parts: Tensor[] = [];
    if (rows.exact && rows.exact.studentRows.numel > 0) {
      const { studentIds, teacherIds } = rows.vocabulary;
      // In float64: a float32 divergence over a 150k-token vocabulary is off in the 5th digit
      // (the fused kernel of the ordinary loss accumulates in double; this path must equal it).
      const studentMapped = s.indexSelect(0, rows.exact.studentRows).indexSelect(1, studentIds).to('float64');
      const teacherMapped = t.indexSelect(0, rows.exact.teacherRows).indexSelect(1, teacherIds).to('float64');
      parts.push(divergencePerToken(teacherMapped, studentMapped, tau, settings.divergence).sum().reshape(1));
    }
    if (rows.spans && rows.spans.count > 0) {
      const { count } = rows.spans;
      const studentMerged = mergedLogProbs(s.div(tau).logSoftmax(-1), rows.spans.student, count).exp();
      const teacherMerged = mergedLogProbs(t.div(tau).logSoftmax(-1), rows.spans.teacher, count).exp();
      parts.push(uldPerRow(teacherMerged, studentMerged).sum().reshape(1));
    }
    const ceSum = crossEntropy(s, targets, { reduction: 'sum' });
    const kdSum = parts.length > 0 ? cat(parts.map((p) => p.to(s.dtype))).sum() : zeros([], { dtype: s.dtype, device: s.device });
    return { kdSum, ceSum, count: targets.numel };
  });
}
