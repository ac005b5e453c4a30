// JSON Lines and JSON datasets. Errors name `file:line` (JSONL) or `file[index]` (JSON) so a bad
// record in a 100k-line file can be found with an editor.
import { DataError } from './errors.js';

export type DataRecord = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function asRecord(value: unknown, where: string): DataRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DataError(`${where}: a record must be a JSON object, got ${describe(value)}`);
  }
  return value as DataRecord;
}

/** One JSON object per non-blank line. */
export function parseJsonLines(content: string, path: string): DataRecord[] {
  const records: DataRecord[] = [];
  const lines = content.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new DataError(`${path}:${i + 1}: not valid JSON (${(error as Error).message})`);
    }
    records.push(asRecord(value, `${path}:${i + 1}`));
  });
  return records;
}

/**
 * An array of objects, or an object whose one array field holds them ({"data": [...]}, as many
 * dataset dumps wrap it). Hugging Face dataset repos often store JSON Lines under a `.json` name,
 * and the `datasets` library reads those too, so a file that is not one JSON value but parses
 * line by line is accepted as JSON Lines.
 */
export function parseJson(content: string, path: string): DataRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(content.replace(/^\uFEFF/, ''));
  } catch (error) {
    const lines = content.split('\n').filter((l) => l.trim() !== '');
    if (lines.length > 1) {
      try {
        return parseJsonLines(content, path);
      } catch {
        // Not JSON Lines either: report the whole-file error, which is the likelier mistake.
      }
    }
    throw new DataError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  let items: unknown[];
  let where = (i: number) => `${path}[${i}]`;
  if (Array.isArray(value)) {
    items = value;
  } else if (value !== null && typeof value === 'object') {
    const arrays = Object.entries(value).filter(([, v]) => Array.isArray(v));
    if (arrays.length !== 1) {
      const fields = Object.keys(value);
      throw new DataError(
        `${path}: a .json dataset must be an array of records or an object with one array field (like {"data": [...]}); ` +
          `found ${arrays.length} array fields among ${fields.length > 0 ? fields.map((f) => `'${f}'`).join(', ') : '(no fields)'}`,
      );
    }
    const [field, array] = arrays[0]!;
    items = array as unknown[];
    where = (i: number) => `${path}: ${field}[${i}]`;
  } else {
    throw new DataError(`${path}: a .json dataset must be an array of records or an object with one array field, got ${describe(value)}`);
  }
  return items.map((item, i) => asRecord(item, where(i)));
}
