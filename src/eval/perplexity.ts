// Perplexity: the token-weighted mean negative log-likelihood of each token given its prefix,
// over many sequences, batched with right padding that never counts.
import type { CausalLM } from '../models/decoder/model.js';
import { batchInput, checkTokenIds } from '../models/decoder/batch-input.js';
import { crossEntropy, noGrad, tensor, tidy } from '../tensor/index.js';
import { scoreEveryToken } from './compare.js';
import { targetRows } from './targets.js';

export interface PerplexityResult {
  /** Mean NLL in nats per predicted token. */
  nll: number;
  perplexity: number;
  /** Predicted tokens counted (each sequence of n tokens predicts n − 1). */
  tokens: number;
  sequences: number;
}

export interface PerplexityOptions {
  batchSize?: number;
  /** Longer sequences are cut into consecutive windows of this many tokens. */
  maxLength?: number;
  onBatch?: (done: number, total: number) => void;
}

/** Splits sequences longer than maxLength into windows; drops pieces too short to predict anything. */
export function windows(sequences: number[][], maxLength: number): number[][] {
  return sequences.flatMap((ids) => {
    const out: number[][] = [];
    for (let start = 0; start < ids.length; start += maxLength) out.push(ids.slice(start, start + maxLength));
    return out.filter((w) => w.length >= 2);
  });
}

export function perplexity(model: CausalLM, sequences: number[][], options: PerplexityOptions = {}): PerplexityResult {
  const batchSize = options.batchSize ?? 8;
  const pieces = windows(sequences, options.maxLength ?? model.config.maxPositionEmbeddings);
  const vocab = model.config.vocabSize;
  for (const ids of pieces) checkTokenIds(ids, vocab);
  // Similar lengths together: less padding per batch. Padding is never scored (see targets.ts).
  const sorted = [...pieces].sort((a, b) => b.length - a.length);
  const batches = scoreEveryToken(sorted, batchSize);
  let totalNll = 0;
  let totalTokens = 0;
  noGrad(() => {
    batches.forEach((batch, b) => {
      tidy(() => {
        const input = batchInput(batch.inputIds, batch.attentionMask, model.device);
        const labels = tensor(batch.labels, { dtype: 'int64', device: model.device });
        const { rows, targets } = targetRows(model.forward(input.ids, input.options), labels);
        totalNll += crossEntropy(rows.float(), targets, { reduction: 'sum' }).item();
        totalTokens += targets.numel;
      });
      options.onBatch?.(b + 1, batches.length);
    });
  });
  if (totalTokens === 0) throw new RangeError('perplexity needs at least one sequence of two or more tokens');
  const nll = totalNll / totalTokens;
  return { nll, perplexity: Math.exp(nll), tokens: totalTokens, sequences: pieces.length };
}
