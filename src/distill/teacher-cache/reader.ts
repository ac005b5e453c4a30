// Reads a teacher cache for training: checks the manifest against the run's own data, checks that
// every shard is complete (its size and its records' structure), then serves the cached top-k
// predictions of any examples' target rows in the order the loss visits them.
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fromBytes, fromTypedArray, type Tensor, tidy } from '../../tensor/index.js';
import { allocateRows, BLOCK_HEADER_BYTES, blockExtent, decodeBlock } from './example-block.js';
import { CACHE_VERSION, type CacheFingerprint, type CacheManifest, MANIFEST } from './format.js';
import { decodeLogProbs } from './log-prob-code.js';
import { fingerprintDifferences } from './fingerprint.js';
import { readJsonFile } from '../../io/json-file.js';

export interface CachedRows {
  ids: Tensor; // [K, k] int64, ascending within each row
  logProbs: Tensor; // [K, k] float32, renormalised so that with the tail each row sums to 1
  tailLogMass: Tensor; // [K] float32
  /** How many vocabulary entries the tail bucket holds (V − k). */
  tailTokens: number;
}

export class TeacherCache {
  readonly manifest: CacheManifest;
  readonly #fds: number[] = [];
  /** Per example: shard, byte offset and length of its block, number of target rows. */
  readonly #where: { shard: number; offset: number; bytes: number; count: number }[] = [];

  private constructor(readonly dir: string, manifest: CacheManifest) {
    this.manifest = manifest;
  }

  static open(dir: string, expected: CacheFingerprint): TeacherCache {
    const manifestPath = join(dir, MANIFEST);
    if (!existsSync(manifestPath)) throw new Error(`--teacher-cache ${dir}: no ${MANIFEST}; the cache is incomplete (interrupted?) — write it again with distillery cache-teacher`);
    const manifest = readJsonFile(manifestPath) as CacheManifest;
    if (manifest.version !== CACHE_VERSION) {
      throw new Error(`${manifestPath}: cache version ${manifest.version}, this Distillery reads version ${CACHE_VERSION} — write the cache again with distillery cache-teacher`);
    }
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
    const k = this.manifest.topK;
    this.manifest.shards.forEach((shard, s) => {
      const path = join(this.dir, shard.file);
      if (!existsSync(path)) throw new Error(`${path}: shard missing from the teacher cache`);
      const fd = openSync(path, 'r');
      this.#fds.push(fd);
      const size = fstatSync(fd).size;
      if (size !== shard.bytes) throw new Error(`${path}: ${size} bytes, the manifest records ${shard.bytes} (truncated or modified shard)`);
      const head = Buffer.alloc(BLOCK_HEADER_BYTES);
      let offset = 0;
      for (let e = 0; e < shard.examples; e++) {
        if (offset + head.length > size || readSync(fd, head, 0, head.length, offset) !== head.length) throw new Error(`${path}: ends inside example ${shard.firstExample + e} (truncated shard)`);
        const { rows, bytes } = blockExtent(head, k);
        this.#where.push({ shard: s, offset, bytes, count: rows });
        offset += bytes;
      }
      if (offset !== size) throw new Error(`${path}: examples end at byte ${offset} but the shard has ${size} (corrupt shard)`);
    });
    if (this.#where.length !== this.manifest.examples) throw new Error(`${this.dir}: shards hold ${this.#where.length} examples, the manifest ${this.manifest.examples}`);
  }

  /** The cached rows of these examples (indices into the cached data), concatenated in order. */
  rows(examples: readonly number[], device: string): CachedRows {
    const k = this.manifest.topK;
    const total = examples.reduce((n, e) => n + this.#entry(e).count, 0);
    const data = allocateRows(total, k);
    let row = 0;
    for (const e of examples) {
      const { shard, offset, bytes, count } = this.#entry(e);
      const block = Buffer.alloc(bytes);
      readSync(this.#fds[shard]!, block, 0, bytes, offset);
      decodeBlock(block, k, this.manifest.teacherVocab, data, row, () => `${join(this.dir, this.manifest.shards[shard]!.file)}, example ${e}`);
      row += count;
    }
    // The compact codes go to the device and are decoded there (a quarter of the bytes of float32 rows).
    return tidy(() => {
      const tailLogMass = fromBytes(data.tailLogMass, 'float16', [total], device).to('float32');
      const codes = fromTypedArray(data.codes, [total, k], { device });
      const spread = fromBytes(data.spread, 'float16', [total], device);
      return {
        tailTokens: this.manifest.teacherVocab - k,
        ids: fromTypedArray(data.ids, [total, k], { device }).to('int64'),
        logProbs: decodeLogProbs(codes, spread, tailLogMass),
        tailLogMass,
      };
    });
  }

  #entry(example: number): { shard: number; offset: number; bytes: number; count: number } {
    const entry = this.#where[example];
    if (!entry) throw new RangeError(`teacher cache ${this.dir} has no example ${example} (it holds ${this.#where.length})`);
    return entry;
  }

  close(): void {
    for (const fd of this.#fds.splice(0)) closeSync(fd);
  }
}
