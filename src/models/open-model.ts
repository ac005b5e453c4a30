// Opens what a --model flag or `model` option names (a folder or ORG/NAME, or a PEFT adapter folder
// with its base): the weights, the tokenizer when the folder has one, and the generation defaults of
// generation_config.json.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isDirectory } from '../io/hub/cache.js';
import { resolveModelPath } from '../io/hub/index.js';
import { readJsonFile } from '../io/json-file.js';
import type { DType } from '../tensor/index.js';
import { TextTokenizer } from '../tokenizer/index.js';
import type { CausalLM } from './decoder/model.js';
import { loadCausalLM } from './decoder/weights.js';
import { textPartOf } from './decoder/config.js';
import { FAMILIES } from './families/index.js';
import { isAdapterFolder, loadLoraAdapter, resolveAdapterBase } from './lora/index.js';

export interface GenerationDefaults {
  eosTokenIds: number[];
  doSample: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
}

export interface OpenedModel {
  /** The model folder (config.json, generation_config.json): for an adapter, its base's. */
  folder: string;
  /** The PEFT adapter folder applied to the base, unmerged; null for a plain model. */
  adapter: string | null;
  model: CausalLM;
  tokenizer: TextTokenizer | null;
  generation: GenerationDefaults;
}

function idList(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  return Array.isArray(value) ? value.filter((v): v is number => typeof v === 'number') : [];
}

export function readGenerationDefaults(folder: string, model: CausalLM): GenerationDefaults {
  const path = join(folder, 'generation_config.json');
  const json = existsSync(path) ? (readJsonFile(path) as Record<string, unknown>) : {};
  const eos = json.eos_token_id !== undefined ? idList(json.eos_token_id) : idList(model.config.eosTokenId);
  const num = (key: string) => (typeof json[key] === 'number' ? (json[key] as number) : undefined);
  return { eosTokenIds: eos, doSample: json.do_sample === true, temperature: num('temperature'), topK: num('top_k'), topP: num('top_p') };
}

/**
 * The ids a generation stops at: every model's generation_config.json eos ids, and the tokenizer's
 * eos (what the data's answers end with).
 */
export function stopTokenIds(defaults: readonly GenerationDefaults[], tokenizerEos: number | null): number[] {
  const ids = new Set(defaults.flatMap((d) => d.eosTokenIds));
  if (tokenizerEos !== null) ids.add(tokenizerEos);
  return [...ids];
}

export interface OpenModelOptions {
  dtype: DType;
  device: string;
  /** What needs the tokenizer (a flag or option name), when something does: its absence is then an error. */
  needTokenizer?: string;
  /** Download and load messages. */
  log?: (line: string) => void;
  /** When `spec` is a PEFT adapter folder: its base model, instead of adapter_config.json's base_model_name_or_path. */
  base?: string;
  /** How the caller spells `base`, for messages (default '--base'). */
  baseOption?: string;
}

/** Whether `spec` is a local PEFT adapter folder (adapter_config.json, no config.json). */
export function isAdapterSpec(spec: string): boolean {
  return isDirectory(spec) && isAdapterFolder(spec) && !existsSync(join(spec, 'config.json'));
}

export async function openModel(spec: string, options: OpenModelOptions): Promise<OpenedModel> {
  const log = options.log ?? (() => {});
  const baseOption = options.baseOption ?? '--base';
  const adapter = isAdapterSpec(spec) ? spec : null;
  if (!adapter && options.base !== undefined) throw new Error(`${baseOption} applies to a PEFT adapter folder (adapter_config.json), and ${spec} is not one`);
  const folder = adapter ? (await resolveAdapterBase(adapter, { base: options.base, baseOption, log })).baseFolder : await resolveModelPath(spec, { log });
  // An adapter folder's own tokenizer (trainers often save one beside the adapter) wins over the base's.
  const tokenizerFolder = adapter && TextTokenizer.hasTokenizer(adapter) ? adapter : folder;
  const tokenizer = TextTokenizer.hasTokenizer(tokenizerFolder) ? TextTokenizer.fromFolder(tokenizerFolder) : null;
  if (options.needTokenizer && !tokenizer) {
    throw new Error(`${folder} has no tokenizer.json/tokenizer_config.json, which ${options.needTokenizer} needs; pass token ids instead`);
  }
  const started = Date.now();
  const model = loadCausalLM(folder, { dtype: options.dtype, device: options.device });
  log(`loaded ${folder} (${(model.numParameters() / 1e6).toFixed(2)}M parameters, ${options.dtype}, ${options.device}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const multimodal = textPartOf(readJsonFile(join(folder, 'config.json')));
  if (multimodal) log(`${folder} is a ${multimodal}: its language model is used (as ${FAMILIES.get(model.config.modelType)!.architecture}); the vision tower is not loaded`);
  if (adapter) {
    try {
      // Unmerged, as it was trained: the numbers are the adapter's, not a rounding of it into the base's dtype.
      const lora = loadLoraAdapter(model, adapter);
      // Its dropout belongs to training; what opens a model here scores or generates.
      model.eval();
      log(`applied the LoRA adapter ${adapter} (r ${lora.config.rank}, ${lora.layers.size} layers, ${(lora.numParameters() / 1e6).toFixed(2)}M parameters)`);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }
  return { folder, adapter, model, tokenizer, generation: readGenerationDefaults(folder, model) };
}
