// Downloads a model from the Hugging Face hub into huggingface_hub's cache layout (see cache.ts), so
// Python tools reuse what we fetch and we reuse what they fetched. Same protocol as huggingface_hub:
// one API call resolves the revision to a commit and lists the files, then each file is fetched from
// `<endpoint>/<repo>/resolve/<commit>/<file>`, whose hub response names the blob (ETag, or for LFS
// files X-Linked-Etag = sha256 of the content) before redirecting large files to a CDN.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import { temporaryPathFor, writeAll, writeTextAtomic } from '../atomic.js';
import { assertSafeRevision, hasRepoIdForm, isCommitHash, isFile, repoCacheDir, type Env } from './cache.js';

/** What a model needs to load and tokenize; no .bin/.pth duplicates, no ONNX/GGUF variants. */
export const DEFAULT_ALLOW_PATTERNS: readonly string[] = [
  'config.json', 'generation_config.json', '*.safetensors', 'model.safetensors.index.json',
  'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt',
];

export interface DownloadOptions {
  revision?: string;
  env?: Env;
  /** Defaults to HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Defaults to HF_TOKEN, else HUGGING_FACE_HUB_TOKEN. */
  token?: string;
  /** fnmatch-style globs as in huggingface_hub (`*` also matches `/`); defaults to DEFAULT_ALLOW_PATTERNS. */
  allowPatterns?: readonly string[];
  log?: (line: string) => void;
}

/** A failed hub request; `url` is what was asked for, `status` the HTTP status when there was one. */
export class HubError extends Error {
  constructor(message: string, readonly url: string, readonly status?: number) {
    super(message);
    this.name = 'HubError';
  }
}

export function hubEndpoint(env: Env = process.env): string {
  return (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, '');
}

export function hubToken(env: Env = process.env): string | undefined {
  return env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined;
}

