// Log-probabilities as vLLM reports them, for rows of logits: float32 log-softmax whatever the
// model's dtype, each row's target token (the next prompt token, or the token just chosen) with its
// rank, and the top k. Read back to the host as flat typed arrays, so that a response holding the
// whole vocabulary at many positions keeps one number per entry, not one object.
import { noGrad, type Tensor, tensor, tidy } from '../tensor/index.js';

export interface LogprobTable {
  /** Entries per row in topIds / topLogprobs (0: the target only). */
  k: number;
  /** [rows × k] ids by descending logprob (rank j + 1 at column j, as torch.topk orders them). */
  topIds: Int32Array;
  topLogprobs: Float32Array;
  /** Per row: the target id, its logprob, and its rank: its place in the top k, else how many ids score at least as high, itself included (vLLM's batched_count_greater_than). */
  targetIds: Int32Array;
  targetLogprobs: Float32Array;
  targetRanks: Int32Array;
}

/** One row of a table, and how many of its top entries its request asked for (a table serves the largest k of its rows). */
export interface LogprobRow {
  table: LogprobTable;
  row: number;
  k: number;
}

/**
 * The table of `logits` [n, V] (any float dtype) for `targets` (n ids) and top `k` (<= V). Log-softmax
 * is x - logsumexp(x) in float32, formed only where it is read: the top k (ranked on the logits,
 * the same order) and the targets. A target's rank is its place in the top k when it is there, and
 * is counted over the whole row only when it is not: each full pass over [n × V] costs as much as
 * the head's matmul on a CPU.
 */
export function logprobTable(logits: Tensor, targets: readonly number[], k: number): LogprobTable {
  return noGrad(() =>
    tidy(() => {
      const device = logits.device;
      const scores = logits.to('float32');
      const logNormalizer = scores.logsumexp(-1, true);
      const target = tensor([...targets], { dtype: 'int64', device }).unsqueeze(1);
      const targetScores = scores.gather(1, target);
      const targetLogprobs = targetScores.sub(logNormalizer);
      const top = k > 0 ? scores.topk(k) : null;
      const topIds = top ? (top.indices.to('int32').toTypedArray() as Int32Array) : new Int32Array(0);
      const topLogprobs = top ? (top.values.sub(logNormalizer).toTypedArray() as Float32Array) : new Float32Array(0);
      const targetRanks = new Int32Array(targets.length);
      const counted: number[] = [];
      targets.forEach((id, row) => {
        const at = topIds.subarray(row * k, (row + 1) * k).indexOf(id);
        if (at >= 0) targetRanks[row] = at + 1;
        else counted.push(row);
      });
      if (counted.length > 0) {
        // Within a row, logprob ≥ the target's ⟺ logit ≥ the target's (the same normaliser): one
        // comparison pass over the logits as they are. Rows ranked already are counted too when
        // they are few (a copy of the others would cost more than the pass).
        const rows = counted.length < targets.length / 2 ? tensor(counted, { dtype: 'int64', device }) : null;
        const atLeast = rows ? scores.indexSelect(0, rows).ge(targetScores.indexSelect(0, rows)) : scores.ge(targetScores);
        const ranks = atLeast.sum(-1).to('int32').toTypedArray() as Int32Array;
        counted.forEach((row, i) => (targetRanks[row] = ranks[rows ? i : row]!));
      }
      return { k, topIds, topLogprobs, targetIds: Int32Array.from(targets), targetLogprobs: targetLogprobs.reshape(-1).toTypedArray() as Float32Array, targetRanks };
    }),
  );
}

/**
 * A row's entries in vLLM's order (vllm/logprobs.py append_logprobs_for_next_position): the target
 * first, then the top k by rank; a target that is among the top k appears once, first, with its
 * top-k rank. `limit` keeps the first entries only (the legacy format's top logprobs + 1).
 */
export function rowEntries(ref: LogprobRow, limit = Infinity): { id: number; logprob: number; rank: number }[] {
  const { table, row, k } = ref;
  const target = table.targetIds[row]!;
  const base = row * table.k;
  // The table ranked the target already (its place in the top k, which a smaller row k shares).
  const entries = [{ id: target, logprob: table.targetLogprobs[row]!, rank: table.targetRanks[row]! }];
  for (let j = 0; j < k && entries.length < limit; j++) {
    const id = table.topIds[base + j]!;
    if (id !== target) entries.push({ id, logprob: table.topLogprobs[base + j]!, rank: j + 1 });
  }
  return entries.slice(0, limit);
}
