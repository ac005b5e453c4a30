// Validates a --device flag against what this libtorch build can use.
import { cudaAvailable, cudaDeviceCount } from '../tensor/index.js';
import { UsageError } from './errors.js';

export function checkDevice(device: string): string {
  if (device === 'cpu') return device;
  const match = /^cuda(?::(\d+))?$/.exec(device);
  if (!match) throw new UsageError(`--device must be 'cpu' or 'cuda[:N]', got '${device}'`);
  if (!cudaAvailable()) throw new UsageError(`--device ${device}: this libtorch build has no usable CUDA device; use --device cpu`);
  const index = Number(match[1] ?? 0);
  if (index >= cudaDeviceCount()) throw new UsageError(`--device ${device}: only ${cudaDeviceCount()} CUDA device(s) visible`);
  return device;
}
