// The PyTorch eager baseline of the benchmarks: finds a Python whose `import torch` works and runs
// a baseline script from baselines/ with it, one JSON object on its last line of output.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childJsonResult } from './child-process.js';

const BASELINES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'baselines');

/** Candidates in order: the one asked for, else `python3` on PATH, then the system's (Debian's python3-torch). */
export function findPythonWithTorch(requested?: string): { python: string | null; tried: string[] } {
  const tried = requested ? [requested] : ['python3', '/usr/bin/python3'];
  for (const python of tried) {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return { python, tried };
  }
  return { python: null, tried };
}

export function runBaseline(python: string, script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const result = runBaselineUnlessKilled(python, script, args, env);
  if (result === null) throw new Error(`baselines/${script} (${python}) was killed (out of memory?)`);
  return result;
}

/**
 * As runBaseline, but null when the child was killed by SIGKILL: on Linux the kernel's OOM killer,
 * which the caller may answer by running it again with settings that need less memory.
 */
export function runBaselineUnlessKilled(python: string, script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Record<string, unknown> | null {
  const child = spawnSync(python, [join(BASELINES, script), ...args], { encoding: 'utf8', maxBuffer: 1 << 24, env });
  if (child.signal === 'SIGKILL') return null;
  return childJsonResult(child, `baselines/${script} (${python})`);
}
