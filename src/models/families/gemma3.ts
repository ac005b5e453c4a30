// Gemma 3's text decoder (Gemma3ForCausalLM, modeling_gemma3.py; model_type gemma3_text, and the
// language model of Gemma3ForConditionalGeneration folders, see textPartOf in decoder/config.ts):
// Llama's layers with Gemma's pieces — embeddings scaled by √hidden_size, (1 + w) RMSNorms in
// float32 (q/k norms included), a norm after the attention and around the MLP, GeLU-tanh, scores
// scaled by query_pre_attn_scalar^−½, and sliding layers (five of every six by default) on their
// own unscaled rope base. A final_logit_softcapping a file sets caps the logits (Gemma 2 style);
// attn_logit_softcapping is read and written back but, as in transformers' Gemma3Attention (4.57,
// 5.x), never applied: Gemma 3's q/k norms took the place of Gemma 2's score cap.
import { explicitLayerTypes, type FamilyDescription, type LayerType } from '../decoder/family.js';
import { ModelConfigError } from '../decoder/config-reader.js';

/** Gemma3TextConfig's defaults: the hub's gemma-3-4b and larger leave most text_config fields out. */
const GEMMA3_TEXT_DEFAULTS = {
  vocab_size: 262208,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  max_position_embeddings: 131072,
  initializer_range: 0.02,
  rms_norm_eps: 1e-6,
  pad_token_id: 0,
  eos_token_id: 1,
  bos_token_id: 2,
  tie_word_embeddings: true,
  rope_theta: 1_000_000,
  attention_bias: false,
  attention_dropout: 0,
  query_pre_attn_scalar: 256,
  sliding_window: 4096,
  rope_local_base_freq: 10_000,
};

export const GEMMA3_TEXT: FamilyDescription = {
  modelType: 'gemma3_text',
  architecture: 'Gemma3ForCausalLM',
  qkNorm: true,
  defaults: GEMMA3_TEXT_DEFAULTS,
  activationField: 'hidden_activation',
  fields: [
    'attention_bias', 'query_pre_attn_scalar', 'sliding_window', 'sliding_window_pattern', 'layer_types',
    'rope_local_base_freq', 'final_logit_softcapping', 'attn_logit_softcapping', 'use_bidirectional_attention',
  ],
  read(r, json, { numHiddenLayers }) {
    if (r.bool('use_bidirectional_attention', false)) {
      throw new ModelConfigError(`${r.source}: use_bidirectional_attention is true (an embedding model, not a causal LM); Distillery distills causal LMs`);
    }
    const attentionBias = r.bool('attention_bias', false);
    const queryPreAttnScalar = r.num('query_pre_attn_scalar', 256);
    const slidingWindow = r.int('sliding_window');
    const pattern = r.has('sliding_window_pattern') ? r.int('sliding_window_pattern') : null;
    // Every `pattern`-th layer is global, the rest slide (configuration_gemma3.py); an explicit
    // layer_types list wins.
    const layerTypes =
      explicitLayerTypes(r, json, numHiddenLayers) ??
      Array.from({ length: numHiddenLayers }, (_, i): LayerType => ((i + 1) % (pattern ?? 6) === 0 ? 'full_attention' : 'sliding_attention'));
    const softcap = (field: string) => (r.has(field) ? r.num(field, 0) : null);
    const finalLogitSoftcap = softcap('final_logit_softcapping');
    const attnLogitSoftcapping = softcap('attn_logit_softcapping');
    const perLayerType = (json.rope_parameters as { sliding_attention?: { rope_theta?: unknown } } | undefined)?.sliding_attention;
    const localTheta = typeof perLayerType?.rope_theta === 'number' ? perLayerType.rope_theta : r.num('rope_local_base_freq', 10_000);
    return {
      layout: {
        qkvBias: attentionBias,
        outputBias: attentionBias,
        mlpBias: false,
        slidingWindow,
        layerTypes,
        normStyle: 'unit-offset',
        sandwichNorms: true,
        scaleEmbeddings: true,
        attentionScale: queryPreAttnScalar ** -0.5,
        finalLogitSoftcap,
        slidingRopeTheta: localTheta,
      },
      fields: {
        attention_bias: attentionBias,
        query_pre_attn_scalar: queryPreAttnScalar,
        sliding_window: slidingWindow,
        ...(pattern === null ? {} : { sliding_window_pattern: pattern }),
        layer_types: layerTypes,
        rope_local_base_freq: localTheta,
        final_logit_softcapping: finalLogitSoftcap,
        attn_logit_softcapping: attnLogitSoftcapping,
      },
    };
  },
};
