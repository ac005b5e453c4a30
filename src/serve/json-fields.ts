// Typed reads of a request body's fields. JSON null counts as absent (vLLM's fields are Optional);
// a value of the wrong type or range is a 400 that names the field, says what is valid and shows
// what was sent.
import { badRequest } from './api-error.js';

export type Body = Record<string, unknown>;

/** A short rendering of a sent value for an error message. */
export function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function requireObject(value: unknown): Body {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest(`the request body must be a JSON object, got ${Array.isArray(value) ? 'an array' : shown(value)}`);
  }
  return value as Body;
}

export function optionalBool(body: Body, key: string): boolean | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'boolean') throw badRequest(`${key} must be true or false, got ${shown(value)}`, key);
  return value;
}

/** An integer in [min, max] (a JSON number with no fraction, as pydantic's int accepts). */
export function optionalInt(body: Body, key: string, min: number, max = Number.MAX_SAFE_INTEGER, hint = ''): number | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw badRequest(`${key} must be an integer in [${min}, ${max}]${hint}, got ${shown(value)}`, key);
  }
  return value;
}

/** A finite number in [min, max], or in (min, max] when `openMin`. */
export function optionalNumber(body: Body, key: string, min: number, max: number, openMin = false): number | null {
  const value = body[key];
  if (value === undefined || value === null) return null;
  const inRange = typeof value === 'number' && Number.isFinite(value) && (openMin ? value > min : value >= min) && value <= max;
  if (!inRange) throw badRequest(`${key} must be a number in ${openMin ? '(' : '['}${min}, ${max}], got ${shown(value)}`, key);
  return value;
}

/** A list of integer token ids, each in [0, vocab). */
export function tokenIdList(value: unknown, key: string, vocab: number): number[] {
  if (!Array.isArray(value)) throw badRequest(`${key} must be a list of token ids, got ${shown(value)}`, key);
  for (let i = 0; i < value.length; i++) {
    const id: unknown = value[i];
    if (typeof id !== 'number' || !Number.isInteger(id)) throw badRequest(`${key}[${i}] must be an integer token id, got ${shown(id)}`, key);
    if (id < 0 || id >= vocab) throw badRequest(`${key}[${i}]: token id ${id} is out of vocabulary [0, ${vocab})`, key);
  }
  return value as number[];
}
