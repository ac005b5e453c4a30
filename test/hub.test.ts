// Hugging Face model resolution: the hub cache layout huggingface_hub uses (refs/, snapshots/,
// blobs/), offline errors that say where we looked, and downloads against a local fake hub that
// answers like the real one (ETag / X-Linked-Etag, LFS files redirected to a CDN, 401/404 codes).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cachedSnapshot, downloadSnapshot, hubCacheDir, isRepoId, matchesPattern, resolveModelPath, type Env } from '../src/io/hub/index.js';

const root = mkdtempSync(join(tmpdir(), 'distillery-hub-'));
let counter = 0;
const freshDir = (name: string) => {
  const dir = join(root, `${counter++}-${name}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const hex40 = () => randomBytes(20).toString('hex');

/** A cache entry as huggingface_hub leaves it; refs are optional so commit-hash lookups can be tested. */
function fakeCacheEntry(cache: string, repoId: string, commit: string, refs: string[] = ['main']): string {
  const repoDir = join(cache, `models--${repoId.replace('/', '--')}`);
  const snapshot = join(repoDir, 'snapshots', commit);
  mkdirSync(snapshot, { recursive: true });
  writeFileSync(join(snapshot, 'config.json'), '{"model_type":"qwen3"}');
  for (const ref of refs) {
    mkdirSync(dirname(join(repoDir, 'refs', ref)), { recursive: true });
    writeFileSync(join(repoDir, 'refs', ref), commit);
  }
  return snapshot;
}

describe('hub cache resolution', () => {
  test('hubCacheDir follows HF_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME, then ~/.cache', () => {
    assert.equal(hubCacheDir({ HF_HUB_CACHE: '/a/hub', HF_HOME: '/b', XDG_CACHE_HOME: '/c' }), '/a/hub');
    assert.equal(hubCacheDir({ HF_HOME: '/b', XDG_CACHE_HOME: '/c' }), '/b/hub');
    assert.equal(hubCacheDir({ XDG_CACHE_HOME: '/c' }), '/c/huggingface/hub');
    assert.equal(hubCacheDir({}), join(homedir(), '.cache', 'huggingface', 'hub'));
    assert.equal(hubCacheDir({ HF_HOME: '~/hf' }), join(homedir(), 'hf', 'hub'));
  });

  test('isRepoId accepts ORG/NAME and refuses other shapes and existing paths', () => {
    for (const ok of ['Qwen/Qwen3-0.6B', 'org/name_v1.2', 'a/b']) assert.ok(isRepoId(ok), ok);
    for (const bad of ['Qwen3-0.6B', 'a/b/c', '/abs/path', './x', '../x', 'a b/c', 'org/na--me', 'org/', '']) assert.ok(!isRepoId(bad), bad);
    const cwd = process.cwd();
    process.chdir(freshDir('cwd'));
    try {
      mkdirSync('org/name', { recursive: true });
      assert.ok(!isRepoId('org/name'), 'an existing local folder is not a repo id');
    } finally {
      process.chdir(cwd);
    }
  });

  test('a cached snapshot is found through refs/main under HF_HUB_CACHE and under HF_HOME/hub', async () => {
    const cache = freshDir('cache');
    const commit = hex40();
    const snapshot = fakeCacheEntry(cache, 'Qwen/Qwen3-0.6B', commit);
    assert.equal(cachedSnapshot('Qwen/Qwen3-0.6B', 'main', { HF_HUB_CACHE: cache }).snapshot, snapshot);
    assert.equal(await resolveModelPath('Qwen/Qwen3-0.6B', { env: { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' } }), snapshot);

    const home = freshDir('hf-home');
    const homeSnapshot = fakeCacheEntry(join(home, 'hub'), 'Qwen/Qwen3-0.6B', commit);
    assert.equal(await resolveModelPath('Qwen/Qwen3-0.6B', { env: { HF_HOME: home }, offline: true }), homeSnapshot);
  });

  test('a commit-hash revision is used directly; a tag goes through refs/<tag>', async () => {
    const cache = freshDir('cache');
    const pinned = hex40();
    const tagged = hex40();
    const env = { HF_HUB_CACHE: cache };
    const pinnedSnapshot = fakeCacheEntry(cache, 'org/model', pinned, []);
    const taggedSnapshot = fakeCacheEntry(cache, 'org/model', tagged, ['v1.0']);
    assert.equal(await resolveModelPath('org/model', { revision: pinned, env, offline: true }), pinnedSnapshot);
    assert.equal(await resolveModelPath('org/model', { revision: 'v1.0', env, offline: true }), taggedSnapshot);
    assert.equal(cachedSnapshot('org/model', 'main', env).snapshot, null, 'no refs/main');
    assert.throws(() => cachedSnapshot('org/model', '../../etc', env), /invalid revision/);
  });

  test('offline and not cached: the error lists every path looked at and how to get the files', async () => {
    const cache = freshDir('cache');
    const env = { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' };
    const refPath = join(cache, 'models--org--absent', 'refs', 'main');
    await assert.rejects(resolveModelPath('org/absent', { env }), (error: Error) => {
      assert.match(error.message, /HF_HUB_OFFLINE=1/);
      assert.ok(error.message.includes(`${refPath} (missing)`), error.message);
      assert.ok(error.message.includes('huggingface-cli download org/absent'), error.message);
      assert.ok(error.message.includes('local folder'), error.message);
      return true;
    });

    // A ref whose snapshot was deleted: both the ref and the snapshot folder are named.
    const commit = hex40();
    mkdirSync(join(cache, 'models--org--gone', 'refs'), { recursive: true });
    writeFileSync(join(cache, 'models--org--gone', 'refs', 'main'), commit);
    await assert.rejects(resolveModelPath('org/gone', { env: { HF_HUB_CACHE: cache, TRANSFORMERS_OFFLINE: 'true' } }), (error: Error) => {
      assert.ok(error.message.includes(join(cache, 'models--org--gone', 'refs', 'main')), error.message);
      assert.ok(error.message.includes(join(cache, 'models--org--gone', 'snapshots', commit) + ' (missing)'), error.message);
      return true;
    });
  });

  test('local folders are returned as they are; bad specs say what is valid', async () => {
    const folder = freshDir('local-model');
    writeFileSync(join(folder, 'config.json'), '{}');
    assert.equal(await resolveModelPath(folder, { offline: true }), folder);
    const empty = freshDir('no-config');
    await assert.rejects(resolveModelPath(empty, { offline: true }), new RegExp(`${empty} has no config.json`));
    await assert.rejects(resolveModelPath(join(root, 'nowhere', 'x'), { offline: true }), /neither an existing folder nor a Hugging Face repo id.*ORG\/NAME/);
    await assert.rejects(resolveModelPath('just-a-name', { offline: true }), /neither an existing folder nor a Hugging Face repo id/);
  });

  test('allow patterns match like fnmatch', () => {
    assert.ok(matchesPattern('model-00001-of-00002.safetensors', '*.safetensors'));
    assert.ok(matchesPattern('sub/notes.json', '*.json'));
    assert.ok(matchesPattern('sub/notes.json', 'sub/'));
    assert.ok(!matchesPattern('config.json.bak', 'config.json'));
    assert.ok(!matchesPattern('configXjson', 'config.json'), '. is literal');
  });
});

// ---- a fake hub -------------------------------------------------------------------------------

interface FakeRepo {
  sha: string;
  files: Record<string, Buffer>;
  /** Bearer token the repo requires (a private or gated repo). */
  token?: string;
  /** LFS files answered with a 302 to `/cdn/<sha256>`: on the hub's own server, or on `cdn` (another origin). */
  redirect?: Record<string, 'same-server' | 'cdn'>;
  /** Files served without any ETag, so the client must name the blob by its sha256. */
  noEtag?: string[];
  /** An X-Linked-Etag that does not match the content (a corrupted transfer). */
  wrongLinkedEtag?: string[];
}

interface Seen {
  path: string;
  authorization: string | undefined;
  server: 'hub' | 'cdn';
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.byteLength}\0`).update(b).digest('hex');

class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly seen: Seen[] = [];
  private readonly hub: Server = createServer((req, res) => this.handle(req, res, 'hub'));
  private readonly cdn: Server = createServer((req, res) => this.handle(req, res, 'cdn'));
  private readonly blobs = new Map<string, Buffer>();
  url = '';
  cdnUrl = '';

  async start(): Promise<void> {
    const listen = (server: Server) => new Promise<string>((done) => server.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
    this.url = await listen(this.hub);
    this.cdnUrl = await listen(this.cdn);
  }

  async close(): Promise<void> {
    for (const server of [this.hub, this.cdn]) {
      server.closeAllConnections(); // fetch keeps connections alive; close() alone would wait on them
      await new Promise((done) => server.close(done));
    }
  }

  add(repoId: string, repo: FakeRepo): void {
    this.repos.set(repoId, repo);
    for (const content of Object.values(repo.files)) this.blobs.set(sha256(content), content);
  }

  private handle(req: IncomingMessage, res: ServerResponse, server: 'hub' | 'cdn'): unknown {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    this.seen.push({ path, authorization: req.headers.authorization, server });
    const fail = (status: number, code: string) => res.writeHead(status, { 'X-Error-Code': code, 'X-Error-Message': code }).end();

    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      const content = this.blobs.get(cdn[1]!);
      if (!content) return fail(404, 'NoSuchKey');
      return res.writeHead(200, { ETag: '"s3-etag-not-the-blob-name"', 'Content-Length': content.byteLength }).end(content);
    }
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repoId = (api ?? resolve)?.[1];
    const repo = repoId ? this.repos.get(repoId) : undefined;
    if (!repo) return fail(resolve || api ? 404 : 400, 'RepoNotFound');
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return fail(401, 'GatedRepo');

    if (api) {
      if (api[2] !== 'main' && api[2] !== repo.sha) return fail(404, 'RevisionNotFound');
      const body = JSON.stringify({ id: repoId, sha: repo.sha, siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })) });
      return res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
    }
    const [, , revision, file] = resolve!;
    const content = repo.files[file!];
    if (revision !== repo.sha || !content) return fail(404, 'EntryNotFound');
    const headers: Record<string, string | number> = { 'X-Repo-Commit': repo.sha };
    if (file!.endsWith('.safetensors')) {
      const linked = repo.wrongLinkedEtag?.includes(file!) ? sha256(Buffer.from('something else')) : sha256(content);
      Object.assign(headers, { 'X-Linked-Etag': `"${linked}"`, ETag: `"${gitSha1(content)}"`, 'X-Linked-Size': content.byteLength });
      const target = repo.redirect?.[file!];
      if (target) {
        const base = target === 'cdn' ? this.cdnUrl : '';
        return res.writeHead(302, { ...headers, Location: `${base}/cdn/${sha256(content)}` }).end();
      }
    } else if (!repo.noEtag?.includes(file!)) {
      headers.ETag = `"${gitSha1(content)}"`;
    }
    res.writeHead(200, { ...headers, 'Content-Length': content.byteLength }).end(content);
  }
}

