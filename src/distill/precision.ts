// Mixed precision for the student: float32 master weights that the optimizer updates, and a
// bfloat16 copy that runs forward and backward. After backward the bf16 gradients are copied
// into the masters as float32; after the optimizer step the masters are copied back. (The loss
// math itself is always float32: see loss.ts.)
import { CausalLM } from '../models/decoder/model.js';
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
