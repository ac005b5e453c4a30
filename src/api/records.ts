// The metrics records as distill()'s onRecord and distillRecords() hand them over: the lines of
// metrics.jsonl with their keys camelCased (`kd_loss` in the file is `kdLoss` here), as every
// object the TypeScript API returns is camelCase while the files stay snake_case (report/key-case.ts).
import { camelCaseKeys } from '../report/key-case.js';
import type { MetricsRecord as MetricsLine } from '../report/metrics.js';

/** One optimizer step (metrics.jsonl's `"type": "train"` line). */
export interface TrainRecord {
  type: 'train';
  step: number;
  epoch: number;
  /** The step's loss: α·KD + (1 − α)·CE (plus any student-side KD term). */
  loss: number;
  kdLoss: number;
  /** Null when every micro-batch of the step was on-policy (no reference answer). */
  ceLoss: number | null;
  lr: number;
  /** Target tokens the loss was taken over, and all input tokens of the step. */
  tokens: number;
  inputTokens: number;
  /** Input tokens per second (`tokens_per_s`). */
  tokensPerS: number;
  /** The gradient norm before clipping; null without clipping (`maxGradNorm: 0`). */
  gradNorm: number | null;
  stepSeconds: number;
  /** The step's resident memory high-water mark, MiB (null where the platform has none). */
  peakRssMb: number | null;
  /** On CUDA: the caching allocator's peak, MiB. */
  cudaMaxAllocatedMb?: number;
  /** With on-policy or generated answers: the step's share of on-policy micro-batches and what generation made. */
  onPolicyFraction?: number;
  generatedTokens?: number;
  generationSeconds?: number;
  generationTokensPerS?: number;
  /** Several processes: the seconds spent in the gradient all-reduce. */
  allreduceSeconds?: number;
  /**
   * With `crossTokenizer`: the shares of the step's targets in a one-token span on each side (the same
   * string in both vocabularies), inside a span of several tokens, and in no span (cross-entropy only).
   */
  alignedExact?: number;
  alignedInSpans?: number;
  unaligned?: number;
}

/** One held-out evaluation (metrics.jsonl's `"type": "eval"` line); the teacher's fields are null without a teacher. */
export interface EvalRecord {
  type: 'eval';
  step: number;
  studentNll: number;
  studentPerplexity: number;
  teacherNll: number | null;
  teacherPerplexity: number | null;
  top1Agreement: number | null;
  klTeacherStudent: number | null;
  /** Several teachers: the student's KL to each local teacher, by name (the comparison's teacher first). */
  klByTeacher?: Record<string, number>;
  evalTokens: number;
}

/** A metrics.jsonl record, camelCase; narrow on `type`. */
export type MetricsRecord = TrainRecord | EvalRecord;

/** A metrics.jsonl line as the API hands it over. */
export function apiRecord(line: MetricsLine): MetricsRecord {
  return camelCaseKeys(line) as unknown as MetricsRecord;
}
