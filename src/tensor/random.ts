// Seeding and generators. `manualSeed` makes every unseeded draw reproducible, on every device;
// a Generator gives a stream of its own; RNG states can be saved and restored with a checkpoint.
import { native, type NativeGenerator } from '../native/index.js';
import { Tensor } from './tensor.js';

export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  native.manualSeed(seed);
}

export class Generator {
  readonly native: NativeGenerator;
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    this.native = native.createGenerator(seed);
  }
  /** The generator's full state as a uint8 tensor. */
  getState(): Tensor {
    return new Tensor(native.getRngState(this.native));
  }
  setState(state: Tensor): void {
    native.setRngState(state.native, this.native);
  }
}

/** The default CPU generator's state (what `torch.get_rng_state()` returns). */
export function getRngState(): Tensor {
  return new Tensor(native.getRngState());
}
export function setRngState(state: Tensor): void {
  native.setRngState(state.native);
}
