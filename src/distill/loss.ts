// The distillation loss of DESIGN.md, for one micro-batch. For every target position t (label not
// -100 after the shift, so padding and masked prompt tokens never count):
//   kd_t = τ²·D(softmax(z_T/τ), softmax(z_S/τ)),  ce_t = −log softmax(z_S)[y_{t+1}]
// Logits at position t predict the label at t+1. This returns the sums and the count; the step
// divides by the target count of the whole accumulated batch, so the loss is a per-token mean. The
// loss also owns its kernel: lossGradient runs the fused KD kernel where kernelsFor allows it and
// the loss is the one that kernel computes, else autograd through the sums below.
import { rowsAt, targetRows } from '../eval/targets.js';
import { aten, cat, crossEntropy, fusedKdLoss, kernelsFor, stack, type Tensor, tidy, zerosLike } from '../tensor/index.js';
import type { CachedRows } from './teacher-cache/reader.js';
import { divergencePerToken } from './divergences.js';
import type { BucketRows, RoutedPart, TeacherRows } from './teacher-rows.js';
import { crossRowLossSums } from './cross-tokenizer/loss.js';
import type { LossSettings, LossSums } from './loss-types.js';

export type { LossSettings, LossSums } from './loss-types.js';

/** Loss math runs in float32 at least (bf16/fp16 logits are upcast; float64 stays float64). */
export function lossPrecision(logits: Tensor): Tensor {
  return logits.dtype === 'float64' ? logits : logits.to('float32');
}

/**
 * Σ kd_t and Σ ce_t over target rows: student and teacher logits [K, V] and targets [K]. Without a
 * teacher (plain language-model training, α = 0) the KD sum is 0.
 */
export function rowLossSums(student: Tensor, teacher: Tensor | null, targets: Tensor, settings: LossSettings): LossSums {
  return tidy(() => {
    if (teacher === null) {
      const ceSum = crossEntropy(lossPrecision(student), targets, { reduction: 'sum' });
      return { kdSum: zerosLike(ceSum), ceSum, count: targets.numel };
    }
    const shared = settings.sharedVocab ?? Math.min(student.size(-1), teacher.size(-1));
    const full = lossPrecision(student);
    const s = full.slice(-1, 0, shared);
    const t = lossPrecision(teacher.slice(-1, 0, shared));
    const kdSum = divergencePerToken(t.detach(), s, settings.temperature, settings.divergence).sum();
    // CE uses the student's full vocabulary: its own padded rows are still part of its softmax.
    const ceSum = crossEntropy(full, targets, { reduction: 'sum' });
    return { kdSum, ceSum, count: targets.numel };
  });
}

/** The same sums from full [B, T, V] logits and unshifted labels [B, T]. */
export function distillationSums(studentLogits: Tensor, teacherLogits: Tensor, labels: Tensor, settings: LossSettings): LossSums {
  return tidy(() => {
    const { rows, targets, index } = targetRows(studentLogits, labels);
    return rowLossSums(rows, rowsAt(teacherLogits, index), targets, settings);
  });
}

/**
 * DESIGN.md's mix, α·Σkd/N + (1−α)·Σce/N, for a step whose accumulated batch has N target
 * positions: the tensor autograd differentiates (the fused kernel's gradient is of the same mix).
 */
export function combineLoss(sums: LossSums, alpha: number, totalTargets: number): Tensor {
  return tidy(() => sums.kdSum.mul(alpha / totalTargets).add(sums.ceSum.mul((1 - alpha) / totalTargets)));
}

/**
 * The same mix of sums already read from the device: the loss a step reports. `kdOnlySum` is the
 * KD sum of micro-batches with no reference answer (on-policy), which enters alone (α = 1 there).
 */
export function mixedLoss(kdSum: number, ceSum: number, alpha: number, totalTargets: number, kdOnlySum = 0): number {
  return (alpha * kdSum + (1 - alpha) * ceSum + kdOnlySum) / totalTargets;
}

/** Σkd and Σce of student logits [K, V] against the teacher's rows, whatever their kind. */
export function lossSums(student: Tensor, teacher: TeacherRows, targets: Tensor, settings: LossSettings): LossSums {
  if (teacher.kind === 'top-k') return cachedRowLossSums(student, teacher.rows, targets, settings);
  if (teacher.kind === 'cross') return crossRowLossSums(student, teacher.rows, targets, settings);
  if (teacher.kind === 'buckets') return bucketRowLossSums(student, teacher.rows, targets, settings);
  if (teacher.kind === 'routed') return routedLossSums(student, teacher.parts, targets, settings);
  return rowLossSums(student, teacher.kind === 'logits' ? teacher.logits : null, targets, settings);
}

