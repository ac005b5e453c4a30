// User-facing failures: one clear line, never a stack trace (set DISTILLERY_DEBUG=1 to see one).
// Exit codes: 2 when the command line is wrong (an unknown or misspelt flag or command, a missing or
// invalid value, a bad --config), 1 when the command could not do what it was asked.

/** An error whose message is complete for the user (names the flag, file or field at fault). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The exit code of a usage error (as getopt-style tools: 2), beside 1 for a failure. */
export const USAGE_EXIT_CODE = 2;

// By name, so that this module (loaded by every command, --help included) imports none of the
// modules that define them: distill's ConfigError and the API's OptionsError say what was asked is
// wrong (a flag's value, a --config key, a combination of options), as UsageError does.
const USAGE_ERRORS = new Set(['UsageError', 'ConfigError', 'OptionsError']);

/** Whether `error` says the command line is wrong (exit 2) rather than that the command failed (exit 1). */
export function isUsageError(error: unknown): boolean {
  return error instanceof Error && USAGE_ERRORS.has(error.name);
}

/** `distillery: error: MESSAGE`, with the rank when workers of a multi-process run share one terminal. */
export function errorLine(message: string): string {
  const worker = Number(process.env.WORLD_SIZE) > 1 && process.env.RANK ? ` [rank ${process.env.RANK}]` : '';
  return `distillery${worker}: error: ${message}`;
}

export function reportFatal(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${errorLine(message)}\n`);
  if (process.env.DISTILLERY_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  process.exit(isUsageError(error) ? USAGE_EXIT_CODE : 1);
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
