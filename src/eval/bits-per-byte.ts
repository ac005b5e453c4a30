// Bits per byte: a model's negative log-likelihood of a text per UTF-8 byte of it. Perplexity is per
// token, so it cannot compare models whose tokenizers cut the same text into different tokens;
// bits per byte can. Each model reads the text through its own tokenizer, in windows of its context.
import type { CausalLM } from '../models/decoder/model.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { TokenBytes } from '../tokenizer/token-bytes.js';
import { perplexity, windows } from './perplexity.js';

export interface TextScore {
  /** Total NLL of the predicted tokens, nats. */
  nats: number;
  /** Predicted tokens: every token of each window but its first, which nothing predicts. */
  tokens: number;
  /** UTF-8 bytes those predicted tokens stand for. */
  bytes: number;
  /** On the model's own tokens. */
  perplexity: number;
  bitsPerByte: number;
}

/** nats / ln 2 / bytes. */
export function bitsPerByte(nats: number, bytes: number): number {
  if (!(bytes > 0)) throw new RangeError(`bits per byte needs a positive byte count, got ${bytes}`);
  return nats / Math.LN2 / bytes;
}

/**
 * Scores `model` on `texts` tokenized by `tokenizer` and cut into windows of `windowLength` tokens.
 * The first token of each window is predicted by nothing, so neither its NLL nor its bytes count.
 */
export function scoreText(model: CausalLM, tokenizer: TextTokenizer, texts: readonly string[], windowLength: number, batchSize = 16): TextScore {
  const pieces = windows(texts.map((text) => tokenizer.encode(text)), windowLength);
  const table = TokenBytes.of(tokenizer);
  let bytes = 0;
  for (const piece of pieces) for (let i = 1; i < piece.length; i++) bytes += table.bytesOf(piece[i]!).length;
  const result = perplexity(model, pieces, { batchSize, maxLength: windowLength });
  const nats = result.nll * result.tokens;
  return { nats, tokens: result.tokens, bytes, perplexity: result.perplexity, bitsPerByte: bitsPerByte(nats, bytes) };
}
