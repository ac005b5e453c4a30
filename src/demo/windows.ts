// Language-model training examples from running text: each text is tokenized and cut into
// consecutive windows of `length` tokens, written as pre-tokenized JSON Lines (the `tokens` data
// format of `distillery distill`, every token a target).
import { writeTextAtomic } from '../io/atomic.js';
import type { TextTokenizer } from '../tokenizer/index.js';

export function tokenWindows(texts: string[], tokenizer: TextTokenizer, length: number): number[][] {
  const windows: number[][] = [];
  for (const text of texts) {
    const ids = tokenizer.encode(text);
    for (let start = 0; start + length <= ids.length; start += length) windows.push(ids.slice(start, start + length));
  }
  return windows;
}

export function writeWindows(path: string, windows: number[][]): void {
  writeTextAtomic(path, windows.map((ids) => `${JSON.stringify({ input_ids: ids })}\n`).join(''));
}
