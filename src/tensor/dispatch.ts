// Calls ATen operators by their qualified schema name ("aten::add.Tensor") through the addon's
// generic boxed-call entry point. Operators are resolved once and cached by name.
import { native, type NativeTensor } from '../native/index.js';
import { countIfWaiting } from './host-sync.js';

interface Resolved {
  id: number | null;
  /** The operator's name without overload. */
  name: string;
}
const resolved = new Map<string, Resolved>();

function lookup(qualified: string): Resolved {
  let op = resolved.get(qualified);
  if (op === undefined) {
    const dot = qualified.indexOf('.', qualified.indexOf('::') + 2);
    const name = dot < 0 ? qualified : qualified.slice(0, dot);
    const overload = dot < 0 ? '' : qualified.slice(dot + 1);
    op = { id: native.resolveOp(name, overload)?.id ?? null, name };
    resolved.set(qualified, op);
  }
  return op;
}

/** Whether this libtorch has the operator (e.g. scaled_dot_product_attention arrived in 2.0). */
export function hasOp(qualified: string): boolean {
  return lookup(qualified).id !== null;
}

/** Calls an operator with already-unwrapped arguments; `undefined` takes the schema default. */
export function callNative(qualified: string, args: unknown[]): unknown {
  const { id, name } = lookup(qualified);
  if (id === null) {
    throw new Error(`operator ${qualified} is not available in libtorch ${native.runtimeInfo().torchVersion}`);
  }
  countIfWaiting(name);
  return native.callOp(id, args);
}

export function isNativeTensor(value: unknown): value is NativeTensor {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
