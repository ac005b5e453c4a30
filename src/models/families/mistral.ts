// Mistral (MistralForCausalLM, modeling_mistral.py): Llama's layers without biases, every layer
// attending within `sliding_window` when it is set (MistralConfig's default is 4096; Mistral-7B
// v0.2 and later write null: full attention).
import type { FamilyDescription } from '../decoder/family.js';

export const MISTRAL: FamilyDescription = {
  modelType: 'mistral',
  architecture: 'MistralForCausalLM',
  qkNorm: false,
  defaults: { maxPositionEmbeddings: 4096 * 32, rmsNormEps: 1e-6, ropeTheta: 10000 },
  fields: ['sliding_window'],
  read(r, json, layers) {
    const slidingWindow = json.sliding_window === null ? null : r.int('sliding_window', 4096);
    return {
      layout: { qkvBias: false, outputBias: false, mlpBias: false, slidingWindow, layerTypes: Array(layers).fill(slidingWindow === null ? 'full_attention' : 'sliding_attention') },
      fields: { sliding_window: slidingWindow },
    };
  },
};
