// Sizes that follow from a model's config alone, before any weight is loaded (memory planning).
import type { DecoderConfig } from './config.js';

/** Parameters of CausalLM (the tied LM head counted once, as the checkpoint stores it). */
export function parameterCount(c: DecoderConfig): number {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const bias = (c.qkvBias ? q + 2 * kv : 0) + (c.outputBias ? c.hiddenSize : 0);
  const attention = c.hiddenSize * q + 2 * c.hiddenSize * kv + q * c.hiddenSize + (c.qkNorm ? 2 * c.headDim : 0) + bias;
  const mlp = 3 * c.hiddenSize * c.intermediateSize + (c.mlpBias ? 2 * c.intermediateSize + c.hiddenSize : 0);
  // Two norms per layer; Gemma's sandwich has four.
  const layer = attention + mlp + (c.sandwichNorms ? 4 : 2) * c.hiddenSize;
  const embeddings = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  return embeddings + c.numHiddenLayers * layer + c.hiddenSize;
}

/**
 * Matmul FLOPs per token of one forward pass at sequence length `t`, as MFU is usually counted
 * (PaLM's appendix): 2 per weight of the decoder layers and the LM head, plus attention's
 * q·kᵀ and p·v over the keys each query may see (4·layers·t·heads·head_dim; a sliding layer's
 * queries see at most its window). Embedding lookups cost none.
 */
export function forwardFlopsPerToken(c: DecoderConfig, t: number): number {
  const embedding = c.vocabSize * c.hiddenSize;
  const head = c.vocabSize * c.hiddenSize;
  const layers = parameterCount(c) - embedding * (c.tieWordEmbeddings ? 1 : 2);
  const keys = c.layerTypes.reduce((n, type) => n + (type === 'sliding_attention' && c.slidingWindow !== null ? Math.min(t, c.slidingWindow) : t), 0);
  return 2 * (layers + head) + 4 * keys * c.numAttentionHeads * c.headDim;
}

/** FLOPs per token of the LM head alone (one [hidden → vocabulary] product): part of forwardFlopsPerToken. */
export function headFlopsPerToken(c: DecoderConfig): number {
  return 2 * c.vocabSize * c.hiddenSize;
}
