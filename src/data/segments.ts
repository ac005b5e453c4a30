// Text formats become a list of segments, each either prompt or response. Tokenizing each segment on
// its own and concatenating makes the mask boundary fall exactly between tokens: tokenizing the
// whole text and mapping character offsets back would leave a token straddling the boundary.
import type { TextTokenizer } from '../tokenizer/index.js';

export const IGNORE_INDEX = -100;

/** How many positions t >= 1 are targets: the tokens the shifted loss averages over. */
/** Positions t ≥ 1 whose label is kept: the tokens a causal LM is scored on (logits at t − 1 predict them). */
export function predictedPositions(labels: readonly number[]): number[] {
  const positions: number[] = [];
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) positions.push(t);
  return positions;
}

export function predictedTargets(labels: readonly number[]): number {
  let count = 0;
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) count++;
  return count;
}

/** Target tokens of a set of examples (predictedTargets of each). */
export function countTargets(examples: readonly { labels: readonly number[] }[]): number {
  return examples.reduce((n, e) => n + predictedTargets(e.labels), 0);
}

export interface Segment {
  text: string;
  /** Response text is a training target under response-only masking; prompt text never is. */
  role: 'prompt' | 'response';
}

export interface EncodedExample {
  inputIds: number[];
  /** inputIds[t] where token t is a training target, else -100; unshifted (the loss shifts). */
  labels: number[];
}

/**
 * Token ids and labels of `segments`. Adjacent segments of one role are joined first, so the
 * tokens, and the boundaries, are the same whether or not the prompt is masked: turning
 * response-only masking on changes the labels and nothing else.
 */
export function tokenizeSegments(tokenizer: TextTokenizer, segments: readonly Segment[], responseOnly: boolean): EncodedExample {
  const merged: Segment[] = [];
  for (const segment of segments) {
    if (segment.text === '') continue;
    const last = merged[merged.length - 1];
    if (last !== undefined && last.role === segment.role) last.text += segment.text;
    else merged.push({ ...segment });
  }
  const encoded = merged.map((segment) => ({ ids: tokenizer.encode(segment.text), target: !responseOnly || segment.role === 'response' }));
  const leading = missingLeadingIds(tokenizer, encoded[0]?.ids ?? []);
  const inputIds: number[] = [...leading];
  const labels: number[] = leading.map(() => IGNORE_INDEX);
  for (const { ids, target } of encoded) {
    for (const id of ids) {
      inputIds.push(id);
      labels.push(target ? id : IGNORE_INDEX);
    }
  }
  return { inputIds, labels };
}

/**
 * What transformers' tokenizer(text) puts before a text's own ids (Llama 3's <|begin_of_text|>,
 * Gemma's <bos>; Qwen adds none) and `ids` do not already start with (a chat template writes it itself).
 */
export function missingLeadingIds(tokenizer: TextTokenizer, ids: readonly number[]): number[] {
  const leading = leadingSpecialIds(tokenizer);
  return leading.every((id, i) => ids[i] === id) ? [] : leading;
}

/** A whole text's ids as transformers' tokenizer(text) gives them: the leading special ids, then the text's. */
export function encodeText(tokenizer: TextTokenizer, text: string): number[] {
  const ids = tokenizer.encode(text);
  return [...missingLeadingIds(tokenizer, ids), ...ids];
}

/** Per tokenizer: asked for every record, found once. */
const leadingIdsOf = new WeakMap<TextTokenizer, number[]>();

/** The ids the tokenizer's post-processor adds before a text's own (encode with special tokens, minus encode without). */
function leadingSpecialIds(tokenizer: TextTokenizer): number[] {
  let leading = leadingIdsOf.get(tokenizer);
  if (!leading) {
    leading = findLeadingSpecialIds(tokenizer);
    leadingIdsOf.set(tokenizer, leading);
  }
  return leading;
}

function findLeadingSpecialIds(tokenizer: TextTokenizer): number[] {
  const plain = tokenizer.encode('a');
  const special = tokenizer.encode('a', { addSpecialTokens: true });
  const start = special.findIndex((_, i) => plain.every((id, j) => special[i + j] === id));
  return start > 0 ? special.slice(0, start) : [];
}
