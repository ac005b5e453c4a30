// User-facing failures: a clear one-line message and exit code 1, never a stack trace
// (set DISTILLERY_DEBUG=1 to see one).

/** An error whose message is complete for the user (names the flag, file or field at fault). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function reportFatal(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  // Workers of a multi-process run share one terminal: say which one speaks.
  const worker = Number(process.env.WORLD_SIZE) > 1 && process.env.RANK ? ` [rank ${process.env.RANK}]` : '';
  process.stderr.write(`distillery${worker}: error: ${message}\n`);
  if (process.env.DISTILLERY_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(1);
}

/** Parses a flag value as an integer within bounds, or throws a UsageError naming the flag. */
export function intOption(flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(`${flag} must be an integer in [${min}, ${max}], got '${value}'`);
    }
    return n;
  };
}
