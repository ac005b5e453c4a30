// Parsers for flag values: each failure names the flag and what would be valid.
import { UsageError } from './errors.js';
import type { DType } from '../tensor/index.js';

export function parseIds(flag: string, value: string): number[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const ids = parts.map(Number);
  if (parts.length === 0 || ids.some((id) => !Number.isSafeInteger(id) || id < 0)) {
    throw new UsageError(`${flag} must be comma-separated non-negative integers such as 1,2,3, got '${value}'`);
  }
  return ids;
}

export function modelDtype(flag: string): (value: string) => DType {
  return (value: string) => {
    if (value === 'float32' || value === 'bfloat16' || value === 'float16') return value;
    throw new UsageError(`${flag} must be float32, bfloat16 or float16, got '${value}'`);
  };
}

export function numberOption(flag: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} must be a number in [${min}, ${max}], got '${value}'`);
    return n;
  };
}

/** Progress and diagnostics go to stderr, so --json output on stdout stays machine-readable. */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}
