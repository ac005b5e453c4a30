// Parquet datasets (what the Hugging Face Hub stores and converts datasets to). hyparquet assembles
// nested columns, so a `messages` list<struct<role, content>> column comes back as arrays of
// {role, content} objects; hyparquet-compressors adds the codecs beyond snappy (zstd, gzip, brotli, lz4).
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { DataError } from './errors.js';
import type { DataRecord } from './read-json.js';

/**
 * Parquet INT64 columns (pyarrow's default for Python ints, so every `input_ids` column) decode to
 * BigInt; the rest of the layer works in plain numbers. Values beyond 2^53 stay BigInt and are
 * refused later by the field checks, which name the record and field.
 */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value;
  }
  if (Array.isArray(value)) return value.map(plain);
  // Typed arrays (numeric list columns) become plain arrays; Uint8Array is a binary value, kept as is.
  if (ArrayBuffer.isView(value) && !(value instanceof Uint8Array) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<unknown>, plain);
  }
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

export async function readParquet(path: string): Promise<DataRecord[]> {
  let rows: Record<string, unknown>[];
  try {
    const file = await asyncBufferFromFile(path);
    rows = await parquetReadObjects({ file, compressors });
  } catch (error) {
    throw new DataError(`${path}: cannot read as Parquet (${(error as Error).message})`);
  }
  return rows.map((row) => plain(row) as DataRecord);
}
