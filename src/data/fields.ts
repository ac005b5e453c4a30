// Field checks shared by the formats; messages name the record index and the field.
import { DataError } from './errors.js';
import type { DataRecord } from './read-json.js';

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `a string`;
  return `${typeof value === 'object' ? 'an' : 'a'} ${typeof value}`;
}

export function requireString(record: DataRecord, field: string, index: number, format: string): string {
  const value = record[field];
  if (typeof value !== 'string') {
    const fields = Object.keys(record).map((f) => `'${f}'`).join(', ') || 'none';
    throw new DataError(`record ${index}: field '${field}' must be a string for the ${format} format, got ${describeValue(value)} (fields: ${fields})`);
  }
  return value;
}

/** A string field that may be absent or null (treated as empty). */
export function optionalString(record: DataRecord, field: string, index: number, format: string): string {
  const value = record[field];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new DataError(`record ${index}: field '${field}' must be a string when present (${format} format), got ${describeValue(value)}`);
  return value;
}
