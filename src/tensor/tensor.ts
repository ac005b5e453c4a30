// The Tensor type: a handle on a libtorch tensor with PyTorch's names and semantics. Every method
// that creates a tensor returns a new Tensor owned by the innermost `tidy` scope; in-place methods
// (trailing underscore) return `this`.
import { native, type NativeTensor } from '../native/index.js';
import { callNative, isNativeTensor } from './dispatch.js';
import { countHostRead } from './host-sync.js';
import { type DType, dtypeCode, dtypeFromCode, isDType, isFloatingPoint, type TypedArray, typedArrayFromBytes } from './dtype.js';
import { setScopedPredicate, track } from './scope.js';

// `Symbol.dispose` (for `using`) as lib.esnext.disposable and @types/node declare it, so that the
// shipped declarations type-check for consumers whose `lib` has neither (the same declaration merges).
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}

export type Scalar = number | boolean;
export type Device = string;

export class Tensor {
  #handle: NativeTensor | null;

  /** Wraps an addon handle. Use the creation functions (`tensor`, `zeros`, ...) instead. */
  constructor(handle: NativeTensor) {
    this.#handle = handle;
    track(this);
  }

  /** The addon handle; throws when the tensor was disposed. */
  get native(): NativeTensor {
    if (this.#handle === null) throw new Error('tensor was already disposed');
    return this.#handle;
  }

  get isDisposed(): boolean {
    return this.#handle === null;
  }

  /** Releases the native memory now (views keep their storage alive until they are released too). */
  dispose(): void {
    if (this.#handle !== null) {
      native.dispose(this.#handle);
      this.#handle = null;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- metadata ---------------------------------------------------------------------------------
  get shape(): number[] {
    return native.shape(this.native);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  size(dim: number): number {
    const shape = this.shape;
    const d = dim < 0 ? dim + shape.length : dim;
    if (d < 0 || d >= shape.length) throw new RangeError(`dimension ${dim} out of range for a ${shape.length}-d tensor`);
    return shape[d]!;
  }
  get dtype(): DType {
    return dtypeFromCode(native.dtype(this.native));
  }
  get device(): Device {
    return native.device(this.native);
  }
  get strides(): number[] {
    return native.strides(this.native);
  }
  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- data out ---------------------------------------------------------------------------------
  /** The elements in row-major order, as the typed array of this dtype (float16/bfloat16 as float32). */
  toTypedArray(): TypedArray {
    const dtype = this.dtype;
    if (dtype === 'float16' || dtype === 'bfloat16') {
      using f32 = this.to('float32');
      return f32.toTypedArray();
    }
    countHostRead();
    return typedArrayFromBytes(native.toBuffer(this.native), dtype);
  }
  /** The elements in row-major order as plain numbers (int64 beyond 2^53 loses precision). */
  toArray(): number[] {
    const data = this.toTypedArray();
    return data instanceof BigInt64Array ? Array.from(data, Number) : Array.from(data as ArrayLike<number>);
  }
  /** The host bytes of the elements, row-major, little-endian (what safetensors stores); a Node Buffer at run time. */
  toBytes(): Uint8Array {
    countHostRead();
    return native.toBuffer(this.native);
  }
  /** Writes the same bytes as toBytes() at an open file's current position, with no JavaScript copy; returns their count. */
  writeTo(fd: number): number {
    countHostRead();
    return native.writeFile(fd, this.native);
  }
  /** Nested arrays shaped like the tensor. */
  tolist(): unknown {
    const flat = this.toArray();
    const shape = this.shape;
    const build = (dim: number, offset: number): unknown => {
      if (dim === shape.length) return flat[offset];
      const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: shape[dim]! }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }
  /** The single value of a one-element tensor. */
  item(): number {
    const value = callNative('aten::item', [this.native]);
    return typeof value === 'boolean' ? Number(value) : (value as number);
  }

  // ---- autograd ---------------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return native.requiresGrad(this.native);
  }
  requiresGrad_(flag = true): this {
    native.setRequiresGrad(this.native, flag);
    return this;
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.native);
  }
  /** A new handle on the accumulated gradient (dispose it, or read it inside `tidy`), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.native);
    return g === null ? null : new Tensor(g);
  }
  set grad(value: Tensor | null) {
    native.setGrad(this.native, value === null ? null : value.native);
  }
  backward(gradient?: Tensor, options: { retainGraph?: boolean } = {}): void {
    native.backward(this.native, gradient?.native, options.retainGraph);
  }
  detach(): Tensor {
    return aten('aten::detach', this);
  }

  // ---- conversion -------------------------------------------------------------------------------
  /** Converts dtype and/or device: `t.to('float32')`, `t.to('cuda:0')`, `t.to({ dtype, device })`. */
  to(target: DType | Device | { dtype?: DType; device?: Device }, options: { copy?: boolean } = {}): Tensor {
    const spec = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    return aten(
      'aten::to.dtype_layout',
      this,
      spec.dtype === undefined ? undefined : dtypeCode(spec.dtype),
      undefined,
      spec.device,
      undefined,
      false,
      options.copy ?? false,
    );
  }
  float(): Tensor {
    return this.to('float32');
  }
  long(): Tensor {
    return this.to('int64');
  }
  clone(): Tensor {
    return aten('aten::clone', this);
  }
  contiguous(): Tensor {
    return aten('aten::contiguous', this);
  }
  get isFloatingPoint(): boolean {
    return isFloatingPoint(this.dtype);
  }

  // ---- elementwise arithmetic (broadcasting; numbers are scalars) --------------------------------
  add(other: Tensor | Scalar, alpha?: number): Tensor {
    return binary('add', this, other, alpha);
  }
  sub(other: Tensor | Scalar, alpha?: number): Tensor {
    return binary('sub', this, other, alpha);
  }
  mul(other: Tensor | Scalar): Tensor {
    return binary('mul', this, other);
  }
  div(other: Tensor | Scalar): Tensor {
    return binary('div', this, other);
  }
  pow(exponent: Tensor | Scalar): Tensor {
    return exponent instanceof Tensor ? aten('aten::pow.Tensor_Tensor', this, exponent) : aten('aten::pow.Tensor_Scalar', this, exponent);
  }
  maximum(other: Tensor): Tensor {
    return aten('aten::maximum', this, other);
  }
  minimum(other: Tensor): Tensor {
    return aten('aten::minimum', this, other);
  }
  neg(): Tensor {
    return aten('aten::neg', this);
  }
  abs(): Tensor {
    return aten('aten::abs', this);
  }
  exp(): Tensor {
    return aten('aten::exp', this);
  }
  log(): Tensor {
    return aten('aten::log', this);
  }
  sqrt(): Tensor {
    return aten('aten::sqrt', this);
  }
  rsqrt(): Tensor {
    return aten('aten::rsqrt', this);
  }
  reciprocal(): Tensor {
    return aten('aten::reciprocal', this);
  }
  square(): Tensor {
    return aten('aten::square', this);
  }
  sin(): Tensor {
    return aten('aten::sin', this);
  }
  cos(): Tensor {
    return aten('aten::cos', this);
  }
  tanh(): Tensor {
    return aten('aten::tanh', this);
  }
  sigmoid(): Tensor {
    return aten('aten::sigmoid', this);
  }
  relu(): Tensor {
    return aten('aten::relu', this);
  }
  silu(): Tensor {
    return aten('aten::silu', this);
  }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return aten('aten::gelu', this, approximate);
  }
  clamp(min?: number, max?: number): Tensor {
    return aten('aten::clamp', this, min, max);
  }
  matmul(other: Tensor): Tensor {
    return aten('aten::matmul', this, other);
  }

  // ---- comparison and logic ---------------------------------------------------------------------
  eq(other: Tensor | Scalar): Tensor {
    return binary('eq', this, other);
  }
  ne(other: Tensor | Scalar): Tensor {
    return binary('ne', this, other);
  }
  lt(other: Tensor | Scalar): Tensor {
    return binary('lt', this, other);
  }
  le(other: Tensor | Scalar): Tensor {
    return binary('le', this, other);
  }
  gt(other: Tensor | Scalar): Tensor {
    return binary('gt', this, other);
  }
  ge(other: Tensor | Scalar): Tensor {
    return binary('ge', this, other);
  }
  logicalNot(): Tensor {
    return aten('aten::logical_not', this);
  }
  logicalAnd(other: Tensor): Tensor {
    return aten('aten::logical_and', this, other);
  }
  logicalOr(other: Tensor): Tensor {
    return aten('aten::logical_or', this, other);
  }
  isfinite(): Tensor {
    return aten('aten::isfinite', this);
  }
  isnan(): Tensor {
    return aten('aten::isnan', this);
  }
  all(): Tensor {
    return aten('aten::all', this);
  }
  any(): Tensor {
    return aten('aten::any', this);
  }
  /** out[i] = value where mask[i] else this[i] (mask broadcasts). */
  maskedFill(mask: Tensor, value: Scalar): Tensor {
    return aten('aten::masked_fill.Scalar', this, mask, value);
  }
  triu(diagonal = 0): Tensor {
    return aten('aten::triu', this, diagonal);
  }
  tril(diagonal = 0): Tensor {
    return aten('aten::tril', this, diagonal);
  }

  // ---- reductions -------------------------------------------------------------------------------
  sum(dim?: number | number[], keepdim = false, options: { dtype?: DType } = {}): Tensor {
    const dtype = options.dtype === undefined ? undefined : dtypeCode(options.dtype);
    return dim === undefined ? aten('aten::sum', this, dtype) : aten('aten::sum.dim_IntList', this, dim, keepdim, dtype);
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return dim === undefined ? aten('aten::mean', this) : aten('aten::mean.dim', this, dim, keepdim);
  }
  /** Maximum over all elements. */
  max(): Tensor {
    return aten('aten::max', this);
  }
  /** Maximum along `dim`: values and their indices. */
  maxDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = atenMulti('aten::max.dim', this, dim, keepdim);
    return { values: values!, indices: indices! };
  }
  min(): Tensor {
    return aten('aten::min', this);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return aten('aten::argmax', this, dim, keepdim);
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return aten('aten::logsumexp', this, dim, keepdim);
  }
  /** exp(x) − 1, exact for small x. */
  expm1(): Tensor {
    return aten('aten::expm1', this);
  }
  round(): Tensor {
    return aten('aten::round', this);
  }
  /** A copy of this with source[i] added at index[i] along `dim` (differentiable in both). */
  indexAdd(dim: number, index: Tensor, source: Tensor): Tensor {
    return aten('aten::index_add', this, dim, index, source);
  }
  /** In place: this[index[i]] += source[i] along `dim` (rows added where an index repeats). */
  indexAdd_(dim: number, index: Tensor, source: Tensor): this {
    aten('aten::index_add_', this, dim, index, source).dispose();
    return this;
  }
  /** In place: this += m1 @ m2 (a gradient accumulated without a temporary the size of this). */
  addmm_(m1: Tensor, m2: Tensor): this {
    aten('aten::addmm_', this, m1, m2).dispose();
    return this;
  }
  softmax(dim: number, options: { dtype?: DType } = {}): Tensor {
    return aten('aten::softmax.int', this, dim, options.dtype === undefined ? undefined : dtypeCode(options.dtype));
  }
  logSoftmax(dim: number, options: { dtype?: DType } = {}): Tensor {
    return aten('aten::log_softmax.int', this, dim, options.dtype === undefined ? undefined : dtypeCode(options.dtype));
  }
  cumsum(dim: number): Tensor {
    return aten('aten::cumsum', this, dim);
  }
  norm(p = 2): Tensor {
    return aten('aten::norm.Scalar', this, p);
  }

  // ---- shape and views --------------------------------------------------------------------------
  view(...shape: number[]): Tensor {
    return aten('aten::view', this, shape);
  }
  reshape(...shape: number[]): Tensor {
    return aten('aten::reshape', this, shape);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return aten('aten::transpose.int', this, dim0, dim1);
  }
  /** The transpose of a 2-d tensor. */
  t(): Tensor {
    return aten('aten::t', this);
  }
  permute(...dims: number[]): Tensor {
    return aten('aten::permute', this, dims);
  }
  expand(...shape: number[]): Tensor {
    return aten('aten::expand', this, shape);
  }
  unsqueeze(dim: number): Tensor {
    return aten('aten::unsqueeze', this, dim);
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? aten('aten::squeeze', this) : aten('aten::squeeze.dim', this, dim);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return aten('aten::flatten.using_ints', this, startDim, endDim);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return aten('aten::narrow', this, dim, start, length);
  }
  /** Python's t[..., start:end:step] along `dim`; negative bounds count from the end. */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return aten('aten::slice.Tensor', this, dim, start, end, step);
  }
  /** Python's t[..., index] along `dim` (removes the dimension). */
  select(dim: number, index: number): Tensor {
    return aten('aten::select.int', this, dim, index);
  }
  /** Splits into pieces of `size` (or the given sizes) along `dim`. */
  split(size: number | number[], dim = 0): Tensor[] {
    return Array.isArray(size) ? atenMulti('aten::split_with_sizes', this, size, dim) : atenMulti('aten::split.Tensor', this, size, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return atenMulti('aten::chunk', this, chunks, dim);
  }

  // ---- indexing and selection -------------------------------------------------------------------
  indexSelect(dim: number, index: Tensor): Tensor {
    return aten('aten::index_select', this, dim, index);
  }
  gather(dim: number, index: Tensor): Tensor {
    return aten('aten::gather', this, dim, index);
  }
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [values, indices] = atenMulti('aten::topk', this, k, dim, largest, sorted);
    return { values: values!, indices: indices! };
  }
  argsort(dim = -1, descending = false): Tensor {
    return aten('aten::argsort', this, dim, descending);
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = atenMulti('aten::sort', this, dim, descending);
    return { values: values!, indices: indices! };
  }

