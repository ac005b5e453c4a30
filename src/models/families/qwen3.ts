// Qwen3 (Qwen3ForCausalLM, modeling_qwen3.py): q/k RMSNorm per head, `attention_bias` on all four
// attention projections, Qwen's optional sliding windows.
import type { FamilyDescription } from '../decoder/family.js';
import { qwenWindows } from '../decoder/family.js';

export const QWEN3: FamilyDescription = {
  modelType: 'qwen3',
  architecture: 'Qwen3ForCausalLM',
  qkNorm: true,
  defaults: { maxPositionEmbeddings: 32768, rmsNormEps: 1e-6, ropeTheta: 10000 },
  fields: ['attention_bias', 'use_sliding_window', 'sliding_window', 'max_window_layers', 'layer_types'],
  read(r, json, layers) {
    const attentionBias = r.bool('attention_bias', false);
    const windows = qwenWindows(r, json, layers);
    return {
      layout: { qkvBias: attentionBias, outputBias: attentionBias, mlpBias: false, slidingWindow: windows.slidingWindow, layerTypes: windows.layerTypes },
      fields: { attention_bias: attentionBias, ...windows.fields },
    };
  },
};
