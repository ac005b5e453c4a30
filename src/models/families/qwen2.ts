// Qwen2 and Qwen2.5 (Qwen2ForCausalLM, modeling_qwen2.py; also DeepSeek-R1-Distill-Qwen): Llama's
// layers with biases on q, k and v (none on o_proj), and Qwen's optional sliding windows.
import type { FamilyDescription } from '../decoder/family.js';
import { qwenWindows } from '../decoder/family.js';

export const QWEN2: FamilyDescription = {
  modelType: 'qwen2',
  architecture: 'Qwen2ForCausalLM',
  qkNorm: false,
  defaults: { maxPositionEmbeddings: 32768, rmsNormEps: 1e-6, ropeTheta: 10000 },
  fields: ['use_sliding_window', 'sliding_window', 'max_window_layers', 'layer_types'],
  read(r, json, layers) {
    const windows = qwenWindows(r, json, layers);
    return {
      layout: { qkvBias: true, outputBias: false, mlpBias: false, slidingWindow: windows.slidingWindow, layerTypes: windows.layerTypes },
      fields: windows.fields,
    };
  },
};
