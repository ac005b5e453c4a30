// `distillery cache-teacher`: runs the teacher once over the training data and writes its top-k
// predictions at every target position. The cache is built in a temporary folder and renamed into
// place when complete, and its manifest is written last.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type EncodedExample, padBatch, predictedTargets } from '../../data/index.js';
import { targetIndex } from '../../eval/targets.js';
import { temporaryPathFor, writeAll, writeTextAtomic } from '../../io/atomic.js';
import { aten, tensor, tidy } from '../../tensor/index.js';
import type { OnlineTeacher } from '../teacher.js';
import { CACHE_VERSION, type CacheFingerprint, type CacheManifest, MANIFEST, recordBytes, type ShardEntry, shardName } from './format.js';

export interface CacheWriteOptions {
  topK: number;
  fingerprint: CacheFingerprint;
  teacherName: string;
  batchSize: number;
  examplesPerShard: number;
  padId: number;
  log: (line: string) => void;
}

/** Encodes one micro-batch's target rows: per example a u32 count, then per row ids (u24), log-probs (f16), tail (f32). */
function encodeBatch(examples: EncodedExample[], teacher: OnlineTeacher, topK: number, padId: number): Buffer[] {
  return tidy(() => {
    const batch = padBatch(examples, padId);
    const { index } = targetIndex(tensor(batch.labels, { dtype: 'int64' }));
    const logProbs = teacher.rows(batch.inputIds, batch.attentionMask, index, 'cpu').float().logSoftmax(-1);
    const { values, indices } = logProbs.topk(topK, -1);
    // Tail log-mass log(1 − Σ top-k p), stably: log(−expm1(logsumexp(top-k log p))).
    const tail = aten('aten::expm1', values.logsumexp(-1)).neg().clamp(1e-30).log();
    const ids = indices.to('int32').toTypedArray() as Int32Array;
    const halves = values.to('float16').toBytes();
    const tails = tail.toBytes();
    const out: Buffer[] = [];
    let row = 0;
    for (const example of examples) {
      const count = predictedTargets(example.labels);
      const buffer = Buffer.alloc(4 + count * recordBytes(topK));
      buffer.writeUInt32LE(count, 0);
      let offset = 4;
      for (let r = 0; r < count; r++, row++) {
        for (let j = 0; j < topK; j++) buffer.writeUIntLE(ids[row * topK + j]!, offset + 3 * j, 3);
        offset += 3 * topK;
        halves.copy(buffer, offset, row * topK * 2, (row + 1) * topK * 2);
        offset += 2 * topK;
        tails.copy(buffer, offset, row * 4, row * 4 + 4);
        offset += 4;
      }
      out.push(buffer);
    }
    return out;
  });
}

export function writeTeacherCache(out: string, teacher: OnlineTeacher, examples: readonly EncodedExample[], o: CacheWriteOptions): CacheManifest {
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`--out ${out} already has files; a teacher cache is written into a new folder`);
  if (o.topK > teacher.vocabSize) throw new Error(`--top-k ${o.topK} is larger than the teacher's vocabulary (${teacher.vocabSize})`);
  const temporary = temporaryPathFor(out);
  mkdirSync(temporary, { recursive: true });
  const shards: ShardEntry[] = [];
  let tokens = 0;
  try {
    for (let first = 0; first < examples.length; first += o.examplesPerShard) {
      const group = examples.slice(first, first + o.examplesPerShard);
      const file = shardName(shards.length);
      const fd = openSync(join(temporary, file), 'w');
      const hash = createHash('sha256');
      let bytes = 0;
      try {
        for (let b = 0; b < group.length; b += o.batchSize) {
          for (const buffer of encodeBatch(group.slice(b, b + o.batchSize), teacher, o.topK, o.padId)) {
            writeAll(fd, buffer);
            hash.update(buffer);
            bytes += buffer.length;
            tokens += buffer.readUInt32LE(0);
          }
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      shards.push({ file, firstExample: first, examples: group.length, bytes, sha256: hash.digest('hex') });
      o.log(`  ${file}: examples ${first}–${first + group.length - 1}, ${(bytes / 1e6).toFixed(1)} MB`);
    }
    const totalBytes = shards.reduce((n, s) => n + s.bytes, 0);
    const manifest: CacheManifest = {
      version: CACHE_VERSION, topK: o.topK, fingerprint: o.fingerprint, teacher: o.teacherName, teacherVocab: teacher.vocabSize, shards,
      examples: examples.length, tokens, bytesPerToken: tokens === 0 ? 0 : totalBytes / tokens,
    };
    writeTextAtomic(join(temporary, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    rmSync(out, { recursive: true, force: true });
    renameSync(temporary, out);
    return manifest;
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
}