describe('hub download', () => {
  const hub = new FakeHub();
  const tinyFiles: Record<string, Buffer> = {
    'config.json': Buffer.from('{"model_type":"qwen3","hidden_size":8}'),
    'generation_config.json': Buffer.from('{"do_sample":true}'),
    'model-00001-of-00002.safetensors': randomBytes(300_000),
    'model-00002-of-00002.safetensors': randomBytes(1_000),
    'model.safetensors.index.json': Buffer.from('{"weight_map":{}}'),
    'tokenizer.json': Buffer.from('{"version":"1.0"}'),
    'merges.txt': Buffer.from('#version: 0.2\nĠ t\n'),
    'README.md': Buffer.from('# not wanted'),
    'pytorch_model.bin': Buffer.from('not wanted either'),
    'sub/notes.json': Buffer.from('{"nested":true}'),
  };
  const tinySha = hex40();
  const privateSha = hex40();

  before(async () => {
    await hub.start();
    hub.add('org/tiny', { sha: tinySha, files: tinyFiles, redirect: { 'model-00001-of-00002.safetensors': 'same-server' }, noEtag: ['merges.txt'] });
    hub.add('org/private', {
      sha: privateSha,
      token: 'hf_secret',
      files: { 'config.json': Buffer.from('{}'), 'model.safetensors': randomBytes(5_000) },
      redirect: { 'model.safetensors': 'cdn' },
    });
    hub.add('org/corrupt', { sha: hex40(), files: { 'config.json': Buffer.from('{}'), 'model.safetensors': randomBytes(100) }, wrongLinkedEtag: ['model.safetensors'] });
  });
  after(() => hub.close());

  const envFor = (extra: Env = {}): Env => ({ HF_HUB_CACHE: freshDir('dl-cache'), HF_ENDPOINT: hub.url, ...extra });
  const requestsSince = (start: number) => hub.seen.slice(start);

  test('files land in the snapshot as relative symlinks into blobs/, with refs/main and exact content', async () => {
    const env = envFor();
    const lines: string[] = [];
    const snapshot = await downloadSnapshot('org/tiny', { env, log: (l) => lines.push(l) });
    const repoDir = join(env.HF_HUB_CACHE!, 'models--org--tiny');
    assert.equal(snapshot, join(repoDir, 'snapshots', tinySha));
    assert.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), tinySha);

    const wanted = ['config.json', 'generation_config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'tokenizer.json', 'merges.txt'];
    for (const file of wanted) {
      const link = join(snapshot, file);
      assert.ok(lstatSync(link).isSymbolicLink(), `${file} is a symlink`);
      assert.ok(!readlinkSync(link).startsWith('/'), `${file} links relatively`);
      assert.equal(dirname(realpathSync(link)), realpathSync(join(repoDir, 'blobs')));
      assert.deepEqual(readFileSync(link), tinyFiles[file], `${file} content`);
    }
    for (const file of ['README.md', 'pytorch_model.bin', 'sub/notes.json']) assert.ok(!existsSync(join(snapshot, file)), `${file} not fetched`);
    assert.ok(!hub.seen.some((s) => /README|pytorch_model/.test(s.path)), 'unwanted files never requested');

    // Blob names: X-Linked-Etag (sha256) for LFS files even through the redirect, the git ETag for
    // small files, and the content's sha256 when no ETag came at all.
    const blobOf = (file: string) => readlinkSync(join(snapshot, file)).split('/').pop();
    assert.equal(blobOf('model-00001-of-00002.safetensors'), sha256(tinyFiles['model-00001-of-00002.safetensors']!));
    assert.equal(blobOf('model-00002-of-00002.safetensors'), sha256(tinyFiles['model-00002-of-00002.safetensors']!));
    assert.equal(blobOf('config.json'), gitSha1(tinyFiles['config.json']!));
    assert.equal(blobOf('merges.txt'), sha256(tinyFiles['merges.txt']!));
    assert.ok(hub.seen.some((s) => s.path.startsWith('/cdn/') && s.server === 'hub'), 'the redirect was followed');
    assert.ok(lines.some((l) => l.includes('model-00001-of-00002.safetensors') && /MB/.test(l)), lines.join('\n'));
  });

  test('a second call downloads nothing again; resolveModelPath then needs no network at all', async () => {
    const env = envFor();
    let start = hub.seen.length;
    const snapshot = await downloadSnapshot('org/tiny', { env });
    assert.equal(requestsSince(start).filter((s) => s.path.includes('/resolve/')).length, 7);

    start = hub.seen.length;
    assert.equal(await downloadSnapshot('org/tiny', { env }), snapshot);
    assert.deepEqual(requestsSince(start).map((s) => s.path), [`/api/models/org/tiny/revision/main`], 'only the revision lookup');

    start = hub.seen.length;
    assert.equal(await resolveModelPath('org/tiny', { env }), snapshot);
    assert.equal(requestsSince(start).length, 0);
  });

  test('resolveModelPath downloads a repo that is not cached; allowPatterns reach nested files', async () => {
    const env = envFor();
    const snapshot = await resolveModelPath('org/tiny', { env, allowPatterns: ['*.json'] });
    assert.deepEqual(readFileSync(join(snapshot, 'sub', 'notes.json')), tinyFiles['sub/notes.json']);
    assert.ok(lstatSync(join(snapshot, 'sub', 'notes.json')).isSymbolicLink());
    assert.ok(!existsSync(join(snapshot, 'merges.txt')));
  });

  test('HF_TOKEN is sent as a Bearer token to the hub, never to the CDN; without it: gated/private error', async () => {
    await assert.rejects(downloadSnapshot('org/private', { env: envFor() }), (error: Error) => {
      assert.match(error.message, /gated or private/);
      assert.match(error.message, /HF_TOKEN/);
      assert.match(error.message, /401/);
      return true;
    });

    const start = hub.seen.length;
    const snapshot = await downloadSnapshot('org/private', { env: envFor({ HF_TOKEN: 'hf_secret' }) });
    assert.ok(existsSync(join(snapshot, 'model.safetensors')));
    const seen = requestsSince(start);
    for (const s of seen.filter((r) => r.server === 'hub')) assert.equal(s.authorization, 'Bearer hf_secret', s.path);
    const cdn = seen.filter((r) => r.server === 'cdn');
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0]!.authorization, undefined, 'the token does not leak to another origin');

    await assert.rejects(downloadSnapshot('org/private', { env: envFor({ HUGGING_FACE_HUB_TOKEN: 'wrong' }) }), /was not accepted/);
  });

  test('404 for a repo or a revision says not found; a dead endpoint names the URL', async () => {
    await assert.rejects(downloadSnapshot('org/missing', { env: envFor() }), /org\/missing@main: not found \(HTTP 404/);
    await assert.rejects(downloadSnapshot('org/tiny', { env: envFor(), revision: 'no-such-branch' }), /org\/tiny@no-such-branch: not found.*RevisionNotFound/);

    const dead = createServer();
    await new Promise<void>((done) => dead.listen(0, '127.0.0.1', done));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise((done) => dead.close(done));
    await assert.rejects(downloadSnapshot('org/tiny', { env: envFor({ HF_ENDPOINT: deadUrl }) }), (error: Error) => {
      assert.ok(error.message.includes(`could not reach ${deadUrl}/api/models/org/tiny/revision/main`), error.message);
      return true;
    });
  });

  test('content that does not match the announced sha256 is refused and leaves nothing behind', async () => {
    const env = envFor();
    await assert.rejects(downloadSnapshot('org/corrupt', { env }), /sha256/);
    const repoDir = join(env.HF_HUB_CACHE!, 'models--org--corrupt');
    assert.ok(!existsSync(join(repoDir, 'refs', 'main')), 'no ref to a broken snapshot');
    assert.deepEqual(readdirSync(join(repoDir, 'blobs')), [], 'no blob and no temporary file');
    assert.equal(cachedSnapshot('org/corrupt', 'main', env).snapshot, null);
  });
});
