// Where Hugging Face models live on disk. The layout and environment variables are huggingface_hub's
// own, so a model fetched by `huggingface-cli download` (or by Python transformers) is found here and
// one we download is found by them:
//   <cache>/models--ORG--NAME/refs/<revision>          text file holding a 40-hex commit
//   <cache>/models--ORG--NAME/snapshots/<commit>/...   the repo's files, symlinks into ../../blobs
//   <cache>/models--ORG--NAME/blobs/<etag>             file contents, shared across revisions
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/** Environment variables as a plain object, so tests can pass their own instead of mutating process.env. */
export type Env = Readonly<Record<string, string | undefined>>;

const COMMIT_HASH = /^[0-9a-f]{40}$/;
const REPO_PART = /^[A-Za-z0-9._-]+$/;

/** huggingface_hub expands `~` in these variables; users copy them from Python docs that rely on it. */
function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

/** HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: Env = process.env): string {
  // HUGGINGFACE_HUB_CACHE is the older name huggingface_hub still honours.
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE;
  if (explicit) return expandHome(explicit);
  if (env.HF_HOME) return join(expandHome(env.HF_HOME), 'hub');
  const cacheHome = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(cacheHome, 'huggingface', 'hub');
}

export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH.test(revision);
}

/**
 * True for `ORG/NAME` (one slash, characters [A-Za-z0-9._-]) that is not an existing local path, so
 * a folder called `models/student` next to the user is never mistaken for a hub repo.
 * `.`/`..` parts and `--` are refused as the hub does: `--` would make `models--ORG--NAME` ambiguous.
 */
export function isRepoId(s: string): boolean {
  return hasRepoIdForm(s) && !existsSync(s);
}

/** The syntax check alone, for callers that already know `s` names a hub repo. */
export function hasRepoIdForm(s: string): boolean {
  const parts = s.split('/');
  return parts.length === 2 && parts.every((p) => REPO_PART.test(p) && p !== '.' && !p.includes('--') && !p.includes('..'));
}

/** What a hub repo holds; datasets live beside models, under `datasets--` instead of `models--`. */
export type RepoType = 'model' | 'dataset';

/** `Qwen/Qwen3-0.6B` -> `models--Qwen--Qwen3-0.6B`, the folder name huggingface_hub uses. */
export function repoFolderName(repoId: string, type: RepoType = 'model'): string {
  return `${type}s--${repoId.split('/').join('--')}`;
}

/** The cache folder of one repo. */
export function repoCacheDir(repoId: string, env: Env = process.env, type: RepoType = 'model'): string {
  return join(hubCacheDir(env), repoFolderName(repoId, type));
}

/**
 * Revisions become paths under refs/ (branches like `refs/pr/1` included), so refuse anything that
 * could step outside that folder.
 */
export function assertSafeRevision(revision: string): void {
  const bad = revision === '' || isAbsolute(revision) || revision.split('/').some((p) => p === '' || p === '.' || p === '..');
  if (bad) throw new Error(`invalid revision "${revision}": expected a branch or tag name (e.g. main) or a 40-hex commit hash`);
}

export interface CacheLookup {
  /** The snapshot folder, or null when the cache does not hold this revision. */
  snapshot: string | null;
  /** Every path consulted, in order, for error messages. */
  lookedAt: string[];
}

/**
 * The cached snapshot folder of `repoId` at `revision` (a branch/tag resolved through refs/, or a
 * commit hash used directly), or null. Reads only the disk.
 */
export function cachedSnapshot(repoId: string, revision = 'main', env: Env = process.env, type: RepoType = 'model'): CacheLookup {
  assertSafeRevision(revision);
  const repoDir = repoCacheDir(repoId, env, type);
  const lookedAt: string[] = [];
  let commit: string;
  if (isCommitHash(revision)) {
    commit = revision;
  } else {
    const refPath = join(repoDir, 'refs', revision);
    lookedAt.push(refPath);
    if (!isFile(refPath)) return { snapshot: null, lookedAt };
    commit = readFileSync(refPath, 'utf8').trim();
    if (!isCommitHash(commit)) return { snapshot: null, lookedAt };
  }
  const snapshot = join(repoDir, 'snapshots', commit);
  lookedAt.push(snapshot);
  return { snapshot: isDirectory(snapshot) ? snapshot : null, lookedAt };
}

export function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
}

export function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
