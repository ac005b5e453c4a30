// Deterministic release of native tensors. V8 cannot see libtorch memory, so waiting for the
// garbage collector lets a training loop grow without bound. `tidy(fn)` disposes every tensor
// created inside `fn` except those it returns (which move to the enclosing scope) and those
// marked with `keep`. The addon's finalizer remains as a safety net, not the plan.

export interface ScopedResource {
  dispose(): void;
}

const scopes: Set<ScopedResource>[] = [];
const kept = new WeakSet<ScopedResource>();

/** Called by every new tensor: it belongs to the innermost open scope, if any. */
export function track(resource: ScopedResource): void {
  scopes[scopes.length - 1]?.add(resource);
}

/** Takes a resource out of every scope: it lives until disposed explicitly (e.g. parameters). */
export function keep<T extends ScopedResource>(resource: T): T {
  kept.add(resource);
  for (const scope of scopes) scope.delete(resource);
  return resource;
}

function collect(value: unknown, into: Set<ScopedResource>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isScoped(value)) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) collect(item, into, seen);
  } else if (value instanceof Map) {
    for (const item of value.values()) collect(item, into, seen);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const item of Object.values(value)) collect(item, into, seen);
  }
}

let isScoped: (value: object) => value is ScopedResource = (_v): _v is ScopedResource => false;
/** The tensor module registers how to recognise its tensors in a returned value. */
export function setScopedPredicate(predicate: (value: object) => value is ScopedResource): void {
  isScoped = predicate;
}

/**
 * Runs `fn` in a scope: tensors it creates are disposed when it returns or throws, except the
 * tensors in its result (found in arrays, Maps and plain objects), which are handed to the
 * enclosing scope. `fn` must be synchronous: a scope cannot span an await.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<ScopedResource>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const resource of scope) resource.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const resource of scope) resource.dispose();
    throw new TypeError('tidy(fn): fn returned a Promise; scopes cannot span an await — tidy each synchronous step');
  }
  const survivors = new Set<ScopedResource>();
  collect(result, survivors, new Set());
  for (const resource of scope) {
    if (survivors.has(resource)) track(resource);
    else resource.dispose();
  }
  return result;
}

