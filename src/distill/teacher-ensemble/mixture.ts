// Several teachers as one target (--teacher-weights): the mixture Σ_i w_i·softmax(z_i/τ) of the
// teachers' tempered distributions (the weights sum to 1), as the rows the loss compares the
// student with. Teachers whose every logit is known (local models) mix exactly over the shared
// vocabulary; where any is known only by its top-k (a cache, a service) the mixture is compared
// over buckets, as a single top-k teacher is (loss.ts cachedRowLossSums): one bucket per id in any
// top-k teacher's list, and one for the rest of the vocabulary.
import { aten, cat, full, stack, type Tensor, tidy } from '../../tensor/index.js';
import type { CachedRows } from '../teacher-cache/reader.js';
import { EMPTY_BUCKET, lossPrecision, temperedTail, withinVocabulary } from '../loss.js';
import type { LossSettings } from '../loss-types.js';
import type { TeacherRows } from '../teacher-rows.js';

/** The rows one teacher of a mixture gives: all its logits, or its top-k. */
export type MixableRows = Extract<TeacherRows, { kind: 'logits' } | { kind: 'top-k' }>;

/**
 * The tempered mixture of `parts` (one per teacher, the same target rows) with `weights` (positive,
 * summing to 1): logits rows when every teacher gave logits — τ·log Σ w_i·softmax(z_i/τ), so the
 * loss's own softmax(·/τ) of them is the mixture — else buckets.
 */
export function mixtureRows(parts: readonly MixableRows[], weights: readonly number[], settings: LossSettings, studentVocab: number): TeacherRows {
  return tidy(() => {
    const tau = settings.temperature;
    let vocab = settings.sharedVocab ?? studentVocab;
    for (const p of parts) if (p.kind === 'logits') vocab = Math.min(vocab, p.logits.size(-1));
    const tempered = (logits: Tensor) => lossPrecision(logits.slice(-1, 0, vocab)).div(tau).logSoftmax(-1);
    const mix = (logProbs: readonly Tensor[]) => stack(logProbs.map((lp, i) => lp.add(Math.log(weights[i]!)))).logsumexp(0);
    if (parts.every((p) => p.kind === 'logits')) {
      return { kind: 'logits', logits: mix(parts.map((p) => tempered((p as { logits: Tensor }).logits))).mul(tau) };
    }
    // Each teacher's tempered log-probabilities over the vocabulary, with one more column: a sink
    // for ids that are no bucket (beyond the vocabulary), always −∞.
    const rows = parts[0]!.kind === 'logits' ? parts[0]!.logits.size(0) : parts[0]!.rows.ids.size(0);
    const sinkColumn = (like: Tensor) => full([rows, 1], Number.NEGATIVE_INFINITY, { dtype: like.dtype, device: like.device });
    // A top-k teacher's ids with those beyond the vocabulary pointed at the sink.
    const sinkIds = new Map(parts.flatMap((p) => (p.kind === 'top-k' ? [[p, p.rows.ids.maskedFill(p.rows.ids.ge(vocab), vocab)] as const] : [])));
    const dense = parts.map((p) => {
      if (p.kind === 'top-k') return denseTopK(p.rows, sinkIds.get(p)!, vocab, tau);
      const t = tempered(p.logits);
      return cat([t, sinkColumn(t)], -1);
    });
    const ids = cat([...sinkIds.values()], -1).sort(-1).values;
    // Every id once: a repeat (the lists overlap) and the sink are no bucket.
    const repeated = ids.narrow(-1, 1, ids.size(-1) - 1).eq(ids.narrow(-1, 0, ids.size(-1) - 1));
    const empty = cat([full([rows, 1], false, { device: ids.device }), repeated], -1).logicalOr(ids.eq(vocab));
    const atIds = mix(dense.map((d) => d.gather(-1, ids))).maskedFill(empty, EMPTY_BUCKET);
    // The rest: each teacher's mass outside the buckets, mixed.
    const rest = mix(dense.map((d) => aten('aten::scatter.value', d, -1, ids, Number.NEGATIVE_INFINITY).logsumexp(-1))).clamp(EMPTY_BUCKET);
    return { kind: 'buckets', rows: { ids: ids.maskedFill(empty, 0), empty, logProbs: cat([atIds, rest.unsqueeze(-1)], -1) } };
  });
}

/**
 * A top-k teacher's tempered distribution over the vocabulary [K, vocab + 1] (last column the
 * sink, where `sinkIds` point the ids beyond the vocabulary): its k tokens as the cache path tempers them, and its tail's tempered mass spread evenly
 * over the tokens the tail holds within the vocabulary (what a top-k teacher says of them).
 */
function denseTopK(cached: CachedRows, sinkIds: Tensor, vocab: number, tau: number): Tensor {
  return tidy(() => {
    const { logProbs, tailLogMass, beyond } = withinVocabulary(cached, vocab);
    const top = logProbs.div(tau);
    const [rows, k] = cached.ids.shape as [number, number];
    const withTail = cached.tailTokens > 0 || beyond !== null;
    const tail = withTail ? temperedTail(tailLogMass, cached.tailTokens, tau) : full([rows], Number.NEGATIVE_INFINITY, { dtype: top.dtype, device: top.device });
    const norm = cat([top, tail.unsqueeze(-1)], -1).logsumexp(-1, true);
    // Tokens of the tail inside the vocabulary: those of the k that lie beyond it are not among them.
    const inside = beyond ? beyond.logicalNot().sum(-1).neg().add(vocab).to(top.dtype) : full([rows], vocab - k, { dtype: top.dtype, device: top.device });
    const perToken = tail.sub(inside.clamp(1).log()).unsqueeze(-1).sub(norm);
    const dense = perToken.expand(rows, vocab + 1).contiguous();
    const filled = aten('aten::scatter.src', dense, -1, sinkIds, top.sub(norm));
    filled.narrow(-1, vocab, 1).fill_(Number.NEGATIVE_INFINITY);
    return filled;
  });
}
