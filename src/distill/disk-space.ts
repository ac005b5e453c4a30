// The disk a run will fill, checked before anything is loaded: a run that cannot write its last
// checkpoint and its student loses hours of work at the very end, so it is refused up front.
// The figures follow from the student's config alone (float32 weights, AdamW's two float32 moments).
import { existsSync, readdirSync, statfsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parameterCount } from '../models/decoder/size.js';
import { TOKENIZER_FILES } from '../models/decoder/weights.js';
import { listCheckpoints } from './checkpoint.js';
import type { DistillConfig } from './config.js';
import type { PreparedRun } from './prepare.js';

const GIB = 2 ** 30;
const size = (bytes: number) => (bytes >= GIB ? `${(bytes / GIB).toFixed(2)} GB` : `${(bytes / 2 ** 20).toFixed(1)} MB`);

export interface DiskNeed {
  /** One checkpoint: the student (float32), its tokenizer files, AdamW's moments. */
  checkpointBytes: number;
  /** The final student/ folder. */
  studentBytes: number;
  /** What the run adds at its fullest: --keep-checkpoints kept plus the one being written, and student/, less the run's checkpoints already on disk. */
  totalBytes: number;
}

function bytesOf(path: string): number {
  if (!existsSync(path)) return 0;
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.size;
  return readdirSync(path).reduce((sum, name) => sum + bytesOf(join(path, name)), 0);
}

export function diskNeed(config: DistillConfig, prepared: PreparedRun): DiskNeed {
  const weights = 4 * parameterCount(prepared.studentConfig);
  const tokenizer = TOKENIZER_FILES.reduce((sum, name) => sum + bytesOf(join(prepared.studentFolder, name)), 0);
  const studentBytes = weights + tokenizer;
  const checkpointBytes = studentBytes + 2 * weights;
  // Checkpoints already in this run folder (a resumed run's) take part of the kept window's room.
  const existing = listCheckpoints(config.out).reduce((sum, dir) => sum + bytesOf(dir), 0);
  const totalBytes = Math.max(0, (config.keepCheckpoints + 1) * checkpointBytes - existing) + studentBytes;
  return { checkpointBytes, studentBytes, totalBytes };
}

/** Free bytes for an unprivileged writer on the filesystem that holds `path` (or would: its nearest existing ancestor). */
export function freeBytesAt(path: string): number {
  let dir = resolve(path);
  while (!existsSync(dir)) dir = dirname(dir);
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

/** The run's checkpoints and student would not fit on the disk of --out. */
export class DiskSpaceError extends Error {
  override name = 'DiskSpaceError';
}

/** Refuses a run whose checkpoints and student would not fit on the disk of --out, naming the sizes. */
export function checkDiskSpace(config: DistillConfig, prepared: PreparedRun): void {
  const need = diskNeed(config, prepared);
  const free = freeBytesAt(config.out);
  if (need.totalBytes <= free) return;
  throw new DiskSpaceError(
    `--out ${config.out}: the run needs about ${size(need.totalBytes)} of disk (${config.keepCheckpoints + 1} checkpoints of ${size(need.checkpointBytes)} while the newest is written, --keep-checkpoints ${config.keepCheckpoints}, ` +
      `and the final student of ${size(need.studentBytes)}), but only ${size(free)} is free there; free space, choose a folder on another disk, or lower --keep-checkpoints. Nothing was written`,
  );
}
