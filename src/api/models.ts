// Loading and saving models of every supported family in Hugging Face layout (config.json +
// safetensors, sharded above 5 GB, tokenizer files carried over), for users who go beyond distill().
import { resolveModelPath } from '../io/hub/index.js';
import type { CausalLM } from '../models/decoder/model.js';
import { loadCausalLM, type LoadOptions, saveCausalLM, type SaveOptions } from '../models/decoder/weights.js';

export interface LoadModelOptions extends LoadOptions {
  /** Hub revision when `source` is a repo id (default `main`). */
  revision?: string;
  /** Download progress and cache messages. */
  log?: (line: string) => void;
}

/**
 * A CausalLM from a model folder, or a Hugging Face repo id (ORG/NAME: read from the
 * Hugging Face cache, downloaded into it when missing). Dispose it when done: its tensors live in
 * libtorch, outside the JavaScript heap.
 */
export async function loadModel(source: string, options: LoadModelOptions = {}): Promise<CausalLM> {
  const folder = await resolveModelPath(source, { revision: options.revision, log: options.log });
  return loadCausalLM(folder, { dtype: options.dtype, device: options.device });
}

/** Writes `model` as a Hugging Face folder (config.json, model.safetensors or shards with an index). */
export function saveModel(model: CausalLM, dir: string, options: SaveOptions = {}): void {
  saveCausalLM(model, dir, options);
}

export type { LoadOptions, SaveOptions };
