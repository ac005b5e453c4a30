// Reading config.json fields with errors that name the file and the field: shared by the decoder's
// common fields and each family's own.

export type Json = Record<string, unknown>;

/** A config.json that is not a model Distillery can build (the file and field named). */
export class ModelConfigError extends Error {
  override name = 'ModelConfigError';
}

export type ConfigReader = ReturnType<typeof configReader>;

export function configReader(source: string, json: Json) {
  const fail = (field: string, expected: string): never => {
    throw new ModelConfigError(`${source}: field '${field}' must be ${expected}, got ${JSON.stringify(json[field])}`);
  };
  const has = (field: string) => json[field] !== undefined && json[field] !== null;
  return {
    source,
    has,
    int(field: string, fallback?: number, min = 1): number {
      if (!has(field)) {
        if (fallback === undefined) throw new ModelConfigError(`${source}: required field '${field}' is missing`);
        return fallback;
      }
      const v = json[field];
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : fail(field, `an integer >= ${min}`);
    },
    num(field: string, fallback: number, positive = true): number {
      if (!has(field)) return fallback;
      const v = json[field];
      return typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0) ? v : fail(field, positive ? 'a positive number' : 'a number');
    },
    /** A number that must be given. */
    requiredNum(field: string): number {
      if (!has(field)) throw new ModelConfigError(`${source}: required field '${field}' is missing`);
      return this.num(field, 0);
    },
    bool(field: string, fallback: boolean): boolean {
      if (!has(field)) return fallback;
      const v = json[field];
      return typeof v === 'boolean' ? v : fail(field, 'true or false');
    },
    tokenId(field: string): number | null {
      if (!has(field)) return null;
      const v = json[field];
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(field, 'a token id');
    },
    fail,
  };
}
