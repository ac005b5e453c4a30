// Loading and saving Qwen3 models in Hugging Face layout (config.json + safetensors, sharded
// above 5 GB, tokenizer files carried over), for users who go beyond distill().
import { resolveModelPath } from '../io/hub/index.js';
import type { Qwen3ForCausalLM } from '../models/qwen3/model.js';
import { loadQwen3, type LoadOptions, saveQwen3, type SaveOptions } from '../models/qwen3/weights.js';

export interface LoadModelOptions extends LoadOptions {
  /** Hub revision when `source` is a repo id (default `main`). */
  revision?: string;
  /** Download progress and cache messages. */
  log?: (line: string) => void;
}

/**
 * A Qwen3ForCausalLM from a model folder, or a Hugging Face repo id (ORG/NAME: read from the
 * Hugging Face cache, downloaded into it when missing). Dispose it when done: its tensors live in
 * libtorch, outside the JavaScript heap.
 */
export async function loadModel(source: string, options: LoadModelOptions = {}): Promise<Qwen3ForCausalLM> {
  const folder = await resolveModelPath(source, { revision: options.revision, log: options.log });
  return loadQwen3(folder, { dtype: options.dtype, device: options.device });
}

/** Writes `model` as a Hugging Face folder (config.json, model.safetensors or shards with an index). */
export function saveModel(model: Qwen3ForCausalLM, dir: string, options: SaveOptions = {}): void {
  saveQwen3(model, dir, options);
}

export type { LoadOptions, SaveOptions };
