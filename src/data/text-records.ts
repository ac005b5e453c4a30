// Evaluation inputs from a file: plain text, JSON Lines or a JSON array whose records carry
// `input_ids` (pre-tokenized) or `text`. The full dataset layer (prompt formats, masks) builds on this.
import { readFileSync } from 'node:fs';

export type TextRecord = { ids: number[] } | { text: string };

function fromObject(value: unknown, where: string): TextRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where}: a record must be a JSON object`);
  const record = value as Record<string, unknown>;
  if (Array.isArray(record.input_ids)) {
    if (!record.input_ids.every((id) => Number.isSafeInteger(id) && (id as number) >= 0)) throw new Error(`${where}: input_ids must be non-negative integers`);
    return { ids: record.input_ids as number[] };
  }
  if (typeof record.text === 'string') return { text: record.text };
  throw new Error(`${where}: expected an 'input_ids' array or a 'text' string, found fields ${Object.keys(record).join(', ') || '(none)'}`);
}

export function readTextRecords(path: string): TextRecord[] {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  if (path.endsWith('.jsonl')) {
    return content.split('\n').flatMap((line, i) => {
      if (line.trim() === '') return [];
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new Error(`${path}:${i + 1}: not valid JSON (${(error as Error).message})`);
      }
      return [fromObject(value, `${path}:${i + 1}`)];
    });
  }
  if (path.endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(content);
    } catch (error) {
      throw new Error(`${path}: not valid JSON (${(error as Error).message})`);
    }
    if (!Array.isArray(value)) throw new Error(`${path}: a .json dataset must be an array of records`);
    return value.map((v, i) => fromObject(v, `${path}[${i}]`));
  }
  return [{ text: content }];
}
