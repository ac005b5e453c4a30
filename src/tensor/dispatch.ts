// Calls ATen operators by their qualified schema name ("aten::add.Tensor") through the addon's
// generic boxed-call entry point. Operators are resolved once and cached by name.
import { native, type NativeTensor } from '../native/index.js';

const resolved = new Map<string, number | null>();

function lookup(qualified: string): number | null {
  let id = resolved.get(qualified);
  if (id === undefined) {
    const dot = qualified.indexOf('.', qualified.indexOf('::') + 2);
    const name = dot < 0 ? qualified : qualified.slice(0, dot);
    const overload = dot < 0 ? '' : qualified.slice(dot + 1);
    id = native.resolveOp(name, overload)?.id ?? null;
    resolved.set(qualified, id);
  }
  return id;
}

/** Whether this libtorch has the operator (e.g. scaled_dot_product_attention arrived in 2.0). */
export function hasOp(qualified: string): boolean {
  return lookup(qualified) !== null;
}

/** Calls an operator with already-unwrapped arguments; `undefined` takes the schema default. */
export function callNative(qualified: string, args: unknown[]): unknown {
  const id = lookup(qualified);
  if (id === null) {
    throw new Error(`operator ${qualified} is not available in libtorch ${native.runtimeInfo().torchVersion}`);
  }
  return native.callOp(id, args);
}

export function isNativeTensor(value: unknown): value is NativeTensor {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