/** Σkd and Σce of rows routed to several teachers (--teacher-route): each part against its own teacher's rows. */
function routedLossSums(student: Tensor, parts: readonly RoutedPart[], targets: Tensor, settings: LossSettings): LossSums {
  return tidy(() => {
    const sums = parts.map((p) => lossSums(student.indexSelect(0, p.positions), p.rows, targets.indexSelect(0, p.positions), settings));
    const add = (pick: (s: LossSums) => Tensor) => sums.map(pick).reduce((a, b) => a.add(b));
    return { kdSum: add((s) => s.kdSum), ceSum: add((s) => s.ceSum), count: targets.numel };
  });
}

/**
 * Rows' [Σkd, Σce] and the gradient of their share of the step's loss, α·Σkd/N + (1−α)·Σce/N, with
 * respect to the student's logits [K, V] (not part of any graph): from the fused kernel where
 * kernelsFor offers it and the loss is the one it computes (forward KL against full teacher
 * logits), else by autograd through lossSums.
 */
export function lossGradient(logits: Tensor, teacher: TeacherRows, targets: Tensor, settings: LossSettings, totalTargets: number): { sums: Tensor; dLogits: Tensor } {
  if (teacher.kind === 'routed') {
    // Each teacher's rows through their own kernel (the fused one where they are logits); the
    // gradients land back at the rows' positions.
    return tidy(() => {
      const dLogits = zerosLike(logits);
      const sums = teacher.parts.map((p) => {
        const part = lossGradient(logits.indexSelect(0, p.positions), p.rows, targets.indexSelect(0, p.positions), settings, totalTargets);
        aten('aten::index_copy_', dLogits, 0, p.positions, part.dLogits).dispose();
        return part.sums;
      });
      return { sums: sums.reduce((a, b) => a.add(b)), dLogits };
    });
  }
  if (teacher.kind === 'logits' && settings.divergence.kind === 'forward-kl' && kernelsFor(logits.device, logits.dtype).kdLoss === 'fused') {
    return tidy(() => {
      const shared = settings.sharedVocab ?? Math.min(logits.size(-1), teacher.logits.size(-1));
      const { sums, grad } = fusedKdLoss(logits.to('float32'), teacher.logits.to('float32'), targets, { temperature: settings.temperature, alpha: settings.alpha, scale: 1 / totalTargets, shared });
      return { sums, dLogits: grad.to(logits.dtype) };
    });
  }
  logits.requiresGrad_();
  const sums = lossSums(logits, teacher, targets, settings);
  combineLoss(sums, settings.alpha, totalTargets).backward();
  return { sums: cat([sums.kdSum.reshape(1), sums.ceSum.reshape(1)]).detach(), dLogits: logits.grad! };
}

/**
 * The log-probability of a bucket that holds nothing: finite (so p·log p terms are 0·finite = 0,
 * never NaN) and far below any real log-probability (e^−10⁴ is 0 in float32 and float64).
 */
export const EMPTY_BUCKET = -1e4;

/**
 * A cache's rows restricted to the student's vocabulary. A teacher with more embedding rows
 * (gemma-3-4b: 262,208; gemma-3-1b: 262,144) may rank ids past the student's last row in its
 * top-k; no student logit matches them, so their mass joins the tail and their buckets are emptied
 * (ids pointed at 0, log-probability EMPTY_BUCKET on both sides). `beyond` marks them; null when
 * the teacher's vocabulary fits the student's (the cache's rows as they are).
 */
export function withinVocabulary(cached: CachedRows, vocab: number): { ids: Tensor; logProbs: Tensor; tailLogMass: Tensor; beyond: Tensor | null } {
  const { ids, logProbs, tailLogMass } = cached;
  if (cached.tailTokens + ids.size(-1) <= vocab) return { ids, logProbs, tailLogMass, beyond: null };
  const beyond = ids.ge(vocab);
  const outside = logProbs.maskedFill(beyond.logicalNot(), -Infinity);
  return {
    ids: ids.maskedFill(beyond, 0),
    logProbs: logProbs.maskedFill(beyond, EMPTY_BUCKET),
    tailLogMass: stack([tailLogMass, outside.logsumexp(-1)]).logsumexp(0),
    beyond,
  };
}

