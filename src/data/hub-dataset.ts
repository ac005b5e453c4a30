// Hugging Face datasets in the local hub cache. huggingface_hub keeps datasets beside models, under
// `datasets--ORG--NAME` instead of `models--ORG--NAME`, with the same refs/snapshots/blobs layout,
// so `huggingface-cli download --repo-type dataset ORG/NAME` (or Python `datasets`) fills what this reads.
// Reading only: this layer never touches the network.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hubCacheDir, isCommitHash, isDirectory, isFile, type Env } from '../io/hub/cache.js';
import { DataError } from './errors.js';

export function datasetCacheDir(repoId: string, env: Env = process.env): string {
  return join(hubCacheDir(env), `datasets--${repoId.split('/').join('--')}`);
}

/** The snapshot folder of the dataset's `main` revision; a DataError naming the paths looked at when it is not cached. */
export function cachedDatasetSnapshot(repoId: string, env: Env = process.env): string {
  const repoDir = datasetCacheDir(repoId, env);
  const refPath = join(repoDir, 'refs', 'main');
  const lookedAt = [refPath];
  let snapshot: string | null = null;
  if (isFile(refPath)) {
    const commit = readFileSync(refPath, 'utf8').trim();
    if (isCommitHash(commit)) {
      const candidate = join(repoDir, 'snapshots', commit);
      lookedAt.push(candidate);
      if (isDirectory(candidate)) snapshot = candidate;
    }
  }
  if (snapshot === null) {
    throw new DataError(
      `dataset ${repoId} is not a local path and not in the Hugging Face cache (looked at ${lookedAt.join(', ')}); ` +
        `download it with \`huggingface-cli download --repo-type dataset ${repoId}\` ` +
        `(HF_HUB_CACHE or HF_HOME choose the cache), or pass a data file or folder`,
    );
  }
  return snapshot;
}