  // ---- in place ---------------------------------------------------------------------------------
  zero_(): this {
    return this.inPlace('aten::zero_');
  }
  fill_(value: Scalar): this {
    return this.inPlace('aten::fill_.Scalar', value);
  }
  copy_(source: Tensor): this {
    return this.inPlace('aten::copy_', source);
  }
  add_(other: Tensor | Scalar, alpha?: number): this {
    return other instanceof Tensor ? this.inPlace('aten::add_.Tensor', other, alpha) : this.inPlace('aten::add_.Scalar', other, alpha);
  }
  mul_(other: Tensor | Scalar): this {
    return other instanceof Tensor ? this.inPlace('aten::mul_.Tensor', other) : this.inPlace('aten::mul_.Scalar', other);
  }
  private inPlace(qualified: string, ...args: unknown[]): this {
    const result = callNative(qualified, [this.native, ...args.map(unwrap)]);
    if (isNativeTensor(result)) native.dispose(result); // the same tensor as `this`
    return this;
  }
}

setScopedPredicate((value: object): value is Tensor => value instanceof Tensor);


function unwrap(arg: unknown): unknown {
  if (arg instanceof Tensor) return arg.native;
  if (Array.isArray(arg)) return arg.map(unwrap);
  return arg;
}

function wrap(result: unknown): unknown {
  if (Array.isArray(result)) return result.map(wrap);
  return isNativeTensor(result) ? new Tensor(result) : result;
}

/** Calls an ATen operator that returns one tensor. Tensors in `args` may be Tensors or arrays of them. */
export function aten(qualified: string, ...args: unknown[]): Tensor {
  const result = wrap(callNative(qualified, args.map(unwrap)));
  if (!(result instanceof Tensor)) throw new TypeError(`${qualified} did not return a single tensor`);
  return result;
}

/** Calls an ATen operator that returns several tensors (a tuple or a list). */
export function atenMulti(qualified: string, ...args: unknown[]): Tensor[] {
  return wrap(callNative(qualified, args.map(unwrap))) as Tensor[];
}

type BinaryName = 'add' | 'sub' | 'mul' | 'div' | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
function binary(name: BinaryName, self: Tensor, other: Tensor | Scalar, alpha?: number): Tensor {
  const overload = other instanceof Tensor ? 'Tensor' : 'Scalar';
  const args: unknown[] = [self, other];
  if (alpha !== undefined) args.push(alpha);
  return aten(`aten::${name}.${overload}`, ...args);
}
