// A LoRA linear layer as PEFT's lora.Linear: y = base(x) + scale · B(A(dropout(x))), the base's
// weight and bias frozen, A [r, in] and B [out, r] the only trainable tensors. It is a Linear that
// adopts the wrapped layer's tensors, so it takes that layer's place (and checkpoint names: the base
// stays `weight`/`bias`, the adapter is `lora_A.weight`/`lora_B.weight`) without copying the base.
import { dropout, type DType, linear, noGrad, tidy, type Tensor } from '../tensor/index.js';
import { Linear, type ParamOptions } from './layers.js';
import { zeros_ } from './init.js';

export interface LoraSettings {
  /** r: the adapter's rank. */
  rank: number;
  /** lora_alpha. */
  alpha: number;
  /** lora_dropout: applied to the adapter's input in training mode only. */
  dropout: number;
  /** use_rslora: scale alpha/√r (rank-stabilised) instead of alpha/r. */
  useRslora: boolean;
}

/** The factor on B·A: alpha/r, or alpha/√r with rslora (PEFT's LoraLayer.update_layer). */
export function loraScale(settings: Pick<LoraSettings, 'rank' | 'alpha' | 'useRslora'>): number {
  return settings.useRslora ? settings.alpha / Math.sqrt(settings.rank) : settings.alpha / settings.rank;
}

/**
 * The dtype adapter tensors live in by default: float32 over a half-precision base (PEFT's
 * autocast_adapter_dtype, so small updates are not rounded away), the base's own otherwise.
 */
export function defaultAdapterDtype(baseDtype: DType): DType {
  return baseDtype === 'bfloat16' || baseDtype === 'float16' ? 'float32' : baseDtype;
}

export interface LoraLinearOptions extends Pick<ParamOptions, 'generator' | 'init'> {
  /** Adapter dtype (default defaultAdapterDtype of the base's). */
  dtype?: DType;
}

export class LoraLinear extends Linear {
  readonly lora_A: Linear;
  readonly lora_B: Linear;
  readonly settings: LoraSettings;
  readonly scale: number;
  /** Whether the base's weight required grad before it was frozen (restored on unwrap). */
  readonly #baseTrainable: boolean;

  constructor(base: Linear, settings: LoraSettings, options: LoraLinearOptions = {}) {
    super(base.inFeatures, base.outFeatures, { adopt: base });
    const { rank } = settings;
    if (!Number.isInteger(rank) || rank < 1) throw new Error(`LoRA rank must be a positive integer, got ${rank}`);
    if (!(settings.dropout >= 0 && settings.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${settings.dropout}`);
    this.settings = { ...settings };
    this.scale = loraScale(settings);
    this.training = base.training;
    this.#baseTrainable = base.weight.requiresGrad;
    for (const p of [this.weight, this.bias]) p?.requiresGrad_(false);
    const tensorOptions = { dtype: options.dtype ?? defaultAdapterDtype(this.weight.dtype), device: this.weight.device, init: options.init };
    // Linear's default init, uniform ±1/√in, is PEFT's kaiming_uniform_(lora_A, a=√5): gain
    // √(2/(1+5)) over √fan_in, times √3 for a uniform bound, with fan_in = in.
    this.lora_A = this.registerModule('lora_A', new Linear(base.inFeatures, rank, { ...tensorOptions, bias: false, generator: options.generator }));
    // B = 0, so the wrapped layer starts out computing exactly what the base computed.
    this.lora_B = this.registerModule('lora_B', new Linear(rank, base.outFeatures, { ...tensorOptions, bias: false, init: false }));
    if (options.init !== false) zeros_(this.lora_B.weight);
  }

  /** The adapter's dtype. */
  get adapterDtype(): DType {
    return this.lora_A.weight.dtype;
  }

  override forward(x: Tensor): Tensor {
    return tidy(() => {
      const result = linear(x, this.weight, this.bias);
      const input = x.dtype === this.adapterDtype ? x : x.to(this.adapterDtype);
      const dropped = this.training && this.settings.dropout > 0 ? dropout(input, this.settings.dropout, true) : input;
      const update = this.lora_B.forward(this.lora_A.forward(dropped));
      if (update.dtype === result.dtype) return result.add(update, this.scale);
      // As PEFT: the sum in the adapter's (wider) dtype, rounded once to the base's.
      return result.to(update.dtype).add(update, this.scale).to(result.dtype);
    });
  }

  /** scale · B·A [out, in] in `dtype` (no autograd). */
  delta(dtype: DType): Tensor {
    return noGrad(() => tidy(() => this.lora_B.weight.to(dtype).matmul(this.lora_A.weight.to(dtype)).mul(this.scale)));
  }

  /**
   * W ← W + scale·B·A, summed in float32 (float64 for a float64 base) and rounded once to the base's
   * dtype; returns a plain Linear holding the merged weight (and the bias) to put in this layer's
   * place. The adapter's tensors are released.
   */
  merge(): Linear {
    const sumDtype: DType = this.weight.dtype === 'float64' ? 'float64' : 'float32';
    noGrad(() => tidy(() => void this.weight.copy_(this.weight.to(sumDtype).add(this.delta(sumDtype)))));
    return this.unwrap();
  }

  /** The base layer without the adapter (weights as they are), its trainability restored; the adapter's tensors are released. */
  unwrap(): Linear {
    const plain = new Linear(this.inFeatures, this.outFeatures, { adopt: this });
    plain.training = this.training;
    if (this.#baseTrainable) for (const p of [plain.weight, plain.bias]) p?.requiresGrad_(true);
    this.lora_A.dispose();
    this.lora_B.dispose();
    return plain;
  }
}
