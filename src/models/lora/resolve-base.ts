// Which base model an adapter folder goes on: the one the caller names, else adapter_config.json's
// base_model_name_or_path, resolved as every --model is (a local folder, the Hugging Face cache, a
// download unless offline). A relative path is taken from the working directory, as PEFT does.
import { resolveModelPath } from '../../io/hub/index.js';
import { type AdapterConfigFile, LoraAdapterError, readAdapterConfig } from './config.js';

export interface AdapterBase {
  /** The base model's local folder (config.json, safetensors). */
  baseFolder: string;
  adapterConfig: AdapterConfigFile;
}

export interface ResolveAdapterBaseOptions {
  /** The base the caller named, overriding base_model_name_or_path. */
  base?: string;
  /** How the caller's base option is spelt, for messages ('--base' or 'base'). */
  baseOption: string;
  log?: (line: string) => void;
}

export async function resolveAdapterBase(adapterFolder: string, options: ResolveAdapterBaseOptions): Promise<AdapterBase> {
  const adapterConfig = readAdapterConfig(adapterFolder);
  if (options.base !== undefined) return { baseFolder: await resolveModelPath(options.base, { log: options.log }), adapterConfig };
  const named = adapterConfig.baseModelNameOrPath;
  if (named === null) throw new LoraAdapterError(`${adapterConfig.path} has no base_model_name_or_path; pass ${options.baseOption} with the base model's folder or hub repo id`);
  try {
    return { baseFolder: await resolveModelPath(named, { log: options.log }), adapterConfig };
  } catch (error) {
    throw new LoraAdapterError(`${adapterConfig.path}: base_model_name_or_path '${named}' does not lead to a model (${firstLine((error as Error).message)}); pass ${options.baseOption} with the base model's folder or hub repo id`);
  }
}

/** The first line of a resolution error (the rest lists every place looked at, for a user who asked for that model). */
function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/[.:]?\s*Looked at:$/, '');
}
