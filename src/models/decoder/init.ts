// Random initialisation as transformers' _init_weights of every supported family (Llama's, Qwen2's,
// Qwen3's, Mistral's are the same): every Linear and
// the embedding from N(0, initializer_range), biases zero, RMSNorm weights one.
import { normal_, ones_, zeros_ } from '../../nn/index.js';
import type { Generator } from '../../tensor/index.js';
import type { DecoderConfig } from './config.js';
import { CausalLM } from './model.js';

export function initWeights(model: CausalLM, generator?: Generator): void {
  const std = model.config.initializerRange;
  for (const [name, p] of model.namedParameters()) {
    if (/norm\.weight$/.test(name)) ones_(p);
    else if (name.endsWith('.bias')) zeros_(p);
    else normal_(p, 0, std, generator);
  }
}

export function randomCausalLM(config: DecoderConfig, options: { dtype?: CausalLM['dtype']; device?: string; generator?: Generator } = {}): CausalLM {
  const model = new CausalLM(config, { dtype: options.dtype, device: options.device, init: false });
  initWeights(model, options.generator);
  return model;
}
