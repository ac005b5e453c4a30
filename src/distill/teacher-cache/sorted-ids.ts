// Compact coding of a row's top-k token ids. The ids are a set, so they are stored sorted, as the
// gaps between neighbours (gap_0 = id_0, gap_j = id_j − id_{j−1} − 1), each gap Golomb-Rice coded
// with a parameter that follows the running mean of the gaps seen so far in the row (the adaptive
// rule of LOCO-I / JPEG-LS): dense runs of frequent low ids cost a few bits, sparse stretches more,
// close to the log2 C(V, k) bits a uniformly random set needs. A gap whose quotient would need
// more than ESCAPE unary bits is written raw instead, so one far outlier costs at most
// ESCAPE + 1 + log2 V bits.

const ESCAPE = 24;
/** Halve the running statistics after this many gaps, so the parameter follows local density. */
const RESET = 16;

export class BitWriter {
  #bytes: number[] = [];
  #current = 0;
  #filled = 0;

  /** Appends the low `count` bits of `value` (count ≤ 31), least significant bit first. */
  write(value: number, count: number): void {
    for (let i = 0; i < count; i++) this.bit((value >>> i) & 1);
  }

  bit(b: number): void {
    this.#current |= b << this.#filled;
    if (++this.#filled === 8) this.#flushByte();
  }

  #flushByte(): void {
    this.#bytes.push(this.#current);
    this.#current = 0;
    this.#filled = 0;
  }

  /** The bits so far, the last byte padded with zeros. */
  finish(): Buffer {
    if (this.#filled > 0) this.#flushByte();
    return Buffer.from(this.#bytes);
  }
}

export class BitReader {
  #position = 0; // in bits

  constructor(readonly bytes: Uint8Array, readonly where: () => string) {}

  bit(): number {
    const byte = this.#position >>> 3;
    if (byte >= this.bytes.length) throw new Error(`${this.where()}: id stream ends early (corrupt cache)`);
    const b = (this.bytes[byte]! >>> (this.#position & 7)) & 1;
    this.#position++;
    return b;
  }

  read(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) value |= this.bit() << i;
    return value >>> 0;
  }

  /** Bytes consumed, counting a partly read last byte. */
  get bytesRead(): number {
    return Math.ceil(this.#position / 8);
  }
}

/** Bits that hold any id below `vocab`. */
const idBits = (vocab: number) => Math.max(1, Math.ceil(Math.log2(vocab)));

/** The Rice parameter for the next gap: the least r with count·2^r ≥ sum (about log2 of the mean gap). */
function riceParameter(sum: number, count: number): number {
  let r = 0;
  while (count * 2 ** r < sum) r++;
  return r;
}

/** Running gap statistics, started at the mean gap a uniform set of k ids out of V would have. */
class GapModel {
  sum: number;
  count = 1;

  constructor(vocab: number, k: number) {
    this.sum = Math.max(1, Math.floor(vocab / k));
  }

  update(gap: number): void {
    this.sum += gap;
    if (++this.count === RESET) {
      this.sum = Math.floor(this.sum / 2);
      this.count = RESET / 2;
    }
  }
}

/** Writes `ids` (strictly increasing, each in [0, vocab)). */
export function writeSortedIds(out: BitWriter, ids: ArrayLike<number>, vocab: number): void {
  const model = new GapModel(vocab, ids.length);
  let previous = -1;
  for (let j = 0; j < ids.length; j++) {
    const gap = ids[j]! - previous - 1;
    if (gap < 0 || ids[j]! >= vocab) throw new RangeError(`ids must be strictly increasing and below ${vocab}; got ${ids[j]} after ${previous}`);
    const r = riceParameter(model.sum, model.count);
    const quotient = Math.floor(gap / 2 ** r);
    if (quotient < ESCAPE) {
      for (let i = 0; i < quotient; i++) out.bit(1);
      out.bit(0);
      out.write(gap, r);
    } else {
      for (let i = 0; i < ESCAPE; i++) out.bit(1);
      out.write(gap, idBits(vocab));
    }
    model.update(gap);
    previous = ids[j]!;
  }
}

/** Reads `k` ids written by writeSortedIds into `into` at `offset`. */
export function readSortedIds(input: BitReader, k: number, vocab: number, into: Int32Array, offset: number): void {
  const model = new GapModel(vocab, k);
  let previous = -1;
  for (let j = 0; j < k; j++) {
    const r = riceParameter(model.sum, model.count);
    let quotient = 0;
    while (quotient < ESCAPE && input.bit() === 1) quotient++;
    const gap = quotient < ESCAPE ? quotient * 2 ** r + input.read(r) : input.read(idBits(vocab));
    const id = previous + 1 + gap;
    if (id >= vocab) throw new Error(`${input.where()}: id ${id} is outside the vocabulary of ${vocab} (corrupt cache)`);
    into[offset + j] = id;
    model.update(gap);
    previous = id;
  }
}
