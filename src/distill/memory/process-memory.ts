// Resident memory of this process from /proc (Linux): the current size, the high-water mark, and a
// reset of the mark, so a benchmark can measure the peak of one phase rather than of the whole run.
import { readFileSync, writeFileSync } from 'node:fs';

/** A `Name:   123 kB` line of a /proc file, in bytes; null where /proc or the field is missing. */
export function procKilobytes(file: '/proc/self/status' | '/proc/meminfo', name: string): number | null {
  try {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const statusField = (name: 'VmRSS' | 'VmHWM') => procKilobytes('/proc/self/status', name);

/** Bytes resident now, or null where /proc is missing. */
export const residentBytes = (): number | null => statusField('VmRSS');

/** The most bytes resident since the process started or since the last resetPeakResident(). */
export const peakResidentBytes = (): number | null => statusField('VmHWM');

/** Restarts the high-water mark at the current size (Linux ≥ 4.0: "5" > /proc/self/clear_refs). */
export function resetPeakResident(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
