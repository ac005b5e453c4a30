// How an error names an option: API callers wrote `maxSteps`, command-line users `--max-steps`.
// The same checks serve both, so every message points at what the user actually typed.
import { flagOf } from '../distill/config.js';

/** 'keys' for API callers (the default), 'flags' when the command line calls. */
export type Naming = 'keys' | 'flags';

/** The option `key` as the caller wrote it. */
export function namer(naming: Naming): (key: string) => string {
  return naming === 'flags' ? flagOf : (key) => key;
}
