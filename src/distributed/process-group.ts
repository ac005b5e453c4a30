// A c10d process group (Gloo on CPU, NCCL on CUDA) with the collectives data parallelism needs.
// Every collective failure becomes a RankFailureError that names the rank that went away, found
// through the rendezvous store (see failure.ts), so a dead or hung peer never means a silent hang.
import { native, type NativeProcessGroup } from '../native/index.js';
import { type Tensor, tensor, tidy } from '../tensor/index.js';
import type { WorldEnvironment } from './environment.js';
import { diagnoseFailure, RankFailureError } from './failure.js';

export type Backend = 'gloo' | 'nccl';

export interface ProcessGroupOptions extends WorldEnvironment {
  backend: Backend;
  /** Where reduceNumbers puts its scratch tensor: 'cpu' for Gloo, this rank's 'cuda:N' for NCCL. */
  device: string;
  /** Collectives and the rendezvous give up after this long (a hung peer). */
  timeoutMs: number;
}

/** DDP's default: gradients travel in ~25 MB buckets, not one message per parameter. */
const BUCKET_BYTES = 25 * 1024 * 1024;

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: Backend;
  readonly timeoutMs: number;
  readonly device: string;
  readonly #where: string;
  #handle: NativeProcessGroup | null;
  /** What the run is doing now ("step 12"), named in failure messages. */
  phase = 'start-up';

  private constructor(handle: NativeProcessGroup, options: ProcessGroupOptions) {
    this.#handle = handle;
    this.rank = options.rank;
    this.worldSize = options.worldSize;
    this.backend = options.backend;
    this.timeoutMs = options.timeoutMs;
    this.device = options.device;
    this.#where = `${options.masterAddr}:${options.masterPort}`;
  }

  /** Rendezvous with every other rank through rank 0's TCPStore at MASTER_ADDR:MASTER_PORT. */
  static init(options: ProcessGroupOptions): ProcessGroup {
    const available = native.distAvailable();
    if (!available[options.backend]) {
      throw new Error(
        options.backend === 'gloo'
          ? 'this build of the addon has no Gloo (its headers were missing at build time): apt-get install libgloo-dev, then node scripts/build-native.mjs --force'
          : 'this build of the addon has no NCCL (it needs a CUDA libtorch and nccl.h at build time); use --dist-backend gloo',
      );
    }
    try {
      const handle = native.distInit({
        backend: options.backend,
        rank: options.rank,
        worldSize: options.worldSize,
        masterAddr: options.masterAddr,
        masterPort: options.masterPort,
        timeoutMs: options.timeoutMs,
        hostStore: options.rank === 0 && !options.agentStore,
        ...(options.interface ? { interface: options.interface } : {}),
      });
      return new ProcessGroup(handle, options);
    } catch (error) {
      throw new RankFailureError(
        `rank ${options.rank} of ${options.worldSize}: the rendezvous at ${options.masterAddr}:${options.masterPort} (MASTER_ADDR:MASTER_PORT) failed ` +
          `within ${options.timeoutMs / 1000} s — is every rank started, with the same WORLD_SIZE, and is rank 0 reachable? (${(error as Error).message})`,
      );
    }
  }

  get #native(): NativeProcessGroup {
    if (this.#handle === null) throw new Error('the process group was already closed');
    return this.#handle;
  }

  #collective<T>(what: string, body: () => T): T {
    try {
      return body();
    } catch (error) {
      const handle = this.#handle;
      this.#handle = null; // a failed group cannot be used again
      throw diagnoseFailure({
        rank: this.rank, worldSize: this.worldSize, phase: this.phase, what, storeAt: this.#where, cause: error as Error,
        setKey: (k, v) => native.distStoreSet(handle!, k, v),
        getKey: (k) => native.distStoreGet(handle!, k),
      });
    }
  }

  /** In place: every rank ends with the elementwise sum (or max/min) over all ranks. */
  allReduce(tensors: Tensor[], op: 'sum' | 'max' | 'min' = 'sum'): void {
    if (tensors.length === 0) return;
    this.#collective(`all-reduce (${op})`, () => native.distAllReduce(this.#native, tensors.map((t) => t.native), op, BUCKET_BYTES));
  }

  /** In place: every rank ends with `root`'s values. */
  broadcast(tensors: Tensor[], root = 0): void {
    if (tensors.length === 0) return;
    this.#collective('broadcast', () => native.distBroadcast(this.#native, tensors.map((t) => t.native), root, BUCKET_BYTES));
  }

  barrier(): void {
    this.#collective('barrier', () => native.distBarrier(this.#native));
  }

  /** Sums (or max/min) of plain numbers over all ranks, in float64. */
  reduceNumbers(values: number[], op: 'sum' | 'max' | 'min' = 'sum'): number[] {
    return tidy(() => {
      const t = tensor(values, { dtype: 'float64', device: this.device });
      this.allReduce([t], op);
      return t.toArray();
    });
  }

  /** Releases the group; rank 0 should close last, as it hosts the store (close after a barrier). */
  close(): void {
    if (this.#handle === null) return;
    native.distClose(this.#handle);
    this.#handle = null;
  }
}
