// Data parallelism for the trainer, as DDP does it, over a c10d process group (or none: then every
// method is the single-process identity, so the trainer has one code path).
//
// Every rank walks the same seeded data order and builds the same global step of
// gradAccum × worldSize micro-batches; rank r trains on the r-th contiguous run of gradAccum of
// them. Each rank scales its loss by the target tokens of the whole global step (known locally,
// since every rank sees the whole step's examples), so summing the ranks' gradients gives exactly
// the gradient of DESIGN.md's per-token mean over the global batch: the same update a single
// process makes with gradAccum × worldSize micro-batches.
import type { ProcessGroup } from '../distributed/process-group.js';
import type { Tensor } from '../tensor/index.js';
import { tidy } from '../tensor/index.js';
import { gradientBuffer } from './gradient-buffer.js';

export class DataParallel {
  constructor(readonly group: ProcessGroup | null) {}

  get rank(): number {
    return this.group?.rank ?? 0;
  }

  get worldSize(): number {
    return this.group?.worldSize ?? 1;
  }

  /** Rank 0 writes checkpoints, metrics and reports, and speaks for the run. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Names what the run is doing in failure messages ("step 12"). */
  set phase(label: string) {
    if (this.group) this.group.phase = label;
  }

  /** This rank's share of a global step's micro-batches (all.length = gradAccum × worldSize). */
  shareOf<T>(all: readonly T[]): T[] {
    const each = all.length / this.worldSize;
    return all.slice(this.rank * each, (this.rank + 1) * each);
  }

  /** This rank's share of evaluation batches (round robin: uneven counts stay balanced). */
  evalShareOf<T>(all: readonly T[]): T[] {
    return all.filter((_, i) => i % this.worldSize === this.rank);
  }

  /** Rank 0's parameter values everywhere, so every replica starts identical. */
  syncParameters(params: Tensor[]): void {
    this.group?.broadcast(params, 0);
  }

  /** Sums every parameter's gradient over the ranks (a missing gradient counts as zeros). */
  sumGradients(params: Tensor[]): void {
    const group = this.group;
    if (!group) return;
    tidy(() => group.allReduce(params.map(gradientBuffer), 'sum'));
  }

  /** Each numeric field summed over the ranks (one collective for the whole record). */
  sumFields<T extends { [K in keyof T]: number }>(record: T): T {
    if (!this.group) return record;
    const keys = Object.keys(record) as (keyof T)[];
    const sums = this.group.reduceNumbers(keys.map((k) => record[k]!), 'sum');
    return Object.fromEntries(keys.map((k, i) => [k, sums[i]])) as T;
  }

  /** True on every rank when any rank asks to stop (Ctrl-C reaches one process of a node or all). */
  anyRank(flag: boolean): boolean {
    return this.group ? this.group.reduceNumbers([flag ? 1 : 0], 'max')[0]! > 0 : flag;
  }

  barrier(): void {
    this.group?.barrier();
  }
}