/**
 * Σ kd_t and Σ ce_t against an offline teacher cache: the teacher is known only through its top-k
 * log-probabilities and its tail log-mass. Both distributions are compared over the same k + 1
 * buckets (the k cached tokens, and "everything else"): the student's bucket probabilities are
 * exact (its top-k-id probabilities and one minus their sum). Temperature: the cached tokens are
 * tempered exactly (log p / τ, renormalised); the tail's tempered mass assumes its probability is
 * spread evenly over the V − k tokens it holds — exact at τ = 1, an approximation otherwise.
 */
export function cachedRowLossSums(student: Tensor, cached: CachedRows, targets: Tensor, settings: LossSettings): LossSums {
  return tidy(() => {
    const tau = settings.temperature;
    const s = lossPrecision(student);
    const { ids, logProbs, tailLogMass, beyond } = withinVocabulary(cached, s.size(-1));
    let teacherBuckets = logProbs.div(tau);
    // An empty tail (k = V: a served teacher asked for every token) is no bucket: its mass,
    // 1 − Σ top-k, would be rounding noise (~1e-8), which tempering raises to m^(1/τ) (1e-4 at τ = 2).
    const withTail = cached.tailTokens > 0 || beyond !== null;
    if (withTail) teacherBuckets = cat([teacherBuckets, temperedTail(tailLogMass, cached.tailTokens, tau).unsqueeze(-1)], -1);
    const studentBuckets = studentBucketLogProbs(s.div(tau).logSoftmax(-1), ids, beyond, withTail);
    // Both bucket vectors are (unnormalised) log-probabilities: at temperature 1 the divergence
    // renormalises them; the τ² factor of the KD term is applied here.
    const kdSum = divergencePerToken(teacherBuckets.detach(), studentBuckets, 1, settings.divergence).sum().mul(tau * tau);
    const ceSum = crossEntropy(s, targets, { reduction: 'sum' });
    return { kdSum, ceSum, count: targets.numel };
  });
}

/**
 * A tail of log-mass m over n tokens, tempered as if spread evenly over them: n·(m/n)^(1/τ)
 * (its log). Exact at τ = 1; a cache or a service knows nothing more of the tail.
 */
export function temperedTail(tailLogMass: Tensor, tailTokens: number, tau: number): Tensor {
  return tailLogMass.div(tau).add((1 - 1 / tau) * Math.log(Math.max(1, tailTokens)));
}

/**
 * The student's tempered log-probabilities `logS` [K, V] gathered into buckets: at `ids` (an
 * `empty` entry is no bucket: EMPTY_BUCKET), and, with a tail, the rest's log(1 − Σ).
 */
function studentBucketLogProbs(logS: Tensor, ids: Tensor, empty: Tensor | null, withTail: boolean): Tensor {
  const gathered = logS.gather(-1, ids);
  const top = empty ? gathered.maskedFill(empty, EMPTY_BUCKET) : gathered;
  return withTail ? cat([top, top.logsumexp(-1, true).expm1().neg().clamp(1e-12).log()], -1) : top;
}

/**
 * Σ kd_t and Σ ce_t against a target already in buckets and tempered (a mixture of teachers some of
 * which are known by their top-k): the student's tempered probabilities over the same buckets, the
 * divergence between them, times τ². The student's softmax is over the shared vocabulary.
 */
export function bucketRowLossSums(student: Tensor, buckets: BucketRows, targets: Tensor, settings: LossSettings): LossSums {
  return tidy(() => {
    const tau = settings.temperature;
    const s = lossPrecision(student);
    const shared = settings.sharedVocab ?? s.size(-1);
    const studentBuckets = studentBucketLogProbs(s.slice(-1, 0, shared).div(tau).logSoftmax(-1), buckets.ids, buckets.empty, true);
    const kdSum = divergencePerToken(buckets.logProbs.detach(), studentBuckets, 1, settings.divergence).sum().mul(tau * tau);
    const ceSum = crossEntropy(s, targets, { reduction: 'sum' });
    return { kdSum, ceSum, count: targets.numel };
  });
}
