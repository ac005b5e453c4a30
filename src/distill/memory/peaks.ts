// Peak memory per training step and over the whole run, as metrics.jsonl and summary.json record it:
// the resident high-water mark (`peak_rss_mb`) and, on CUDA, the caching allocator's peak
// (`cuda_max_allocated_mb`, as torch.cuda.max_memory_allocated). Each step starts a new window;
// what the windows between steps saw (evaluations, checkpoints) still counts for the run.
import { cudaAllocated, resetCudaPeak } from '../../tensor/index.js';
import { peakResidentBytes, resetPeakResident } from './process-memory.js';

const toMb = (bytes: number) => Math.round(bytes / 2 ** 20);

export interface PeakRecord {
  peak_rss_mb: number | null;
  cuda_max_allocated_mb?: number;
}

export class RunPeaks {
  #resident: number | null = null;
  #cuda: number | null = null;

  constructor(readonly device: string) {}

  /** Folds the windows so far into the run's peaks; returns this window's. */
  #fold(): { resident: number | null; cuda: number | null } {
    const resident = peakResidentBytes();
    const cuda = cudaAllocated(this.device)?.peakAllocatedBytes ?? null;
    if (resident !== null) this.#resident = Math.max(this.#resident ?? 0, resident);
    if (cuda !== null) this.#cuda = Math.max(this.#cuda ?? 0, cuda);
    return { resident, cuda };
  }

  stepStarts(): void {
    this.#fold();
    resetPeakResident();
    resetCudaPeak(this.device); // reads counters only: no device synchronisation
  }

  /** The peaks since the step started. */
  step(): PeakRecord {
    return record(this.#fold());
  }

  /** The peaks of the whole run so far. */
  run(): PeakRecord {
    this.#fold();
    return record({ resident: this.#resident, cuda: this.#cuda });
  }
}

function record(peaks: { resident: number | null; cuda: number | null }): PeakRecord {
  return { peak_rss_mb: peaks.resident === null ? null : toMb(peaks.resident), ...(peaks.cuda === null ? {} : { cuda_max_allocated_mb: toMb(peaks.cuda) }) };
}
