// The building blocks a decoder-only transformer needs, with torch.nn's parameter names.
import { embedding, empty, fusedRmsNorm, kernelsFor, linear, ones, type DType, type Generator, type Tensor } from '../tensor/index.js';
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

  constructor(inFeatures: number, outFeatures: number, options: ParamOptions & { bias?: boolean } = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.hasBias = options.bias ?? true;
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
 * Root-mean-square norm, computed in float32 whatever the input dtype (as Hugging Face's
 * Qwen3RMSNorm does), then scaled by a learned weight initialised to ones. Where kernelsFor says so,
 * one fused kernel (forward and backward) does what the eight ATen ops below do.
 */
export class RMSNorm extends Module {
  readonly eps: number;

  constructor(dim: number, options: ParamOptions & { eps?: number } = {}) {
    super();
    this.eps = options.eps ?? 1e-6;
    this.registerParameter('weight', ones([dim], { dtype: options.dtype, device: options.device }));
  }

  get weight(): Tensor {
    return this.param('weight');
  }

  forward(x: Tensor): Tensor {
    const inputDtype = x.dtype;
    if (kernelsFor(x.device, inputDtype).norm === 'fused' && this.weight.dtype === inputDtype) return fusedRmsNorm(x, this.weight, this.eps);
    const x32 = x.to('float32');
    const variance = x32.square().mean(-1, true);
    const normed = x32.mul(variance.add(this.eps).rsqrt());
    return this.weight.mul(normed.to(inputDtype));
  }
}

export { normal_, ones_, uniform_, zeros_ };
