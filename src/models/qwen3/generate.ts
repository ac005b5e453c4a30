// Autoregressive generation with a KV cache: the prompt is encoded once, then each new token
// costs one single-position forward pass. Stops at any of the eos ids or after maxNewTokens.
import { linear, noGrad, tensor, tidy } from '../../tensor/index.js';
import { checkTokenIds } from './batch-input.js';
import { KVCache } from './kv-cache.js';
import type { Qwen3ForCausalLM } from './model.js';
import { sampleToken, type SamplingOptions, validateSampling } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Generation stops after emitting any of these (included in the output, as transformers does). */
  eosTokenIds?: number[];
  /** Called with each new token as soon as it is chosen (for streaming). */
  onToken?: (id: number) => void;
}

export interface GenerateResult {
  /** The new token ids only. */
  ids: number[];
  finishReason: 'eos' | 'length';
  promptTokens: number;
}

export function generate(model: Qwen3ForCausalLM, promptIds: number[], options: GenerateOptions): GenerateResult {
  if (promptIds.length === 0) throw new RangeError('generation needs at least one prompt token');
  if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 0) {
    throw new RangeError(`max new tokens must be a non-negative integer, got ${options.maxNewTokens}`);
  }
  const vocab = model.config.vocabSize;
  checkTokenIds(promptIds, vocab, 'prompt token id');
  validateSampling(options);
  const eos = new Set(options.eosTokenIds ?? []);
  const device = model.device;
  const cache = new KVCache(model.config.numHiddenLayers);
  const ids: number[] = [];
  let finishReason: GenerateResult['finishReason'] = 'length';
  try {
    noGrad(() => {
      let input = promptIds;
      while (ids.length < options.maxNewTokens) {
        const next = tidy(() => {
          // Only the last position's logits are sampled from: the LM head runs on that row alone
          // (a prompt of T tokens would otherwise make a [T × V] matrix, as logits_to_keep=1 avoids).
          const hidden = model.hiddenStates(tensor([input], { dtype: 'int64', device }), { cache });
          return sampleToken(linear(hidden.select(0, 0).narrow(0, input.length - 1, 1), model.lmHeadWeight).select(0, 0), options);
        });
        ids.push(next);
        options.onToken?.(next);
        if (eos.has(next)) {
          finishReason = 'eos';
          break;
        }
        input = [next];
      }
    });
  } finally {
    cache.dispose();
  }
  return { ids, finishReason, promptTokens: promptIds.length };
}
