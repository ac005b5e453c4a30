// `distillery cache-teacher`: runs the teacher once over the training data and writes its top-k
// predictions at every target position (format.ts). The cache is built in a temporary folder and
// renamed into place when complete, and its manifest is written last.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type EncodedExample, padBatch, predictedTargets } from '../../data/index.js';
import { targetIndexOf } from '../../eval/targets.js';
import { buildFolderAtomic, writeAll, writeTextAtomic } from '../../io/atomic.js';
import { tidy } from '../../tensor/index.js';
import type { OnlineTeacher } from '../teacher.js';
import { encodeBlock, type RowData } from './example-block.js';
import { CACHE_VERSION, type CacheFingerprint, type CacheManifest, MANIFEST, type ShardEntry, shardName } from './format.js';
import { encodeLogProbs } from './log-prob-code.js';

export interface CacheWriteOptions {
  topK: number;
  fingerprint: CacheFingerprint;
  teacherName: string;
  batchSize: number;
  examplesPerShard: number;
  padId: number;
  log: (line: string) => void;
}

/** A tensor's host bytes (a Uint8Array view) as the Buffer they are, without a copy. */
const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Encodes one micro-batch's target rows: one block per example (example-block.ts). */
function encodeBatch(examples: EncodedExample[], teacher: OnlineTeacher, topK: number, padId: number): Buffer[] {
  const rows = tidy((): RowData => {
    const batch = padBatch(examples, padId);
    const { index } = targetIndexOf(batch.labels, 'cpu');
    const logProbs = teacher.rows(batch.inputIds, batch.attentionMask, index, 'cpu').float().logSoftmax(-1);
    const { values, indices } = logProbs.topk(topK, -1);
    // Tail log-mass log(1 − Σ top-k p), stably: log(−expm1(logsumexp(top-k log p))).
    const tail = values.logsumexp(-1).expm1().neg().clamp(1e-30).log();
    const byId = indices.sort(-1);
    const { codes, spread } = encodeLogProbs(values.gather(-1, byId.indices));
    return {
      rows: index.size(0),
      ids: byId.values.to('int32').toTypedArray() as Int32Array,
      codes: codes.toTypedArray() as Uint8Array,
      tailLogMass: asBuffer(tail.to('float16').toBytes()),
      spread: asBuffer(spread.toBytes()),
    };
  });
  const blocks: Buffer[] = [];
  let first = 0;
  for (const example of examples) {
    const count = predictedTargets(example.labels);
    blocks.push(encodeBlock(rows, first, count, topK, teacher.vocabSize));
    first += count;
  }
  return blocks;
}

/** Writes one shard file (fsynced) of these examples' blocks; returns its size, hash and target rows. */
function writeShard(path: string, group: readonly EncodedExample[], teacher: OnlineTeacher, o: CacheWriteOptions): { bytes: number; sha256: string; tokens: number } {
  const fd = openSync(path, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  let tokens = 0;
  try {
    for (let b = 0; b < group.length; b += o.batchSize) {
      for (const block of encodeBatch(group.slice(b, b + o.batchSize), teacher, o.topK, o.padId)) {
        writeAll(fd, block);
        hash.update(block);
        bytes += block.length;
        tokens += block.readUInt32LE(0);
      }
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return { bytes, sha256: hash.digest('hex'), tokens };
}

export function writeTeacherCache(out: string, teacher: OnlineTeacher, examples: readonly EncodedExample[], o: CacheWriteOptions): CacheManifest {
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`--out ${out} already has files; a teacher cache is written into a new folder`);
  if (o.topK > teacher.vocabSize) throw new Error(`--top-k ${o.topK} is larger than the teacher's vocabulary (${teacher.vocabSize})`);
  return buildFolderAtomic(out, (temporary) => {
    mkdirSync(temporary, { recursive: true });
    const shards: ShardEntry[] = [];
    let tokens = 0;
    for (let first = 0; first < examples.length; first += o.examplesPerShard) {
      const group = examples.slice(first, first + o.examplesPerShard);
      const file = shardName(shards.length);
      const written = writeShard(join(temporary, file), group, teacher, o);
      shards.push({ file, firstExample: first, examples: group.length, bytes: written.bytes, sha256: written.sha256 });
      tokens += written.tokens;
      o.log(`  ${file}: examples ${first}–${first + group.length - 1}, ${(written.bytes / 1e6).toFixed(1)} MB`);
    }
    const totalBytes = shards.reduce((n, s) => n + s.bytes, 0);
    const manifest: CacheManifest = {
      version: CACHE_VERSION, topK: o.topK, fingerprint: o.fingerprint, teacher: o.teacherName, teacherVocab: teacher.vocabSize, shards,
      examples: examples.length, tokens, bytesPerToken: tokens === 0 ? 0 : totalBytes / tokens,
    };
    // The manifest last: a folder without one is never read.
    writeTextAtomic(join(temporary, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  });
}
