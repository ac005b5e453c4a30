// Perplexity: the token-weighted mean negative log-likelihood of each token given its prefix,
// over many sequences, batched with right padding that never counts.
import type { Qwen3ForCausalLM } from '../models/qwen3/model.js';
import { crossEntropy, noGrad, tensor, tidy } from '../tensor/index.js';

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

export function perplexity(model: Qwen3ForCausalLM, sequences: number[][], options: PerplexityOptions = {}): PerplexityResult {
  const batchSize = options.batchSize ?? 8;
  const pieces = windows(sequences, options.maxLength ?? model.config.maxPositionEmbeddings);
  const vocab = model.config.vocabSize;
  for (const ids of pieces) {
    const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad !== undefined) throw new RangeError(`token id ${bad} is outside the model's vocabulary [0, ${vocab})`);
  }
  // Similar lengths together: less padding per batch.
  const order = pieces.map((_, i) => i).sort((a, b) => pieces[b]!.length - pieces[a]!.length);
  let totalNll = 0;
  let totalTokens = 0;
  noGrad(() => {
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = order.slice(start, start + batchSize).map((i) => pieces[i]!);
      const width = Math.max(...batch.map((s) => s.length));
      const padded = batch.map((s) => [...s, ...new Array(width - s.length).fill(0)]);
      const mask = batch.map((s) => [...new Array(s.length).fill(1), ...new Array(width - s.length).fill(0)]);
      // Targets are the next tokens; padding targets are ignored (-100), so they never count.
      const targets = batch.map((s) => [...s.slice(1), ...new Array(width - s.length + 1).fill(-100)]);
      totalNll += tidy(() => {
        const device = model.device;
        const logits = model.forward(tensor(padded, { dtype: 'int64', device }), {
          attentionMask: batch.every((s) => s.length === width) ? undefined : tensor(mask, { dtype: 'int64', device }),
        });
        const target = tensor(targets, { dtype: 'int64', device });
        return crossEntropy(logits.reshape(-1, vocab).float(), target.reshape(-1), { reduction: 'sum' }).item();
      });
      totalTokens += batch.reduce((n, s) => n + s.length - 1, 0);
      options.onBatch?.(Math.min(start + batchSize, order.length), order.length);
    }
  });
  if (totalTokens === 0) throw new RangeError('perplexity needs at least one sequence of two or more tokens');
  const nll = totalNll / totalTokens;
  return { nll, perplexity: Math.exp(nll), tokens: totalTokens, sequences: pieces.length };
}