/** fnmatch semantics (`*` any run, `?` one character), plus huggingface_hub's `dir/` meaning `dir/*`. */
export function matchesPattern(name: string, pattern: string): boolean {
  const glob = pattern.endsWith('/') ? `${pattern}*` : pattern;
  const source = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`).test(name);
}

interface Request {
  repoId: string;
  revision: string;
  endpoint: string;
  token: string | undefined;
}

const MB = 1024 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/** Downloads the wanted files of `repoId` at `revision` into the hub cache; returns the snapshot folder. */
export async function downloadSnapshot(repoId: string, options: DownloadOptions = {}): Promise<string> {
  const { revision = 'main', env = process.env, allowPatterns = DEFAULT_ALLOW_PATTERNS, log = () => {} } = options;
  if (!hasRepoIdForm(repoId)) throw new Error(`invalid repo id "${repoId}": expected ORG/NAME, e.g. Qwen/Qwen3-0.6B`);
  assertSafeRevision(revision);
  const request: Request = { repoId, revision, endpoint: options.endpoint?.replace(/\/+$/, '') ?? hubEndpoint(env), token: options.token ?? hubToken(env) };

  const infoUrl = `${request.endpoint}/api/models/${repoId}/revision/${encodeURIComponent(revision)}`;
  const { sha, files } = parseRepoInfo(await (await hubGet(infoUrl, request)).response.text(), infoUrl);
  const wanted = files.filter((f) => allowPatterns.some((p) => matchesPattern(f, p)));
  if (wanted.length === 0) {
    throw new Error(`${repoId}@${revision} has no files matching ${allowPatterns.join(', ')} (it has: ${files.slice(0, 20).join(', ') || 'no files'})`);
  }
  // config.json goes last: resolveModelPath treats a snapshot holding it as complete, so an
  // interrupted download must not leave it behind alone.
  wanted.sort((a, b) => Number(a === 'config.json') - Number(b === 'config.json'));

  const repoDir = repoCacheDir(repoId, env);
  const snapshot = join(repoDir, 'snapshots', sha);
  log(`${repoId}@${revision} -> commit ${sha}: ${wanted.length} file(s) into ${snapshot}`);
  for (const file of wanted) await downloadFile(request, sha, file, repoDir, snapshot, log);
  // The ref is written last for the same reason: a ref pointing at a half-filled snapshot would be
  // taken as a cache hit. Commit-hash revisions need no ref (huggingface_hub writes none either).
  if (!isCommitHash(revision)) {
    const refPath = join(repoDir, 'refs', revision);
    mkdirSync(dirname(refPath), { recursive: true });
    writeTextAtomic(refPath, sha);
  }
  return snapshot;
}

function parseRepoInfo(text: string, url: string): { sha: string; files: string[] } {
  let info: { sha?: unknown; siblings?: unknown };
  try {
    info = JSON.parse(text) as typeof info;
  } catch {
    throw new HubError(`unexpected reply from ${url}: not JSON (is HF_ENDPOINT a Hugging Face hub?)`, url);
  }
  if (typeof info.sha !== 'string' || !isCommitHash(info.sha) || !Array.isArray(info.siblings)) {
    throw new HubError(`unexpected reply from ${url}: expected "sha" (40-hex commit) and "siblings"`, url);
  }
  const files = info.siblings.map((s: { rfilename?: unknown }) => s?.rfilename).filter((f): f is string => typeof f === 'string');
  return { sha: info.sha, files };
}

/** File names come from the server: refuse any that would land outside the snapshot folder. */
function assertSafeFileName(name: string, url: string): void {
  if (name.startsWith('/') || name.includes('\\') || name.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new HubError(`refusing file name "${name}" listed by ${url}: it would land outside the snapshot folder`, url);
  }
}

async function downloadFile(request: Request, sha: string, file: string, repoDir: string, snapshot: string, log: (line: string) => void): Promise<void> {
  const url = `${request.endpoint}/${request.repoId}/resolve/${sha}/${file.split('/').map(encodeURIComponent).join('/')}`;
  assertSafeFileName(file, url);
  const linkPath = join(snapshot, ...file.split('/'));
  if (isFile(linkPath)) return; // isFile follows the symlink: a dangling one is fetched again

  const { response, etag } = await hubGet(url, request, file);
  const blobsDir = join(repoDir, 'blobs');
  mkdirSync(blobsDir, { recursive: true });
  const alreadyStored = etag !== null && isFile(join(blobsDir, etag));
  if (alreadyStored) {
    await response.body?.cancel(); // same content already cached by another revision
    log(`  ${file}: already in blobs/${etag}`);
  }
  const blobName = alreadyStored ? etag : await downloadBlob(response, blobsDir, etag, file, url, log);
  linkAtomic(linkPath, join(blobsDir, blobName));
}

/** Streams the body into blobs/<etag>, or blobs/<sha256> when the hub named no etag; returns the name. */
async function downloadBlob(response: Response, blobsDir: string, etag: string | null, file: string, url: string, log: (line: string) => void): Promise<string> {
  // A Content-Length of an encoded body is not the size written; we ask for identity, but check.
  const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const length = encoded ? NaN : Number(response.headers.get('content-length') ?? NaN);
  log(`  ${file}${Number.isFinite(length) ? ` (${(length / MB).toFixed(1)} MB)` : ''}`);
  const started = Date.now();
  const { temporary, digest, bytes } = await streamToTemporary(response, join(blobsDir, etag ?? 'download'), url, (done) => {
    log(`  ${file}: ${(done / MB).toFixed(0)}${Number.isFinite(length) ? ` / ${(length / MB).toFixed(0)}` : ''} MB`);
  });
  const blobName = etag ?? digest;
  try {
    // LFS etags are the content's sha256: a mismatch means a corrupted or truncated transfer.
    if (etag && /^[0-9a-f]{64}$/.test(etag) && etag !== digest) throw new HubError(`${file}: downloaded content has sha256 ${digest}, the hub announced ${etag} (${url}); retry`, url);
    if (Number.isFinite(length) && bytes !== length) throw new HubError(`${file}: got ${bytes} bytes, expected ${length} (${url}); retry`, url);
    renameSync(temporary, join(blobsDir, blobName));
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  const seconds = Math.max((Date.now() - started) / 1000, 1e-3);
  log(`  ${file}: ${(bytes / MB).toFixed(1)} MB in ${seconds.toFixed(1)} s (${(bytes / MB / seconds).toFixed(1)} MB/s)`);
  return blobName;
}

/**
 * Streams a body to a temporary file next to `nearTarget`, hashing as it goes, so multi-GB shards
 * never sit in memory. The caller renames it into place once the name (etag or sha256) is known.
 */
async function streamToTemporary(response: Response, nearTarget: string, url: string, progress: (bytes: number) => void): Promise<{ temporary: string; digest: string; bytes: number }> {
  const temporary = temporaryPathFor(nearTarget);
  const fd = openSync(temporary, 'wx', 0o644);
  const hash = createHash('sha256');
  let bytes = 0;
  let reported = 0;
  try {
    if (response.body) {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        writeAll(fd, chunk);
        hash.update(chunk);
        bytes += chunk.byteLength;
        if (bytes - reported >= 512 * MB) progress((reported = bytes));
      }
    }
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    if (error instanceof HubError) throw error;
    throw new HubError(`download of ${url} broke off after ${bytes} bytes: ${(error as Error).message}`, url);
  }
  closeSync(fd);
  return { temporary, digest: hash.digest('hex'), bytes };
}

/** A relative symlink (as huggingface_hub makes) so the cache folder can be moved or copied whole. */
function linkAtomic(linkPath: string, blobPath: string): void {
  mkdirSync(dirname(linkPath), { recursive: true });
  const temporary = temporaryPathFor(linkPath);
  symlinkSync(relative(dirname(linkPath), blobPath), temporary);
  try {
    renameSync(temporary, linkPath);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** `"abc"`, `W/"abc"` -> `abc`; null unless the result is safe as a file name. */
function normalizeEtag(value: string | null): string | null {
  if (!value) return null;
  const etag = value.replace(/^W\//, '').replace(/^"|"$/g, '');
  return /^[A-Za-z0-9._-]{1,128}$/.test(etag) ? etag : null;
}

/**
 * GET with redirects followed by hand, for two reasons: the blob name (X-Linked-Etag) is on the
 * hub's own 302, which fetch would hide; and the token must not travel to another origin (the CDN
 * URL is pre-signed). Only hub-origin responses name the blob; a CDN's ETag means something else.
 */
async function hubGet(url: string, request: Request, file?: string): Promise<{ response: Response; etag: string | null }> {
  const hubOrigin = new URL(url).origin;
  let linked: string | null = null;
  let plain: string | null = null;
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const fromHub = new URL(current).origin === hubOrigin;
    // identity: file bytes go to disk as stored on the hub, and Content-Length stays checkable.
    const headers: Record<string, string> = { 'user-agent': 'distillery', 'accept-encoding': 'identity' };
    if (request.token && fromHub) headers.authorization = `Bearer ${request.token}`;
    let response: Response;
    try {
      response = await fetch(current, { headers, redirect: 'manual' });
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
      throw new HubError(`could not reach ${current}: ${cause}. Check the network (and HF_ENDPOINT), or work offline with HF_HUB_OFFLINE=1 and a cached model or a local folder`, current);
    }
    if (fromHub) {
      linked ??= normalizeEtag(response.headers.get('x-linked-etag'));
      plain ??= normalizeEtag(response.headers.get('etag'));
    }
    if (REDIRECTS.has(response.status)) {
      const location = response.headers.get('location');
      await response.body?.cancel();
      if (!location) throw new HubError(`HTTP ${response.status} without a Location header from ${current}`, current, response.status);
      current = new URL(location, current).href;
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw httpError(response, current, request, file);
    }
    return { response, etag: linked ?? plain };
  }
  throw new HubError(`more than ${MAX_REDIRECTS} redirects starting at ${url}`, url);
}

function httpError(response: Response, url: string, request: Request, file: string | undefined): HubError {
  const { repoId, revision } = request;
  const status = response.status;
  const hubSays = response.headers.get('x-error-message');
  const detail = hubSays ? ` The hub says: ${hubSays}` : '';
  if (status === 401 || status === 403) {
    const advice = request.token
      ? 'the token given (HF_TOKEN) was not accepted for it: check it has read access and that you accepted the repo\'s terms on its page'
      : 'set HF_TOKEN to a read token from https://huggingface.co/settings/tokens (for a gated repo, first accept its terms on its page)';
    return new HubError(`${repoId}: access denied (HTTP ${status}) for ${url}. The repo is gated or private (or does not exist); ${advice}.${detail}`, url, status);
  }
  if (status === 404) {
    const what = file ? `file "${file}" of ${repoId}@${revision}` : `${repoId}@${revision}`;
    return new HubError(`${what}: not found (HTTP 404 for ${url}). Check the repo id (ORG/NAME, case-sensitive) and the revision (branch, tag or commit hash).${detail}`, url, status);
  }
  return new HubError(`${repoId}: HTTP ${status} ${response.statusText} from ${url}.${detail}`, url, status);
}
