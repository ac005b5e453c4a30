// Random initialisation as transformers' _init_weights of every supported family: every Linear and
// the embedding from N(0, initializer_range), the padding token's embedding row zero (the
// nn.Embedding padding_idx is the config's pad_token_id), biases zero, RMSNorm weights one — or zero
// where the norm scales by (1 + weight) (Gemma), which is the same identity scale.
import { normal_, ones_, zeros_ } from '../../nn/index.js';
import { type Generator, noGrad } from '../../tensor/index.js';
import type { DecoderConfig } from './config.js';
import { CausalLM } from './model.js';

export function initWeights(model: CausalLM, generator?: Generator): void {
  const { initializerRange: std, normStyle, padTokenId } = model.config;
  for (const [name, p] of model.namedParameters()) {
    if (/norm\.weight$/.test(name)) (normStyle === 'unit-offset' ? zeros_ : ones_)(p);
    else if (name.endsWith('.bias')) zeros_(p);
    else normal_(p, 0, std, generator);
  }
  if (padTokenId !== null && padTokenId < model.config.vocabSize) noGrad(() => void model.model.embed_tokens.weight.select(0, padTokenId).zero_());
}

export function randomCausalLM(config: DecoderConfig, options: { dtype?: CausalLM['dtype']; device?: string; generator?: Generator } = {}): CausalLM {
  const model = new CausalLM(config, { dtype: options.dtype, device: options.device, init: false });
  initWeights(model, options.generator);
  return model;
}
