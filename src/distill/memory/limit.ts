// The memory budget a run is planned against: --memory-limit when given, else what the device has
// free at start minus a margin. On CPU that is /proc/meminfo's MemAvailable (what can be had without
// swapping: free memory plus reclaimable caches); on CUDA, the device's free memory (cudaMemGetInfo).
import { cudaDeviceMemory } from '../../tensor/index.js';
import { procKilobytes } from './process-memory.js';

const GIB = 2 ** 30;

export interface MemoryBudget {
  /** Bytes the run may use on its device. */
  bytes: number;
  /** Where the figure comes from, for the plan's printout. */
  source: string;
}

const meminfoField = (name: 'MemTotal' | 'MemAvailable') => procKilobytes('/proc/meminfo', name);

/** This machine's memory: its total, and what is available now (null where /proc is missing). */
export function hostMemory(): { totalBytes: number | null; availableBytes: number | null } {
  return { totalBytes: meminfoField('MemTotal'), availableBytes: meminfoField('MemAvailable') };
}

/**
 * What is kept back from the free memory by default: 1 GiB, or 5 % of the machine when that is more
 * (the kernel, page cache the run itself creates when reading checkpoints, other processes' growth).
 */
export function defaultMargin(totalBytes: number): number {
  return Math.max(GIB, 0.05 * totalBytes);
}

export class MemoryLimitError extends Error {
  override name = 'MemoryLimitError';
}

/**
 * The budget for `device`. A --memory-limit below 0.5 GB or above the device's total memory is
 * refused (it could never describe this machine); null when nothing is known (CUDA without
 * an addon without CUDA memory figures and no --memory-limit): the run then goes unplanned, with a warning.
 */
export function memoryBudget(device: string, limitGb: number | null): MemoryBudget | null {
  const cuda = device.startsWith('cuda');
  const machine = cuda ? cudaDeviceMemory(device) : null;
  const total = cuda ? (machine?.totalBytes ?? null) : hostMemory().totalBytes;
  const where = cuda ? `${device}` : 'this machine';
  if (limitGb !== null) {
    const bytes = limitGb * GIB;
    if (!(limitGb >= 0.5)) throw new MemoryLimitError(`--memory-limit ${limitGb}: must be at least 0.5 (GB); no run fits in less`);
    if (total !== null && bytes > total) {
      throw new MemoryLimitError(`--memory-limit ${limitGb}: ${where} has only ${(total / GIB).toFixed(1)} GB; give at most that (or leave it out: the default is what is free at start)`);
    }
    return { bytes, source: `--memory-limit ${limitGb}` };
  }
  if (cuda) {
    if (!machine) return null;
    return { bytes: machine.freeBytes - defaultMargin(machine.totalBytes), source: `free on ${device} (${(machine.freeBytes / GIB).toFixed(1)} GB) less a margin` };
  }
  const host = hostMemory();
  if (host.availableBytes === null || host.totalBytes === null) return null;
  return {
    bytes: host.availableBytes - defaultMargin(host.totalBytes),
    source: `available on this machine (${(host.availableBytes / GIB).toFixed(1)} GB) less a margin`,
  };
}
