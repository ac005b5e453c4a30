// Hugging Face datasets in the local hub cache. huggingface_hub keeps datasets beside models, under
// `datasets--ORG--NAME` instead of `models--ORG--NAME`, with the same refs/snapshots/blobs layout,
// so `huggingface-cli download --repo-type dataset ORG/NAME` (or Python `datasets`) fills what this reads.
// Reading only: this layer never touches the network.
import { cachedSnapshot, type Env } from '../io/hub/cache.js';
import { DataError } from './errors.js';

/** The snapshot folder of the dataset's `main` revision; a DataError naming the paths looked at when it is not cached. */
export function cachedDatasetSnapshot(repoId: string, env: Env = process.env): string {
  const { snapshot, lookedAt } = cachedSnapshot(repoId, 'main', env, 'dataset');
  if (snapshot === null) {
    throw new DataError(
      `dataset ${repoId} is not a local path and not in the Hugging Face cache (looked at ${lookedAt.join(', ')}); ` +
        `download it with \`huggingface-cli download --repo-type dataset ${repoId}\` ` +
        `(HF_HUB_CACHE or HF_HOME choose the cache), or pass a data file or folder`,
    );
  }
  return snapshot;
}
