// What the loss compares the student with, for a range of its target rows, whatever the teacher is
// (teacher-signal.ts builds them): types only, so that every source can name them without cycles.
import type { Tensor } from '../tensor/index.js';
import type { AlignmentCounts } from './cross-tokenizer/batch-plan.js';
import type { CrossRows } from './cross-tokenizer/loss.js';
import type { CachedRows } from './teacher-cache/reader.js';

/**
 * The teacher's predictions for some target rows: its logits [count, V_T], its cached top-k and
 * tail, its logits at the rows of another tokenization aligned with these (cross-tokenizer), or none.
 */
export type TeacherRows =
  | { kind: 'logits'; logits: Tensor }
  | { kind: 'top-k'; rows: CachedRows }
  | { kind: 'cross'; rows: CrossRows }
  | { kind: 'buckets'; rows: BucketRows }
  | { kind: 'routed'; parts: RoutedPart[] }
  | { kind: 'none' };

/**
 * A mixture of teachers some of which are known only by their top-k (teacher-ensemble/mixture.ts):
 * the target over buckets — every top-k teacher's ids, and one bucket for the rest of the
 * vocabulary — already tempered (the loss compares the student's tempered buckets with it).
 */
export interface BucketRows {
  /** [K, u] int64: the bucket ids (an `empty` entry points at 0). */
  ids: Tensor;
  /** [K, u] bool: entries that are no bucket (an id listed twice, or beyond the vocabulary). */
  empty: Tensor;
  /** [K, u + 1] the target's log-probabilities of the u buckets and, last, of the rest. */
  logProbs: Tensor;
}

/** Rows of a range that one teacher answers (--teacher-route): at `positions` [n] (int64) of the range. */
export interface RoutedPart {
  positions: Tensor;
  rows: TeacherRows;
}

/** Where the teacher's top-k rows are read from by example: an offline cache, or a served teacher's step (prefetched). */
export interface TopKRowsSource {
  rows(sourceIndices: readonly number[], device: string): CachedRows;
}

export interface TeacherSignal {
  /** The teacher's rows for target rows [start, start + count) (tensors owned by the caller's scope). */
  rowsAt(start: number, count: number): TeacherRows;
  /** Where rows can only be asked for in these ranges (cross-tokenizer: a span is never split); else any. */
  chunks?: readonly { start: number; count: number }[];
  /** Cross-tokenizer: how the micro-batch's targets were matched with the teacher's tokens. */
  alignment?: AlignmentCounts;
  dispose(): void;
}
