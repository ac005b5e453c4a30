// Choosing the next token from logits: greedy, or sampling with temperature, top-k and top-p
// (nucleus) filtering, as transformers' logits warpers do, from a seeded generator. Rows of a batch
// are chosen together: one read of the chosen ids per generated position, whatever the batch.
import { type Generator, multinomial, type Tensor, tidy, where } from '../../tensor/index.js';

export interface SamplingOptions {
  /** Argmax instead of sampling (also when temperature is 0). */
  greedy?: boolean;
  temperature?: number;
  /** Keep only the k most likely tokens (0: off). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1: off). */
  topP?: number;
  generator?: Generator;
}

export function validateSampling(options: SamplingOptions): void {
  const { temperature = 1, topK = 0, topP = 1 } = options;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`top-k must be a non-negative integer, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`top-p must be in (0, 1], got ${topP}`);
}

/** The next token id of every row of logits [B, V]. */
export function sampleTokens(logits: Tensor, options: SamplingOptions): number[] {
  return tidy(() => {
    const { temperature = 1, topK = 0, topP = 1 } = options;
    if (options.greedy || temperature === 0) return logits.argmax(-1).toArray();
    let scores = logits.to('float32').div(temperature);
    if (topK > 0 && topK < scores.size(-1)) {
      const kth = scores.topk(topK).values.narrow(-1, topK - 1, 1);
      scores = scores.maskedFill(scores.lt(kth), -Infinity);
    }
    if (topP < 1) {
      const { values, indices } = scores.sort(-1, true);
      const probs = values.softmax(-1);
      // Drop a token when the tokens ranked above it already reach p; the top token always stays.
      const before = probs.cumsum(-1).sub(probs);
      const dropSorted = before.ge(topP);
      const drop = dropSorted.gather(-1, indices.argsort());
      scores = where(drop, -Infinity, scores);
    }
    // The seeded generator lives on the CPU: the probabilities go there to be sampled from.
    const probs = scores.softmax(-1);
    return multinomial(options.generator ? probs.to('cpu') : probs, 1, { generator: options.generator }).reshape(-1).toArray();
  });
}

/** The next token id for logits [V]. */
export function sampleToken(logits: Tensor, options: SamplingOptions): number {
  return tidy(() => sampleTokens(logits.unsqueeze(0), options)[0]!);
}
