// Qwen2 and Qwen2.5 (Qwen2ForCausalLM, modeling_qwen2.py; also DeepSeek-R1-Distill-Qwen): Llama's
// layers with biases on q, k and v (none on o_proj), and Qwen's optional sliding windows.
import { type FamilyDescription, llamaLayout, qwenWindows } from '../decoder/family.js';

export const QWEN2: FamilyDescription = {
  modelType: 'qwen2',
  architecture: 'Qwen2ForCausalLM',
  qkNorm: false,
  defaults: { max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 10000 },
  activationField: 'hidden_act',
  fields: ['use_sliding_window', 'sliding_window', 'max_window_layers', 'layer_types'],
  read(r, json, { numHiddenLayers: layers, headDim }) {
    const windows = qwenWindows(r, json, layers);
    return {
      layout: { ...llamaLayout(headDim), qkvBias: true, outputBias: false, mlpBias: false, slidingWindow: windows.slidingWindow, layerTypes: windows.layerTypes },
      fields: windows.fields,
    };
  },
};
