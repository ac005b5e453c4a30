// What `distillery eval --data` scores: each record's `input_ids` (pre-tokenized) or its whole `text`.
// Reading (files, folders, hub datasets) is readRecords'; this only picks the field.
import { DataError } from './errors.js';
import { readRecords, type ReadOptions } from './read-records.js';

export type TextRecord = { ids: number[] } | { text: string };

export async function readTextRecords(spec: string, options: ReadOptions = {}): Promise<{ records: TextRecord[]; source: string }> {
  const { records, source } = await readRecords(spec, options);
  const converted = records.map((record, i): TextRecord => {
    if (Array.isArray(record.input_ids)) {
      if (!record.input_ids.every((id) => Number.isSafeInteger(id) && (id as number) >= 0)) {
        throw new DataError(`${source}: record ${i}: input_ids must be non-negative integers`);
      }
      return { ids: record.input_ids as number[] };
    }
    if (typeof record.text === 'string') return { text: record.text };
    throw new DataError(`${source}: record ${i}: expected an 'input_ids' list or a 'text' string, found fields ${Object.keys(record).join(', ') || '(none)'}`);
  });
  return { records: converted, source };
}
