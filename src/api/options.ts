// Run-time checks shared by the API functions: JavaScript callers get no type checking, so option
// objects are checked for unknown keys and required values, and errors name the option.

/** An option given to an API function is missing, unknown or invalid; the message names it. */
export class OptionsError extends Error {
  override name = 'OptionsError';
}

/**
 * What a `signal` option reads of an AbortSignal: any AbortSignal (DOM's or Node's) is one. Declared
 * here so that the published declarations need neither the DOM lib nor @types/node.
 */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
}

/** Throws naming the first key of `options` that `fn` does not take (with the closest valid one). */
export function rejectUnknownOptions(fn: string, options: object, valid: readonly string[]): void {
  if (options === null || typeof options !== 'object') throw new OptionsError(`${fn}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (valid.includes(key)) continue;
    const close = valid.find((v) => v.toLowerCase() === key.toLowerCase() || editDistance(v, key) <= 2);
    throw new OptionsError(`${fn}: unknown option '${key}'${close ? ` (did you mean '${close}'?)` : ''}; valid options: ${valid.join(', ')}`);
  }
}

/** Throws unless `value` is a non-empty string. */
export function requireString(fn: string, name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new OptionsError(`${fn}: ${name} must be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    previous = row;
  }
  return previous[b.length]!;
}

/** The options among `keys` that were given (undefined ones left to the defaults). */
export function definedOptions<T extends object, K extends keyof T>(options: T, keys: readonly K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((k) => options[k] !== undefined).map((k) => [k, options[k]])) as Partial<Pick<T, K>>;
}

/** Throws unless `value` is an integer in [min, max]; `name` is the option as the user wrote it. */
export function checkInt(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new OptionsError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  return value;
}
