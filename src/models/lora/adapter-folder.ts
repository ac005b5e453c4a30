// PEFT adapter folders in and out: adapter_config.json and adapter_model.safetensors with PEFT's
// keys, as PeftModel.save_pretrained writes them and PeftModel.from_pretrained, vLLM and
// transformers' load_adapter read them. Each file is written atomically.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeTextAtomic } from '../../io/atomic.js';
import { SafetensorsFile, writeSafetensors } from '../../io/safetensors/index.js';
import { type DType, type Tensor, tidy } from '../../tensor/index.js';
import type { CausalLM } from '../decoder/model.js';
import { causalLMName } from '../decoder/weights.js';
import { type LoraAdapter, PEFT_KEY_PREFIX, applyLora } from './adapter.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterConfigJson, LoraAdapterError, readAdapterConfig } from './config.js';

export interface SaveAdapterOptions {
  /** adapter_config.json's base_model_name_or_path: the folder or hub repo id the adapter goes on (null: none recorded). */
  baseModelNameOrPath: string | null;
  /** Tensor dtype on disk (default: the adapter's). */
  dtype?: DType;
}

/** Writes `adapter` as a PEFT adapter folder `dir` (created if missing). */
export function saveLoraAdapter(adapter: LoraAdapter, dir: string, options: SaveAdapterOptions): void {
  mkdirSync(dir, { recursive: true });
  const named = adapter.namedParameters();
  tidy(() => {
    const entries = named.map(([key, t]): [string, Tensor] => [key, options.dtype === undefined || options.dtype === t.dtype ? t.detach() : t.detach().to(options.dtype)]);
    // PEFT's safe_serialization writes metadata {"format": "pt"}, as transformers does.
    writeSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), entries, { format: 'pt' });
  });
  const config = { ...adapter.config, targetModules: adapter.savedTargetModules };
  writeTextAtomic(join(dir, ADAPTER_CONFIG_FILE), adapterConfigJson(config, options.baseModelNameOrPath));
}

/**
 * PEFT's key for a stored name: the adapter name PEFT sometimes leaves in (`lora_A.default.weight`,
 * from a raw state_dict) dropped, and a multimodal base's language-model prefix
 * (`model.language_model.`) read as the causal LM's own names, as loadCausalLM reads its weights.
 */
function peftKeyOf(stored: string): string {
  const withoutName = stored.replace(/\.(lora_[AB])\.[^.]+\.weight$/, '.$1.weight');
  if (!withoutName.startsWith(PEFT_KEY_PREFIX)) return withoutName;
  return PEFT_KEY_PREFIX + causalLMName(withoutName.slice(PEFT_KEY_PREFIX.length));
}

export interface LoadAdapterOptions {
  /** Adapter dtype (default float32 over a half-precision base, the base's otherwise). */
  dtype?: DType;
}

/**
 * Reads the PEFT adapter folder `folder` onto `model` (wrapping its targeted layers in place) and
 * returns the adapter. Checked: the config's fields, its target modules against the model, and the
 * weights file's keys and shapes against the model's layers; every error names the file and field
 * or tensor, and leaves the model as it was.
 */
export function loadLoraAdapter(model: CausalLM, folder: string, options: LoadAdapterOptions = {}): LoraAdapter {
  const { config, path } = readAdapterConfig(folder);
  const weightsPath = join(folder, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(weightsPath)) {
    const pickled = existsSync(join(folder, 'adapter_model.bin')) ? ' (it has adapter_model.bin, a pickle: save the adapter again with safe_serialization=True, PEFT\'s default)' : '';
    throw new LoraAdapterError(`${folder} has no ${ADAPTER_WEIGHTS_FILE}${pickled}`);
  }
  const file = SafetensorsFile.open(weightsPath);
  try {
    const keys = new Map<string, string>();
    for (const stored of file.names()) {
      const key = peftKeyOf(stored);
      if (keys.has(key)) throw new LoraAdapterError(`${weightsPath}: tensors '${keys.get(key)}' and '${stored}' are the same adapter weight`);
      keys.set(key, stored);
    }
    const adapter = applyLora(model, config, { dtype: options.dtype, init: false, source: path });
    try {
      tidy(() => adapter.loadStateDict(new Map([...keys].map(([key, stored]) => [key, file.tensor(stored, { device: model.device })])), weightsPath));
    } catch (error) {
      adapter.remove();
      throw error;
    }
    return adapter;
  } finally {
    file.close();
  }
}
