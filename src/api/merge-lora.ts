// mergeLora(): a PEFT LoRA adapter folder merged into its base model, written as a full Hugging Face
// folder (W + scale·B·A per adapted layer, in the base's dtype; the base's config, generation config
// and tokenizer files): `distillery merge-lora`. The result loads anywhere a model folder does,
// with no PEFT. An output folder that holds files is refused: nothing a user has is overwritten.
import { holdsFiles, mergeLoraFolders, resolveAdapterBase } from '../models/lora/index.js';
import { isAdapterSpec } from '../models/open-model.js';
import { type Naming, namer } from './naming.js';
import { OptionsError, rejectUnknownOptions } from './options.js';

export interface MergeLoraOptions {
  /** The PEFT adapter folder (adapter_config.json, adapter_model.safetensors). */
  adapter: string;
  /** The base model: a folder or Hugging Face repo id (default: adapter_config.json's base_model_name_or_path). */
  base?: string;
  /** The folder to write; must not exist or be empty. */
  out: string;
  /** Download and progress messages. */
  log?: (line: string) => void;
}

export interface MergeLoraResult {
  out: string;
  /** The base model's folder the adapter was merged into. */
  base: string;
  adapter: string;
  /** Linear layers whose weights changed. */
  mergedLayers: number;
  parameters: number;
  /** Weights dtype written (the base's). */
  dtype: string;
}

const KEYS = ['adapter', 'base', 'out', 'log'];

export async function mergeLora(options: MergeLoraOptions, naming: Naming = 'keys'): Promise<MergeLoraResult> {
  const name = namer(naming);
  rejectUnknownOptions('mergeLora', options, KEYS);
  const { adapter, out, log = () => {} } = options;
  for (const key of ['adapter', 'out'] as const) {
    if (typeof options[key] !== 'string' || options[key] === '') throw new OptionsError(`${name(key)} must be a folder path`);
  }
  if (!isAdapterSpec(adapter)) throw new OptionsError(`${name('adapter')} ${adapter} is not a PEFT adapter folder (a folder with adapter_config.json and no config.json)`);
  // Checked before anything loads, and again just before writing.
  if (holdsFiles(out)) throw new OptionsError(`${name('out')} ${out} already exists and is not an empty folder; choose a new output folder (nothing is overwritten)`);
  const { baseFolder } = await resolveAdapterBase(adapter, { base: options.base, baseOption: name('base'), log });
  log(`merging ${adapter} into ${baseFolder}`);
  const merged = mergeLoraFolders(baseFolder, adapter, out);
  return { out, base: baseFolder, adapter, ...merged };
}
