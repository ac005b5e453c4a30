// Lazy reading of one .safetensors file: only the header is read on open; each tensor's bytes
// are read on demand, so a 4 GB shard never has to sit in memory at once.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type DType, type Tensor, fromFile } from '../../tensor/index.js';
import { MAX_HEADER_BYTES, parseHeader, SafetensorsError, type TensorInfo } from './format.js';

function readExactly(fd: number, file: string, length: number, position: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new SafetensorsError('OUT_OF_BOUNDS', file, `file ended after ${position + done} bytes while reading ${length} at ${position}`);
    done += n;
  }
  return buffer;
}

export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly #tensors: Map<string, TensorInfo>;
  #fd: number | null;

  private constructor(path: string, fd: number, tensors: Map<string, TensorInfo>, metadata: Record<string, string>) {
    this.path = path;
    this.#fd = fd;
    this.#tensors = tensors;
    this.metadata = metadata;
  }

  /** Opens and validates `path`; throws SafetensorsError naming the file and problem. */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      throw new SafetensorsError('IO', path, `cannot open: ${(error as Error).message}`);
    }
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new SafetensorsError('TOO_SMALL', path, `file has ${size} bytes; a safetensors file starts with an 8-byte header length`);
      const lengthBytes = readExactly(fd, path, 8, 0);
      const headerLength = lengthBytes.readBigUInt64LE(0);
      if (headerLength > BigInt(MAX_HEADER_BYTES)) {
        throw new SafetensorsError('HEADER_TOO_LARGE', path, `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
      }
      const length = Number(headerLength);
      if (8 + length > size) {
        throw new SafetensorsError('HEADER_OUT_OF_BOUNDS', path, `header length ${length} runs past the end of the ${size}-byte file`);
      }
      const { tensors, metadata } = parseHeader(path, readExactly(fd, path, length, 8), length, size);
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  names(): string[] {
    return [...this.#tensors.keys()];
  }

  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.#tensors.get(name);
    if (!info) throw new SafetensorsError('UNKNOWN_TENSOR', this.path, 'no such tensor in this file', name);
    return info;
  }

  /** The raw little-endian bytes of one tensor. */
  readBytes(name: string): Buffer {
    if (this.#fd === null) throw new SafetensorsError('IO', this.path, 'file was closed');
    const info = this.info(name);
    return readExactly(this.#fd, this.path, info.end - info.begin, info.begin);
  }

  /** One tensor, converted to `dtype` and moved to `device` when given. */
  tensor(name: string, options: { dtype?: DType; device?: string } = {}): Tensor {
    if (this.#fd === null) throw new SafetensorsError('IO', this.path, 'file was closed');
    const info = this.info(name);
    let raw: Tensor;
    try {
      raw = fromFile(this.#fd, info.begin, info.end - info.begin, info.dtype, info.shape);
    } catch (error) {
      const message = (error as Error).message;
      throw new SafetensorsError(/ended/.test(message) ? 'OUT_OF_BOUNDS' : 'IO', this.path, message.replace(/^readFile: /, ''), name);
    }
    if ((options.dtype === undefined || options.dtype === info.dtype) && (options.device === undefined || options.device === 'cpu')) return raw;
    const converted = raw.to({ dtype: options.dtype, device: options.device });
    raw.dispose();
    return converted;
  }

  close(): void {
    if (this.#fd !== null) {
      closeSync(this.#fd);
      this.#fd = null;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
