// One example's block in a cache shard (format version 2):
//   u32 n            target rows of the example
//   u32 idBytes      length of the id stream at the end
//   n × float16      tail log-mass of each row
//   n × float16      spread of each row's log-probability codes
//   n × k × u8       log-probability codes, in each row's id order
//   idBytes          each row's k ids, sorted, gap-coded (sorted-ids.ts), one bit stream
// Fixed-size parts come first so a reader copies them without decoding.
import { BitReader, BitWriter, readSortedIds, writeSortedIds } from './sorted-ids.js';

export const BLOCK_HEADER_BYTES = 8;

/** Rows of one or more examples, row-major: ids sorted within each row, codes in the same order. */
export interface RowData {
  rows: number;
  ids: Int32Array; // rows × k
  codes: Uint8Array; // rows × k
  tailLogMass: Buffer; // rows × float16
  spread: Buffer; // rows × float16
}

/** The block of rows [first, first + count) of `data`. */
export function encodeBlock(data: RowData, first: number, count: number, k: number, vocab: number): Buffer {
  const bits = new BitWriter();
  for (let r = first; r < first + count; r++) writeSortedIds(bits, data.ids.subarray(r * k, (r + 1) * k), vocab);
  const idStream = bits.finish();
  const header = Buffer.alloc(BLOCK_HEADER_BYTES);
  header.writeUInt32LE(count, 0);
  header.writeUInt32LE(idStream.length, 4);
  return Buffer.concat([
    header,
    data.tailLogMass.subarray(first * 2, (first + count) * 2),
    data.spread.subarray(first * 2, (first + count) * 2),
    data.codes.subarray(first * k, (first + count) * k),
    idStream,
  ]);
}

/** Rows and total length of a block from its header. */
export function blockExtent(header: Buffer, k: number): { rows: number; bytes: number } {
  const rows = header.readUInt32LE(0);
  return { rows, bytes: BLOCK_HEADER_BYTES + rows * (4 + k) + header.readUInt32LE(4) };
}

/** Decodes a whole block into `into` from row `row` on; `where` names it in errors. */
export function decodeBlock(block: Buffer, k: number, vocab: number, into: RowData, row: number, where: () => string): void {
  const { rows, bytes } = blockExtent(block, k);
  if (block.length !== bytes) throw new Error(`${where()}: block of ${block.length} bytes, its header says ${bytes} (corrupt cache)`);
  let offset = BLOCK_HEADER_BYTES;
  offset += block.copy(into.tailLogMass, row * 2, offset, offset + rows * 2);
  offset += block.copy(into.spread, row * 2, offset, offset + rows * 2);
  into.codes.set(block.subarray(offset, offset + rows * k), row * k);
  offset += rows * k;
  const idStream = new BitReader(block.subarray(offset), where);
  for (let r = 0; r < rows; r++) readSortedIds(idStream, k, vocab, into.ids, (row + r) * k);
  if (idStream.bytesRead !== block.length - offset) throw new Error(`${where()}: id stream of ${block.length - offset} bytes holds ${idStream.bytesRead} (corrupt cache)`);
}

export function allocateRows(rows: number, k: number): RowData {
  return { rows, ids: new Int32Array(rows * k), codes: new Uint8Array(rows * k), tailLogMass: Buffer.alloc(rows * 2), spread: Buffer.alloc(rows * 2) };
}
