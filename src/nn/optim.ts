// AdamW (libtorch's implementation) with parameter groups, per-step learning rates and
// checkpointable state; global grad-norm clipping; the usual no-decay grouping.
import type { NativeAdamW } from '../native/index.js';
import { native } from '../native/index.js';
import { Tensor } from '../tensor/index.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export interface ParamGroup extends AdamWOptions {
  params: Tensor[];
  /** A label for logs, e.g. 'decay' / 'no_decay'. */
  name?: string;
}

/** The serialisable state of an AdamW: tensors by name plus JSON-able numbers. */
export interface AdamWStateDict {
  tensors: Map<string, Tensor>;
  steps: (number | null)[];
  lrs: number[];
}

export class AdamW {
  readonly #handle: NativeAdamW;
  readonly #groups: (Required<Omit<ParamGroup, 'name'>> & { name: string })[];

  /** Decoupled weight decay: p ← p − lr·λ·p, then the Adam update (Loshchilov & Hutter). */
  constructor(params: Tensor[] | ParamGroup[], defaults: AdamWOptions = {}) {
    const groups: ParamGroup[] = params.length > 0 && params[0] instanceof Tensor ? [{ params: params as Tensor[] }] : (params as ParamGroup[]);
    this.#groups = groups.map((g, i) => ({
      params: g.params,
      name: g.name ?? `group${i}`,
      lr: g.lr ?? defaults.lr ?? 1e-3,
      betas: g.betas ?? defaults.betas ?? [0.9, 0.999],
      eps: g.eps ?? defaults.eps ?? 1e-8,
      weightDecay: g.weightDecay ?? defaults.weightDecay ?? 0.01,
    }));
    for (const g of this.#groups) {
      if (!(g.lr >= 0)) throw new RangeError(`AdamW: learning rate must be >= 0, got ${g.lr}`);
      if (!(g.betas[0] >= 0 && g.betas[0] < 1 && g.betas[1] >= 0 && g.betas[1] < 1))
        throw new RangeError(`AdamW: betas must be in [0, 1), got [${g.betas}]`);
    }
    this.#handle = native.createAdamW(
      this.#groups.map((g) => ({
        params: g.params.map((p) => p.native),
        lr: g.lr,
        weightDecay: g.weightDecay,
        beta1: g.betas[0],
        beta2: g.betas[1],
        eps: g.eps,
      })),
    );
  }

  get paramGroups(): readonly { name: string; lr: number; weightDecay: number; params: Tensor[] }[] {
    return this.#groups.map((g, i) => ({ name: g.name, lr: this.getLr(i), weightDecay: g.weightDecay, params: g.params }));
  }

  step(): void {
    native.adamwStep(this.#handle);
  }

  /**
   * The step of a mixed-precision model, in one pass per parameter: each parameter in `masters`
   * (float32 master weights) takes its gradient from the same-index tensor of `copies` (its bf16
   * compute copy, whose gradient the backward filled), times `scale` (a 0-dim tensor: the clipping
   * coefficient; null for none), and the updated weight is written back into that copy. No float32
   * gradient is made; the copies' gradients are left as they are (the caller releases them).
   * Parameters without a copy step on their own gradients.
   */
  stepMixed(masters: Tensor[], copies: Tensor[], scale: Tensor | null): void {
    native.adamwStepMixed(this.#handle, masters.map((t) => t.native), copies.map((t) => t.native), scale?.native ?? null);
  }

  /** Sets every gradient to none (frees the memory; the next backward allocates fresh). */
  zeroGrad(): void {
    native.adamwZeroGrad(this.#handle);
  }

  /** Sets the learning rate of one group, or of all groups when `group` is omitted (schedulers). */
  setLr(lr: number, group?: number): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new RangeError(`learning rate must be a finite number >= 0, got ${lr}`);
    const indices = group === undefined ? this.#groups.map((_, i) => i) : [group];
    for (const i of indices) native.adamwSetLr(this.#handle, i, lr);
  }

  getLr(group = 0): number {
    return native.adamwGetLr(this.#handle, group);
  }

  /** Step counts and moment estimates, per parameter in group order (null before its first step). */
  stateDict(): AdamWStateDict {
    const tensors = new Map<string, Tensor>();
    const steps = native.adamwGetState(this.#handle).map((s, i) => {
      if (s === null) return null;
      tensors.set(`state.${i}.exp_avg`, new Tensor(s.expAvg));
      tensors.set(`state.${i}.exp_avg_sq`, new Tensor(s.expAvgSq));
      return s.step;
    });
    return { tensors, steps, lrs: this.#groups.map((_, i) => this.getLr(i)) };
  }

  loadStateDict(state: AdamWStateDict): void {
    const count = this.#groups.reduce((n, g) => n + g.params.length, 0);
    if (state.steps.length !== count) {
      throw new Error(`optimizer state has ${state.steps.length} parameters but this optimizer has ${count}`);
    }
    if (state.lrs.length !== this.#groups.length) {
      throw new Error(`optimizer state has ${state.lrs.length} parameter groups but this optimizer has ${this.#groups.length}`);
    }
    native.adamwSetState(
      this.#handle,
      state.steps.map((step, i) => {
        if (step === null) return null;
        const expAvg = state.tensors.get(`state.${i}.exp_avg`);
        const expAvgSq = state.tensors.get(`state.${i}.exp_avg_sq`);
        if (!expAvg || !expAvgSq) throw new Error(`optimizer state lacks the moments of parameter ${i}`);
        return { step, expAvg: expAvg.native, expAvgSq: expAvgSq.native };
      }),
    );
    state.lrs.forEach((lr, i) => native.adamwSetLr(this.#handle, i, lr));
  }
}

/**
 * Splits named parameters into a decayed group and a no-decay group: biases, norm weights and
 * every other 1-d parameter skip weight decay (standard transformer practice).
 */
export function decayParamGroups(named: Iterable<[string, Tensor]>, weightDecay: number): ParamGroup[] {
  const decay: Tensor[] = [];
  const noDecay: Tensor[] = [];
  for (const [name, p] of named) {
    if (!p.requiresGrad) continue;
    if (p.ndim < 2 || name.endsWith('.bias') || /norm\.weight$/.test(name)) noDecay.push(p);
    else decay.push(p);
  }
  return [
    { name: 'decay', params: decay, weightDecay },
    { name: 'no_decay', params: noDecay, weightDecay: 0 },
  ];
}

/**
 * Scales all gradients together so their global L2 norm is at most `maxNorm`; returns the norm
 * before clipping as a 0-dim float32 tensor on the gradients' device (as torch.nn.utils.clip_grad_norm_):
 * reading it is the caller's choice, since every read waits for the device.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number, normType = 2): Tensor {
  if (!(maxNorm > 0)) throw new RangeError(`max grad norm must be > 0, got ${maxNorm}`);
  return new Tensor(native.clipGradNorm(params.map((p) => p.native), maxNorm, normType));
}

/**
 * The global norm of the parameters' gradients (the norm of their norms, as clipGradNorm computes
 * it) without changing them: a 0-dim tensor, float32 for float32 and bf16 gradients alike.
 */
export function gradNorm(params: Tensor[], normType = 2): Tensor {
  return new Tensor(native.gradNorm(params.map((p) => p.native), normType));
}

/** The factor clipGradNorm scales gradients by: min(1, maxNorm / (norm + 1e-6)), a 0-dim tensor. */
export function clipCoefficient(norm: Tensor, maxNorm: number): Tensor {
  if (!(maxNorm > 0)) throw new RangeError(`max grad norm must be > 0, got ${maxNorm}`);
  return new Tensor(native.clipCoefficient(norm.native, maxNorm));
}
