// The building blocks a decoder-only transformer needs, with torch.nn's parameter names.
import { embedding, empty, fusedRmsNorm, kernelsFor, linear, ones, zeros, type DType, type Generator, type Tensor } from '../tensor/index.js';
import { normal_, ones_, uniform_, zeros_ } from './init.js';
import { Module } from './module.js';

export interface ParamOptions {
  dtype?: DType;
  device?: string;
  generator?: Generator;
  /** false: leave parameters uninitialised (they are about to be loaded from a checkpoint). */
  init?: boolean;
}

function initialised(t: Tensor, options: ParamOptions, init: (t: Tensor) => Tensor): Tensor {
  return options.init === false ? t : init(t);
}

/** y = x Wᵀ + b. Weight [out, in]; PyTorch's default init (uniform ±1/√in). */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly hasBias: boolean;

  /**
   * `adopt`: take over another layer's weight and bias tensors (the same tensors, not copies) instead
   * of allocating new ones, as a layer that wraps or unwraps a Linear in place does (LoRA): a 4B
   * model's projections are never held twice. Its `bias` option is ignored (the adopted layer's).
   */
  constructor(inFeatures: number, outFeatures: number, options: ParamOptions & { bias?: boolean; adopt?: Linear } = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const { adopt } = options;
    this.hasBias = adopt ? adopt.hasBias : (options.bias ?? true);
    if (adopt) {
      if (adopt.inFeatures !== inFeatures || adopt.outFeatures !== outFeatures) {
        throw new Error(`Linear(${inFeatures}, ${outFeatures}) cannot adopt the weights of a Linear(${adopt.inFeatures}, ${adopt.outFeatures})`);
      }
      // Adopted tensors keep their requiresGrad (a frozen base stays frozen).
      const adopted = adopt.bias ? { weight: adopt.weight, bias: adopt.bias } : { weight: adopt.weight };
      for (const [name, t] of Object.entries(adopted)) {
        const trainable = t.requiresGrad;
        this.registerParameter(name, t);
        if (!trainable) t.requiresGrad_(false);
      }
      return;
    }
    const bound = 1 / Math.sqrt(inFeatures);
    const tensorOptions = { dtype: options.dtype, device: options.device };
    const init = (t: Tensor) => uniform_(t, -bound, bound, options.generator);
    this.registerParameter('weight', initialised(empty([outFeatures, inFeatures], tensorOptions), options, init));
    if (this.hasBias) this.registerParameter('bias', initialised(empty([outFeatures], tensorOptions), options, init));
  }

  get weight(): Tensor {
    return this.param('weight');
  }
  get bias(): Tensor | undefined {
    return this.hasBias ? this.param('bias') : undefined;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** A lookup table of `num` vectors of size `dim`; init N(0, 1) as in PyTorch. */
export class Embedding extends Module {
  constructor(num: number, dim: number, options: ParamOptions = {}) {
    super();
    const weight = empty([num, dim], { dtype: options.dtype, device: options.device });
    this.registerParameter('weight', initialised(weight, options, (t) => normal_(t, 0, 1, options.generator)));
  }

  get weight(): Tensor {
    return this.param('weight');
  }

  forward(indices: Tensor): Tensor {
    return embedding(this.weight, indices);
  }
}

/**
 * Root-mean-square norm, computed in float32 whatever the input dtype, then scaled by a learned
 * weight: as Hugging Face's Llama/Qwen3 RMSNorm (the norm rounded to the input dtype, times the
 * weight, initialised to ones), or with `unitOffset` as Gemma's ((1 + weight) times the norm in
 * float32, rounded once; the weight initialised to zeros). Where kernelsFor says so, one fused
 * kernel (forward and backward) does what the ATen ops below do; Gemma's form takes it in float32,
 * where scaling by (1 + w) in the kernel is the same arithmetic.
 */
export class RMSNorm extends Module {
  readonly eps: number;
  readonly unitOffset: boolean;

  constructor(dim: number, options: ParamOptions & { eps?: number; unitOffset?: boolean } = {}) {
    super();
    this.eps = options.eps ?? 1e-6;
    this.unitOffset = options.unitOffset ?? false;
    const init = this.unitOffset ? zeros : ones;
    this.registerParameter('weight', init([dim], { dtype: options.dtype, device: options.device }));
  }

  get weight(): Tensor {
    return this.param('weight');
  }

  forward(x: Tensor): Tensor {
    const inputDtype = x.dtype;
    const fused = kernelsFor(x.device, inputDtype).norm === 'fused' && this.weight.dtype === inputDtype;
    if (this.unitOffset) {
      if (fused && inputDtype === 'float32') return fusedRmsNorm(x, this.weight.add(1), this.eps);
      return this.#normalised(x.to('float32')).mul(this.weight.to('float32').add(1)).to(inputDtype);
    }
    if (fused) return fusedRmsNorm(x, this.weight, this.eps);
    return this.weight.mul(this.#normalised(x.to('float32')).to(inputDtype));
  }

  /** x · rsqrt(mean(x²) + eps) over the last dimension. */
  #normalised(x32: Tensor): Tensor {
    return x32.mul(x32.square().mean(-1, true).add(this.eps).rsqrt());
  }
}

export { normal_, ones_, uniform_, zeros_ };
