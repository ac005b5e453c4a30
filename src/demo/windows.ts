// Language-model training examples from running text: each text is tokenized and cut into
// consecutive windows of `length` tokens, written as pre-tokenized JSON Lines (the `tokens` data
// format of `distillery distill`, every token a target), or as text when another tokenizer must
// read the same examples.
import { writeTextAtomic } from '../io/atomic.js';
import type { TextTokenizer } from '../tokenizer/index.js';
import { TokenBytes } from '../tokenizer/token-bytes.js';

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

/**
 * The texts as pieces of `length` tokens of `tokenizer` (a token fewer where a cut would split a
 * character's bytes), each given back as text: records that tokenizers other than this one can read.
 */
export function textWindows(texts: string[], tokenizer: TextTokenizer, length: number): string[] {
  const table = TokenBytes.of(tokenizer);
  const startsInsideCharacter = (id: number) => ((table.bytesOf(id)[0] ?? 0) & 0xc0) === 0x80;
  const windows: string[] = [];
  for (const text of texts) {
    const ids = tokenizer.encode(text);
    for (let start = 0; start + length <= ids.length; ) {
      let end = start + length;
      while (end > start + 1 && end < ids.length && startsInsideCharacter(ids[end]!)) end--;
      windows.push(tokenizer.decode(ids.slice(start, end)));
      start = end;
    }
  }
  return windows;
}

/** Text records (`{"text": ...}` per line), the `text` data format of `distillery distill`. */
export function writeTextRecords(path: string, texts: string[]): void {
  writeTextAtomic(path, texts.map((text) => `${JSON.stringify({ text })}\n`).join(''));
}
