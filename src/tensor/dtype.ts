// PyTorch dtypes by name, their libtorch ScalarType codes (stable across libtorch versions),
// element sizes, and the JS typed arrays that hold their values.

export const DTYPES = ['uint8', 'int8', 'int16', 'int32', 'int64', 'float16', 'float32', 'float64', 'bool', 'bfloat16'] as const;
export type DType = (typeof DTYPES)[number];

const CODE: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};
const BY_CODE = new Map<number, DType>(Object.entries(CODE).map(([name, code]) => [code, name as DType]));

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
  bool: 1,
  bfloat16: 2,
};

export function dtypeCode(dtype: DType): number {
  const code = CODE[dtype];
  if (code === undefined) throw new TypeError(`unknown dtype '${String(dtype)}'; valid: ${DTYPES.join(', ')}`);
  return code;
}

export function dtypeFromCode(code: number): DType {
  const dtype = BY_CODE.get(code);
  if (dtype === undefined) throw new TypeError(`libtorch scalar type ${code} has no Distillery dtype`);
  return dtype;
}

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && (DTYPES as readonly string[]).includes(value);
}

export function isFloatingPoint(dtype: DType): boolean {
  return dtype === 'float16' || dtype === 'float32' || dtype === 'float64' || dtype === 'bfloat16';
}

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** The dtype a typed array's elements have when it becomes a tensor. */
export function dtypeOfTypedArray(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

/** Views host bytes as the typed array that holds values of `dtype` (float16/bfloat16 have none). */
export function typedArrayFromBytes(bytes: Uint8Array, dtype: DType): TypedArray {
  const { buffer, byteOffset, byteLength } = bytes;
  // Buffers from the addon may sit at any offset; copy when the view would be misaligned.
  const aligned = byteOffset % BYTES_PER_ELEMENT[dtype] === 0;
  const src = aligned ? buffer : bytes.buffer.slice(byteOffset, byteOffset + byteLength);
  const offset = aligned ? byteOffset : 0;
  const n = byteLength / BYTES_PER_ELEMENT[dtype];
  switch (dtype) {
    case 'float32':
      return new Float32Array(src, offset, n);
    case 'float64':
      return new Float64Array(src, offset, n);
    case 'int32':
      return new Int32Array(src, offset, n);
    case 'int64':
      return new BigInt64Array(src, offset, n);
    case 'int16':
      return new Int16Array(src, offset, n);
    case 'int8':
      return new Int8Array(src, offset, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(src, offset, n);
    default:
      throw new TypeError(`${dtype} has no JS typed array; convert with .to('float32') first`);
  }
}
