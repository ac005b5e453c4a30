// The demo's trained teacher is cached between runs, keyed by everything that determines it
// (tokenizer, model shape, training budget, seed, corpus and pipeline version), so a second demo
// run skips the longest stage. A cache entry appears atomically (built aside, then renamed).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { buildFolderAtomicAsync, writeTextAtomic } from '../io/atomic.js';

export function distilleryCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DISTILLERY_CACHE) return env.DISTILLERY_CACHE;
  return join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'distillery');
}

export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/** Returns the cached folder for `key`, building it with `build(tempDir)` when absent. */
export async function cachedFolder(root: string, key: string, build: (dir: string) => Promise<void>): Promise<{ dir: string; reused: boolean }> {
  const dir = join(root, key);
  if (existsSync(join(dir, 'COMPLETE'))) return { dir, reused: true };
  mkdirSync(root, { recursive: true });
  await buildFolderAtomicAsync(dir, async (temporary) => {
    await build(temporary);
    mkdirSync(temporary, { recursive: true });
    writeTextAtomic(join(temporary, 'COMPLETE'), `${new Date().toISOString()}\n`);
  });
  return { dir, reused: false };
}
