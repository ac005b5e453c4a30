// Tensor creation with PyTorch's names: from JS data, constant fills, ranges and random draws.
import { native } from '../native/index.js';
import { type DType, dtypeCode, dtypeOfTypedArray, type TypedArray } from './dtype.js';
import type { Generator } from './random.js';
import { aten, type Device, Tensor } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

type NestedNumbers = number | boolean | NestedNumbers[];

function finish(t: Tensor, options: TensorOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad_(true);
  return t;
}

function flatten(data: NestedNumbers, shape: number[], out: number[], depth: number): void {
  if (!Array.isArray(data)) {
    if (depth !== shape.length) throw new RangeError('tensor(data): nested arrays are ragged');
    out.push(Number(data));
    return;
  }
  if (depth === shape.length) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new RangeError('tensor(data): nested arrays are ragged');
  for (const item of data) flatten(item, shape, out, depth + 1);
}

/** A tensor from (nested) JS numbers or booleans; dtype defaults to float32, or bool for booleans. */
export function tensor(data: NestedNumbers, options: TensorOptions = {}): Tensor {
  const shape: number[] = [];
  const values: number[] = [];
  flatten(data, shape, values, 0);
  const firstLeaf = (function leaf(d: NestedNumbers): NestedNumbers {
    return Array.isArray(d) && d.length > 0 ? leaf(d[0]!) : d;
  })(data);
  const dtype = options.dtype ?? (typeof firstLeaf === 'boolean' ? 'bool' : 'float32');
  // Copied as float64 (exact for every integer id below 2^53) straight to the device, where
  // fromBuffer stages GPU copies in pinned memory; converted to the dtype there.
  const t = new Tensor(native.fromBuffer(new Float64Array(values), dtypeCode('float64'), shape, options.device));
  if (dtype === 'float64') return finish(t, options);
  const converted = t.to(dtype);
  t.dispose();
  return finish(converted, options);
}

/** A tensor that copies a typed array (dtype from the array's type unless given for bytes). */
export function fromTypedArray(data: TypedArray, shape: number[], options: { device?: Device; dtype?: DType } = {}): Tensor {
  const dtype = options.dtype ?? dtypeOfTypedArray(data);
  return new Tensor(native.fromBuffer(data, dtypeCode(dtype), shape, options.device));
}

/** A CPU tensor read straight from `length` bytes of an open file at `position` (no JavaScript buffer). */
export function fromFile(fd: number, position: number, length: number, dtype: DType, shape: number[]): Tensor {
  return new Tensor(native.readFile(fd, position, length, dtypeCode(dtype), shape));
}

/** A tensor that copies raw little-endian bytes of the given dtype and shape (e.g. from safetensors). */
export function fromBytes(bytes: Uint8Array, dtype: DType, shape: number[], device?: Device): Tensor {
  return new Tensor(native.fromBuffer(bytes, dtypeCode(dtype), shape, device));
}

function factoryArgs(options: TensorOptions): unknown[] {
  return [options.dtype === undefined ? dtypeCode('float32') : dtypeCode(options.dtype), undefined, options.device];
}

export function zeros(shape: number[], options: TensorOptions = {}): Tensor {
  return finish(aten('aten::zeros', shape, ...factoryArgs(options)), options);
}
export function ones(shape: number[], options: TensorOptions = {}): Tensor {
  return finish(aten('aten::ones', shape, ...factoryArgs(options)), options);
}
export function full(shape: number[], value: number | boolean, options: TensorOptions = {}): Tensor {
  return finish(aten('aten::full', shape, value, ...factoryArgs(options)), options);
}
export function empty(shape: number[], options: TensorOptions = {}): Tensor {
  return finish(aten('aten::empty.memory_format', shape, ...factoryArgs(options)), options);
}
export function zerosLike(t: Tensor): Tensor {
  return aten('aten::zeros_like', t);
}
export function onesLike(t: Tensor): Tensor {
  return aten('aten::ones_like', t);
}

/** arange(end) or arange(start, end, step); dtype defaults to int64 as in PyTorch for integer bounds. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  const integral = [lo, hi, step].every(Number.isInteger);
  const dtype = options.dtype ?? (integral ? 'int64' : 'float32');
  return finish(aten('aten::arange.start_step', lo, hi, step, dtypeCode(dtype), undefined, options.device), options);
}

/** Standard normal samples; from `options.generator` when given, else the seeded global generator. */
export function randn(shape: number[], options: RandomOptions = {}): Tensor {
  const t = options.generator
    ? aten('aten::randn.generator', shape, options.generator.native, ...factoryArgs(options))
    : aten('aten::randn', shape, ...factoryArgs(options));
  return finish(t, options);
}

/** Uniform samples in [0, 1). */
export function rand(shape: number[], options: RandomOptions = {}): Tensor {
  const t = options.generator
    ? aten('aten::rand.generator', shape, options.generator.native, ...factoryArgs(options))
    : aten('aten::rand', shape, ...factoryArgs(options));
  return finish(t, options);
}

/** Integers uniform in [low, high); dtype defaults to int64. */
export function randint(low: number, high: number, shape: number[], options: RandomOptions = {}): Tensor {
  const rest = [options.dtype === undefined ? dtypeCode('int64') : dtypeCode(options.dtype), undefined, options.device];
  return options.generator
    ? aten('aten::randint.low_generator', low, high, shape, options.generator.native, ...rest)
    : aten('aten::randint.low', low, high, shape, ...rest);
}

/** Samples `numSamples` indices per row from the (unnormalised) probabilities in `probs`. */
export function multinomial(probs: Tensor, numSamples: number, options: { replacement?: boolean; generator?: Generator } = {}): Tensor {
  return aten('aten::multinomial', probs, numSamples, options.replacement ?? false, options.generator?.native);
}

/** A tensor shaped like `t` filled with `value` (in `dtype` when given, else t's dtype). */
export function fullLike(t: Tensor, value: number | boolean, dtype?: DType): Tensor {
  return aten('aten::full_like', t, value, dtype === undefined ? undefined : dtypeCode(dtype));
}
