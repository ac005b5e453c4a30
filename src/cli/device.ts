// Validates a --device flag against what this libtorch build can use.
import { checkDevice as checkDeviceNamed } from '../tensor/index.js';

export function checkDevice(device: string): string {
  return checkDeviceNamed(device, '--device');
}
