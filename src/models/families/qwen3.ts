// Qwen3 (Qwen3ForCausalLM, modeling_qwen3.py): q/k RMSNorm per head, `attention_bias` on all four
// attention projections, Qwen's optional sliding windows.
import { type FamilyDescription, llamaLayout, qwenWindows } from '../decoder/family.js';

export const QWEN3: FamilyDescription = {
  modelType: 'qwen3',
  architecture: 'Qwen3ForCausalLM',
  qkNorm: true,
  defaults: { max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 10000 },
  activationField: 'hidden_act',
  fields: ['attention_bias', 'use_sliding_window', 'sliding_window', 'max_window_layers', 'layer_types'],
  read(r, json, { numHiddenLayers: layers, headDim }) {
    const attentionBias = r.bool('attention_bias', false);
    const windows = qwenWindows(r, json, layers);
    return {
      layout: { ...llamaLayout(headDim), qkvBias: attentionBias, outputBias: attentionBias, mlpBias: false, slidingWindow: windows.slidingWindow, layerTypes: windows.layerTypes },
      fields: { attention_bias: attentionBias, ...windows.fields },
    };
  },
};
