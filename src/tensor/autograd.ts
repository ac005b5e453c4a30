// Grad-mode scopes, as torch.no_grad() / torch.enable_grad().
import { native } from '../native/index.js';

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = native.isGradEnabled();
  native.setGradEnabled(enabled);
  try {
    const result = fn();
    if (result instanceof Promise) throw new TypeError('noGrad(fn)/enableGrad(fn): fn must be synchronous');
    return result;
  } finally {
    native.setGradEnabled(previous);
  }
}

/** Runs `fn` without recording operations for autograd (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}
