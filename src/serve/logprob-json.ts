// Logprobs as JSON text in vLLM's two shapes: the per-position dicts of `prompt_logprobs` (vLLM's
// extension: {"<id>": {"logprob", "rank", "decoded_token"}}) and OpenAI's legacy completion
// `logprobs` object. Written as text straight from the typed arrays: at k = vocabulary size a
// position has one entry per token id, and building objects to stringify them would cost more
// than the forward pass.
import { type LogprobRow, rowEntries } from './logprob-tables.js';
import type { TokenStrings } from './token-strings.js';

/** A logprob as vLLM's pydantic models write it: -inf clamped to -9999.0 (clamp_prompt_logprobs), NaN as null. */
export function logprobNumber(x: number): string {
  if (x === -Infinity) return '-9999.0';
  return Number.isFinite(x) ? String(x) : 'null';
}

/**
 * One position of a choice's prompt_logprobs: the actual token first, then the top k by rank.
 * Built from pieces cached per id and joined once (about 2 µs per entry: at k = V the cost of a
 * position is the number formatting and one copy of its text, not objects).
 */
export function promptLogprobsPosition(ref: LogprobRow, strings: TokenStrings): string {
  const { table, row, k } = ref;
  const { topIds, topLogprobs } = table;
  const target = table.targetIds[row]!;
  const base = row * table.k;
  // The table ranked the target already (its place in the top k, which a smaller row k shares).
  const pieces: string[] = ['{', strings.entryStart(target), logprobNumber(table.targetLogprobs[row]!), `,"rank":${table.targetRanks[row]!}`, strings.entryEnd(target)];
  for (let j = 0; j < k; j++) {
    const id = topIds[base + j]!;
    if (id === target) continue;
    pieces.push(',', strings.entryStart(id), logprobNumber(topLogprobs[base + j]!), ',"rank":', String(j + 1), strings.entryEnd(id));
  }
  pieces.push('}');
  return pieces.join('');
}

/** A token out (prompt or generated): its id and its logprob row (null for the first prompt token, which has none). */
export interface TokenOut {
  id: number;
  row: LogprobRow | null;
}

/** Characters as Python's len() counts them (code points), for text_offset. */
export function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n;
}

/**
 * OpenAI's legacy `logprobs` ({"text_offset", "token_logprobs", "tokens", "top_logprobs"}) as vLLM's
 * _create_completion_logprobs builds it: each token as decode([id]); top_logprobs keyed by those
 * strings, holding the token itself and the top `topK` (topK + 1 entries at most; entries whose
 * strings coincide collapse, as in a Python dict); text offsets counted from `initialOffset`.
 */
export function legacyLogprobs(tokens: readonly TokenOut[], topK: number, strings: TokenStrings, initialOffset = 0): string {
  const offsets: number[] = [];
  const values: string[] = [];
  const texts: string[] = [];
  const tops: string[] = [];
  let offset = initialOffset;
  for (const { id, row } of tokens) {
    const text = strings.text(id);
    offsets.push(offset);
    offset += codePoints(text);
    texts.push(strings.json(id));
    if (!row) {
      values.push('null');
      tops.push('null');
      continue;
    }
    values.push(logprobNumber(Math.max(row.table.targetLogprobs[row.row]!, -9999)));
    const dict = new Map<string, number>();
    for (const entry of rowEntries(row, topK + 1)) dict.set(strings.json(entry.id), Math.max(entry.logprob, -9999));
    tops.push(`{${[...dict].map(([key, lp]) => `${key}:${logprobNumber(lp)}`).join(',')}}`);
  }
  return `{"text_offset":[${offsets.join(',')}],"token_logprobs":[${values.join(',')}],"tokens":[${texts.join(',')}],"top_logprobs":[${tops.join(',')}]}`;
}
