// Validates a --device flag against what this libtorch build can use.
import { checkDevice as checkDeviceNamed } from '../tensor/index.js';
import { UsageError } from './errors.js';

export function checkDevice(device: string): string {
  // A malformed name is the command line's fault (exit 2); a device this machine lacks is not (exit 1).
  if (device !== 'cpu' && !/^cuda(?::\d+)?$/.test(device)) throw new UsageError(`--device must be 'cpu' or 'cuda[:N]', got '${device}'`);
  return checkDeviceNamed(device, '--device');
}
