// The safetensors format (https://github.com/huggingface/safetensors): an unsigned 64-bit
// little-endian header length N, N bytes of JSON header, then the raw little-endian tensor data.
// Header entries: name -> { dtype, shape, data_offsets: [begin, end] } relative to the data
// section, plus an optional "__metadata__" map of strings. Validation here is strict, like the
// reference implementation's: every byte of the data section belongs to exactly one tensor.
import type { DType } from '../../tensor/dtype.js';

/** Largest header accepted (the reference implementation's limit): guards against lying lengths. */
export const MAX_HEADER_BYTES = 100_000_000;

export const SAFETENSORS_DTYPES: Record<string, { dtype: DType; bytes: number }> = {
  F64: { dtype: 'float64', bytes: 8 },
  F32: { dtype: 'float32', bytes: 4 },
  F16: { dtype: 'float16', bytes: 2 },
  BF16: { dtype: 'bfloat16', bytes: 2 },
  I64: { dtype: 'int64', bytes: 8 },
  I32: { dtype: 'int32', bytes: 4 },
  I16: { dtype: 'int16', bytes: 2 },
  I8: { dtype: 'int8', bytes: 1 },
  U8: { dtype: 'uint8', bytes: 1 },
  BOOL: { dtype: 'bool', bytes: 1 },
};

export function safetensorsDtypeName(dtype: DType): string {
  const entry = Object.entries(SAFETENSORS_DTYPES).find(([, v]) => v.dtype === dtype);
  if (!entry) throw new TypeError(`dtype ${dtype} cannot be stored in safetensors`);
  return entry[0];
}

export type SafetensorsErrorCode =
  | 'IO'
  | 'TOO_SMALL'
  | 'HEADER_TOO_LARGE'
  | 'HEADER_OUT_OF_BOUNDS'
  | 'HEADER_NOT_UTF8'
  | 'HEADER_NOT_JSON'
  | 'HEADER_NOT_OBJECT'
  | 'BAD_METADATA'
  | 'BAD_ENTRY'
  | 'BAD_DTYPE'
  | 'BAD_SHAPE'
  | 'BAD_OFFSETS'
  | 'SIZE_MISMATCH'
  | 'OUT_OF_BOUNDS'
  | 'OVERLAP'
  | 'GAP'
  | 'TRAILING_DATA'
  | 'UNKNOWN_TENSOR'
  | 'BAD_INDEX';

/** Every problem with a safetensors file: which file, which tensor (if any), and what is wrong. */
export class SafetensorsError extends Error {
  constructor(
    readonly code: SafetensorsErrorCode,
    readonly file: string,
    detail: string,
    readonly tensor?: string,
  ) {
    super(`${file}${tensor === undefined ? '' : ` (tensor '${tensor}')`}: ${detail}`);
    this.name = 'SafetensorsError';
  }
}

export interface TensorInfo {
  name: string;
  dtype: DType;
  /** The dtype's name in the file, e.g. 'BF16'. */
  storedAs: string;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  dataStart: number;
}

/**
 * Validates a header (already read as bytes) against the file size and returns the tensor table.
 * `headerLength` is the value from the first 8 bytes.
 */
export function parseHeader(file: string, headerBytes: Uint8Array, headerLength: number, fileSize: number): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError('HEADER_NOT_UTF8', file, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SafetensorsError('HEADER_NOT_JSON', file, `header is not valid JSON (${(error as Error).message})`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError('HEADER_NOT_OBJECT', file, 'header must be a JSON object of tensor entries');
  }
  const dataStart = 8 + headerLength;
  const dataLength = fileSize - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, entry);
      continue;
    }
    tensors.set(name, parseEntry(file, name, entry, dataStart, dataLength));
  }
  checkCoverage(file, [...tensors.values()], dataStart, dataLength);
  return { tensors, metadata, dataStart };
}

function parseMetadata(file: string, entry: unknown): Record<string, string> {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new SafetensorsError('BAD_METADATA', file, '__metadata__ must be an object of string values');
  }
  for (const [key, value] of Object.entries(entry)) {
    if (typeof value !== 'string') throw new SafetensorsError('BAD_METADATA', file, `__metadata__.${key} must be a string`);
  }
  return entry as Record<string, string>;
}

function parseEntry(file: string, name: string, entry: unknown, dataStart: number, dataLength: number): TensorInfo {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new SafetensorsError('BAD_ENTRY', file, 'entry must be an object with dtype, shape and data_offsets', name);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPES)) {
    throw new SafetensorsError('BAD_DTYPE', file, `dtype ${JSON.stringify(dtype)} is not one of ${Object.keys(SAFETENSORS_DTYPES).join(', ')}`, name);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError('BAD_SHAPE', file, `shape ${JSON.stringify(shape)} must be an array of non-negative integers`, name);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    throw new SafetensorsError('BAD_OFFSETS', file, `data_offsets ${JSON.stringify(offsets)} must be [begin, end] with 0 <= begin <= end`, name);
  }
  const { dtype: mapped, bytes } = SAFETENSORS_DTYPES[dtype]!;
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  const [begin, end] = offsets as [number, number];
  if (!Number.isSafeInteger(numel * bytes) || numel * bytes !== end - begin) {
    throw new SafetensorsError('SIZE_MISMATCH', file, `shape [${shape}] of ${dtype} needs ${numel * bytes} bytes but data_offsets span ${end - begin}`, name);
  }
  if (end > dataLength) {
    throw new SafetensorsError('OUT_OF_BOUNDS', file, `data_offsets end ${end} is past the data section's ${dataLength} bytes (file truncated?)`, name);
  }
  return { name, dtype: mapped, storedAs: dtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end };
}

/** Tensors must tile the data section exactly: no overlaps, no holes, nothing after the last one. */
function checkCoverage(file: string, infos: TensorInfo[], dataStart: number, dataLength: number): void {
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = dataStart;
  for (const info of sorted) {
    if (info.begin < cursor) throw new SafetensorsError('OVERLAP', file, `bytes ${info.begin - dataStart}..${info.end - dataStart} overlap the previous tensor`, info.name);
    if (info.begin > cursor) throw new SafetensorsError('GAP', file, `${info.begin - cursor} unused bytes before this tensor`, info.name);
    cursor = info.end;
  }
  if (cursor !== dataStart + dataLength) {
    throw new SafetensorsError('TRAILING_DATA', file, `${dataStart + dataLength - cursor} bytes after the last tensor belong to no tensor`);
  }
}
