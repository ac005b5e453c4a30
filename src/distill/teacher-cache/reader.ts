// Reads a teacher cache for training: checks the manifest against the run's own data, checks that
// every shard is complete (its size and its records' structure), then serves the cached top-k
// predictions of any examples' target rows in the order the loss visits them.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fromBytes, fromTypedArray, type Tensor, tidy } from '../../tensor/index.js';
import { CACHE_VERSION, type CacheFingerprint, type CacheManifest, MANIFEST, recordBytes } from './format.js';
import { fingerprintDifferences } from './fingerprint.js';
import { readJsonFile } from '../../io/json-file.js';

export interface CachedRows {
  ids: Tensor; // [K, k] int64
  logProbs: Tensor; // [K, k] float32
  tailLogMass: Tensor; // [K] float32
  /** How many vocabulary entries the tail bucket holds (V − k). */
  tailTokens: number;
}

export class TeacherCache {
  readonly manifest: CacheManifest;
  readonly #fds: number[] = [];
  /** Per example: shard, byte offset of its records, number of target rows. */
  readonly #where: { shard: number; offset: number; count: number }[] = [];

  private constructor(readonly dir: string, manifest: CacheManifest) {
    this.manifest = manifest;
  }

  static open(dir: string, expected: CacheFingerprint): TeacherCache {
    const manifestPath = join(dir, MANIFEST);
    if (!existsSync(manifestPath)) throw new Error(`--teacher-cache ${dir}: no ${MANIFEST}; the cache is incomplete (interrupted?) — write it again with distillery cache-teacher`);
    const manifest = readJsonFile(manifestPath) as CacheManifest;
    if (manifest.version !== CACHE_VERSION) throw new Error(`${manifestPath}: cache version ${manifest.version}, this Distillery reads version ${CACHE_VERSION}`);
    const differences = fingerprintDifferences(manifest.fingerprint, expected);
    if (differences.length > 0) {
      throw new Error(`--teacher-cache ${dir} was made for other data or settings: ${differences.join('; ')}. Write a new cache with the same --data, tokenizer, --format, --template, --max-length and masking`);
    }
    const cache = new TeacherCache(dir, manifest);
    try {
      cache.#index();
    } catch (error) {
      cache.close();
      throw error;
    }
    return cache;
  }

  #index(): void {
    const record = recordBytes(this.manifest.topK);
    this.manifest.shards.forEach((shard, s) => {
      const path = join(this.dir, shard.file);
      if (!existsSync(path)) throw new Error(`${path}: shard missing from the teacher cache`);
      const fd = openSync(path, 'r');
      this.#fds.push(fd);
      const size = fstatSync(fd).size;
      if (size !== shard.bytes) throw new Error(`${path}: ${size} bytes, the manifest records ${shard.bytes} (truncated or modified shard)`);
      const head = Buffer.alloc(4);
      let offset = 0;
      for (let e = 0; e < shard.examples; e++) {
        if (offset + 4 > size || readSync(fd, head, 0, 4, offset) !== 4) throw new Error(`${path}: ends inside example ${shard.firstExample + e} (truncated shard)`);
        const count = head.readUInt32LE(0);
        this.#where.push({ shard: s, offset: offset + 4, count });
        offset += 4 + count * record;
      }
      if (offset !== size) throw new Error(`${path}: records end at byte ${offset} but the shard has ${size} (corrupt shard)`);
    });
    if (this.#where.length !== this.manifest.examples) throw new Error(`${this.dir}: shards hold ${this.#where.length} examples, the manifest ${this.manifest.examples}`);
  }

  /** The cached rows of these examples (indices into the cached data), concatenated in order. */
  rows(examples: readonly number[], device: string): CachedRows {
    const k = this.manifest.topK;
    const record = recordBytes(k);
    const total = examples.reduce((n, e) => n + this.#entry(e).count, 0);
    const ids = new Int32Array(total * k);
    const halves = Buffer.alloc(total * k * 2);
    const tails = Buffer.alloc(total * 4);
    let row = 0;
    for (const e of examples) {
      const { shard, offset, count } = this.#entry(e);
      const bytes = Buffer.alloc(count * record);
      readSync(this.#fds[shard]!, bytes, 0, bytes.length, offset);
      for (let r = 0; r < count; r++, row++) {
        const base = r * record;
        for (let j = 0; j < k; j++) ids[row * k + j] = bytes.readUIntLE(base + 3 * j, 3);
        bytes.copy(halves, row * k * 2, base + 3 * k, base + 5 * k);
        bytes.copy(tails, row * 4, base + 5 * k, base + 5 * k + 4);
      }
    }
    return tidy(() => ({
      tailTokens: this.manifest.teacherVocab - k,
      ids: fromTypedArray(ids, [total, k]).to({ dtype: 'int64', device }),
      logProbs: fromBytes(halves, 'float16', [total, k]).to({ dtype: 'float32', device }),
      tailLogMass: fromBytes(tails, 'float32', [total]).to({ device }),
    }));
  }

  #entry(example: number): { shard: number; offset: number; count: number } {
    const entry = this.#where[example];
    if (!entry) throw new RangeError(`teacher cache ${this.dir} has no example ${example} (it holds ${this.#where.length})`);
    return entry;
  }

  close(): void {
    for (const fd of this.#fds.splice(0)) closeSync(fd);
  }
}
