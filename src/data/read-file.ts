// One data file to records, by extension.
import { readFileSync } from 'node:fs';
import { DataError } from './errors.js';
import { parseJson, parseJsonLines, type DataRecord } from './read-json.js';
import { readParquet } from './read-parquet.js';

export const DATA_EXTENSIONS = ['.jsonl', '.json', '.parquet', '.txt'] as const;

export function isDataFileName(name: string): boolean {
  const lower = name.toLowerCase();
  return DATA_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new DataError(`${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Records of one `.jsonl`, `.json`, `.parquet` or `.txt` file (a text file is one record, {text: its content}). */
export async function readDataFile(path: string): Promise<DataRecord[]> {
  const lower = path.toLowerCase();
  if (lower.endsWith('.jsonl')) return parseJsonLines(readText(path), path);
  if (lower.endsWith('.json')) return parseJson(readText(path), path);
  if (lower.endsWith('.parquet')) return readParquet(path);
  if (lower.endsWith('.txt')) return [{ text: readText(path) }];
  throw new DataError(`${path}: unknown data file type; expected one of ${DATA_EXTENSIONS.join(', ')}`);
}
