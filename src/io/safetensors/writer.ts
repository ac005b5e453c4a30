// Writes a .safetensors file atomically. Entries are laid out in the order given; the header is
// padded with spaces so the data section starts 8-byte aligned (as the reference writer does).
import { BYTES_PER_ELEMENT, type Tensor } from '../../tensor/index.js';
import { writeAll, writeFileAtomic } from '../atomic.js';
import { safetensorsDtypeName } from './format.js';

/** Raw bytes for a tensor-shaped entry, for data that is not (yet) a Tensor. */
export interface RawEntry {
  dtype: Tensor['dtype'];
  shape: number[];
  data: Uint8Array;
}

export type SafetensorsEntries = Iterable<[string, Tensor | RawEntry]>;

/** Writes an entry's bytes at the file's position: a tensor straight from its storage (no JS copy). */
function writeEntry(fd: number, entry: Tensor | RawEntry): number {
  if ('data' in entry) {
    writeAll(fd, entry.data);
    return entry.data.byteLength;
  }
  return entry.writeTo(fd);
}

export function writeSafetensors(path: string, entries: SafetensorsEntries, metadata: Record<string, string> = {}): void {
  const list = [...entries];
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const names = new Set<string>();
  let offset = 0;
  const sizes: number[] = [];
  for (const [name, entry] of list) {
    if (names.has(name)) throw new Error(`writeSafetensors(${path}): duplicate tensor name '${name}'`);
    if (name === '__metadata__') throw new Error(`writeSafetensors(${path}): '__metadata__' is reserved`);
    names.add(name);
    const { dtype, shape } = entry;
    const numel = shape.reduce((a, b) => a * b, 1);
    const bytes = numel * BYTES_PER_ELEMENT[dtype];
    if ('data' in entry && entry.data.byteLength !== bytes) {
      throw new Error(`writeSafetensors(${path}): '${name}' has ${entry.data.byteLength} bytes but shape [${shape}] of ${dtype} needs ${bytes}`);
    }
    header[name] = { dtype: safetensorsDtypeName(dtype), shape, data_offsets: [offset, offset + bytes] };
    sizes.push(bytes);
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.byteLength));
  writeFileAtomic(path, (fd) => {
    writeAll(fd, prefix);
    writeAll(fd, headerBytes);
    list.forEach(([name, entry], i) => {
      const written = writeEntry(fd, entry);
      if (written !== sizes[i]) throw new Error(`writeSafetensors(${path}): '${name}' produced ${written} bytes, expected ${sizes[i]}`);
    });
  });
}
