// Mixed precision for the student: float32 master weights that the optimizer updates, and a
// bfloat16 copy that runs forward and backward. In one process the optimizer reads the bf16
// gradients and writes the updated weights into the copy in the same pass (step); across ranks the
// bf16 gradients are first copied into the masters as float32 (gradientsToMaster), summed there,
// and the masters copied back after the optimizer's step (syncCompute). (The loss math itself is
// always float32: see loss.ts.)
import { CausalLM } from '../models/decoder/model.js';
import { type AdamW, gradNorm } from '../nn/index.js';
import { noGrad, type Tensor, tidy } from '../tensor/index.js';

export class StudentPrecision {
  readonly master: CausalLM;
  readonly compute: CausalLM;
  readonly #pairs: [Tensor, Tensor][];

  constructor(master: CausalLM, dtype: 'float32' | 'bfloat16') {
    this.master = master;
    if (dtype === 'float32') {
      this.compute = master;
      this.#pairs = [];
      return;
    }
    this.compute = new CausalLM(master.config, { dtype, device: master.device, init: false });
    const masters = master.stateDict();
    this.#pairs = [...this.compute.stateDict()].map(([name, p]) => [masters.get(name)!, p]);
    this.syncCompute();
  }

  get mixed(): boolean {
    return this.compute !== this.master;
  }

  /** Master ← compute gradients (as float32); the compute gradients are released. */
  gradientsToMaster(): void {
    if (!this.mixed) return;
    for (const [master, compute] of this.#pairs) {
      tidy(() => {
        const g = compute.grad;
        master.grad = g === null ? null : g.to('float32');
        compute.grad = null;
      });
    }
  }

  /**
   * The global norm of the compute copy's gradients (the masters' gradients, were they copied out:
   * bf16 → float32 is exact), for clipping before `step`.
   */
  gradientNorm(): Tensor {
    return gradNorm(this.#pairs.map(([, compute]) => compute));
  }

  /**
   * The optimizer's step from the compute copy's gradients times `scale` (the clipping coefficient;
   * null for none): masters, moments and compute weights updated in one pass (AdamW.stepMixed), no
   * float32 gradients made; the compute gradients are then released.
   */
  step(optimizer: AdamW, scale: Tensor | null): void {
    optimizer.stepMixed(
      this.#pairs.map(([master]) => master),
      this.#pairs.map(([, compute]) => compute),
      scale,
    );
    for (const [, compute] of this.#pairs) compute.grad = null;
  }

  /** Compute weights ← master weights (after each optimizer step, and after loading). */
  syncCompute(): void {
    if (!this.mixed) return;
    noGrad(() => {
      for (const [master, compute] of this.#pairs) compute.copy_(master);
    });
  }

  dispose(): void {
    if (this.mixed) this.compute.dispose();
  }
}
