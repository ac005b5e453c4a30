// The alignment metrics of a cross-tokenizer run: per step (metrics.jsonl) and over the run
// (summary.json), the shares of target positions in one-token spans, inside longer spans, and in none.
import type { AlignmentCounts } from './batch-plan.js';

export interface AlignmentShares {
  aligned_exact: number;
  aligned_in_spans: number;
  unaligned: number;
}

function shares(c: AlignmentCounts): AlignmentShares {
  const total = Math.max(1, c.exact + c.spans + c.unaligned);
  const share = (n: number) => +(n / total).toFixed(4);
  return { aligned_exact: share(c.exact), aligned_in_spans: share(c.spans), unaligned: share(c.unaligned) };
}

/** No targets counted yet. */
export const noAlignment = (): AlignmentCounts => ({ exact: 0, spans: 0, unaligned: 0 });

/** Adds `more` into `into` (micro-batches into a step, steps into a run). */
export function addAlignment(into: AlignmentCounts, more: AlignmentCounts): void {
  into.exact += more.exact;
  into.spans += more.spans;
  into.unaligned += more.unaligned;
}

export class AlignmentTotals {
  readonly #total = noAlignment();

  /** Counts one step; returns its shares. */
  add(step: AlignmentCounts): AlignmentShares {
    addAlignment(this.#total, step);
    return shares(step);
  }

  /** The shares over every step counted. */
  shares(): AlignmentShares {
    return shares(this.#total);
  }
}
