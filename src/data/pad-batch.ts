// Right-padded batches. Padding is never attended to and never a target, and the batch says how
// many positions the loss averages over, so the trainer can normalise per token across accumulated
// micro-batches (DESIGN.md: means are over the valid tokens of the whole batch).
import type { TextTokenizer } from '../tokenizer/index.js';
import { DataError } from './errors.js';
import { IGNORE_INDEX, type EncodedExample, predictedTargets } from './segments.js';

export interface PaddedBatch {
  inputIds: number[][];
  /** 1 for real tokens, 0 for padding. */
  attentionMask: number[][];
  /** -100 on padding and on non-targets; unshifted. */
  labels: number[][];
  /** Positions t >= 1 with labels[t] != -100: the tokens the shifted loss predicts (logits at t-1). */
  targetTokens: number;
}

/** The id that pads batches: the tokenizer's pad token, else its eos, else 0 (never attended to or scored). */
export function paddingId(tokenizer: TextTokenizer | null): number {
  return tokenizer?.padTokenId ?? tokenizer?.eosTokenId ?? 0;
}

export function padBatch(examples: readonly EncodedExample[], padId: number): PaddedBatch {
  if (examples.length === 0) throw new DataError('padBatch: the batch has no examples');
  if (!Number.isSafeInteger(padId) || padId < 0) throw new DataError(`padBatch: padId must be a non-negative token id, got ${padId}`);
  const width = Math.max(...examples.map((e) => e.inputIds.length));
  const batch: PaddedBatch = { inputIds: [], attentionMask: [], labels: [], targetTokens: 0 };
  examples.forEach((example, i) => {
    const length = example.inputIds.length;
    if (example.labels.length !== length) throw new DataError(`padBatch: example ${i} has ${length} input ids but ${example.labels.length} labels`);
    const padding = width - length;
    batch.inputIds.push([...example.inputIds, ...new Array<number>(padding).fill(padId)]);
    batch.attentionMask.push([...new Array<number>(length).fill(1), ...new Array<number>(padding).fill(0)]);
    batch.labels.push([...example.labels, ...new Array<number>(padding).fill(IGNORE_INDEX)]);
    batch.targetTokens += predictedTargets(example.labels);
  });
  return batch;
}
