// Mistral (MistralForCausalLM, modeling_mistral.py): Llama's layers without biases, every layer
// attending within `sliding_window` when it is set (MistralConfig's default is 4096; Mistral-7B
// v0.2 and later write null: full attention).
import { type FamilyDescription, llamaLayout } from '../decoder/family.js';

export const MISTRAL: FamilyDescription = {
  modelType: 'mistral',
  architecture: 'MistralForCausalLM',
  qkNorm: false,
  defaults: { max_position_embeddings: 4096 * 32, rms_norm_eps: 1e-6, rope_theta: 10000 },
  activationField: 'hidden_act',
  fields: ['sliding_window'],
  read(r, json, { numHiddenLayers: layers, headDim }) {
    const slidingWindow = json.sliding_window === null ? null : r.int('sliding_window', 4096);
    return {
      layout: { ...llamaLayout(headDim), qkvBias: false, outputBias: false, mlpBias: false, slidingWindow, layerTypes: Array(layers).fill(slidingWindow === null ? 'full_attention' : 'sliding_attention') },
      fields: { sliding_window: slidingWindow },
    };
  },
};
