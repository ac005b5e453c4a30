// Sizes that follow from a Qwen3 config alone, before any weight is loaded (memory planning).
import type { DecoderConfig } from './config.js';

/** Parameters of CausalLM (the tied LM head counted once, as the checkpoint stores it). */
export function parameterCount(c: DecoderConfig): number {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const bias = c.attentionBias ? q + 2 * kv + c.hiddenSize : 0;
  const attention = c.hiddenSize * q + 2 * c.hiddenSize * kv + q * c.hiddenSize + 2 * c.headDim + bias;
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const layer = attention + mlp + 2 * c.hiddenSize;
  const embeddings = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2);
  return embeddings + c.numHiddenLayers * layer + c.hiddenSize;
}

/**
 * Matmul FLOPs per token of one forward pass at sequence length `t`, as MFU is usually counted
 * (PaLM's appendix): 2 per weight of the decoder layers and the LM head, plus attention's
 * q·kᵀ and p·v over the whole sequence (4·layers·t·heads·head_dim). Embedding lookups cost none.
 */
export function forwardFlopsPerToken(c: DecoderConfig, t: number): number {
  const embedding = c.vocabSize * c.hiddenSize;
  const head = c.vocabSize * c.hiddenSize;
  const layers = parameterCount(c) - embedding * (c.tieWordEmbeddings ? 1 : 2);
  return 2 * (layers + head) + 4 * c.numHiddenLayers * t * c.numAttentionHeads * c.headDim;
}
