// Random initialisation as transformers' Qwen3PreTrainedModel._init_weights: every Linear and
// the embedding from N(0, initializer_range), biases zero, RMSNorm weights one.
import { normal_, ones_, zeros_ } from '../../nn/index.js';
import type { Generator } from '../../tensor/index.js';
import type { Qwen3Config } from './config.js';
import { Qwen3ForCausalLM } from './model.js';

export function initQwen3Weights(model: Qwen3ForCausalLM, generator?: Generator): void {
  const std = model.config.initializerRange;
  for (const [name, p] of model.namedParameters()) {
    if (/norm\.weight$/.test(name)) ones_(p);
    else if (name.endsWith('.bias')) zeros_(p);
    else normal_(p, 0, std, generator);
  }
}

export function randomQwen3(config: Qwen3Config, options: { dtype?: Qwen3ForCausalLM['dtype']; device?: string; generator?: Generator } = {}): Qwen3ForCausalLM {
  const model = new Qwen3ForCausalLM(config, { dtype: options.dtype, device: options.device, init: false });
  initQwen3Weights(model, options.generator);
  return model;
}
