// Llama 2, 3, 3.1, 3.2 and SmolLM2 (LlamaForCausalLM, modeling_llama.py; also
// DeepSeek-R1-Distill-Llama): `attention_bias` on all four attention projections, `mlp_bias` on the
// MLP's, no sliding windows. Its rope scalings (llama3, linear, ...) are read with the common fields.
import { type FamilyDescription, llamaLayout } from '../decoder/family.js';

export const LLAMA: FamilyDescription = {
  modelType: 'llama',
  architecture: 'LlamaForCausalLM',
  qkNorm: false,
  defaults: { max_position_embeddings: 2048, rms_norm_eps: 1e-6, rope_theta: 10000 },
  activationField: 'hidden_act',
  fields: ['attention_bias', 'mlp_bias', 'pretraining_tp'],
  read(r, _json, { numHiddenLayers: layers, headDim }) {
    const attentionBias = r.bool('attention_bias', false);
    const mlpBias = r.bool('mlp_bias', false);
    // pretraining_tp > 1 only changed how Meta's training sliced the products: the same function.
    const pretrainingTp = r.int('pretraining_tp', 1);
    return {
      layout: { ...llamaLayout(headDim), qkvBias: attentionBias, outputBias: attentionBias, mlpBias, slidingWindow: null, layerTypes: Array(layers).fill('full_attention') },
      fields: { attention_bias: attentionBias, mlp_bias: mlpBias, pretraining_tp: pretrainingTp },
    };
  },
};
