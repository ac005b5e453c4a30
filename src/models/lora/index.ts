// LoRA adapters in PEFT's layout: applying them to a CausalLM, their folders, merging.
export { applyLora, isLoraParameterName, LoraAdapter, PEFT_KEY_PREFIX, type ApplyLoraOptions } from './adapter.js';
export { loadLoraAdapter, saveLoraAdapter, type LoadAdapterOptions, type SaveAdapterOptions } from './adapter-folder.js';
export {
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterConfigJson, DEFAULT_TARGET_MODULES, isAdapterFolder, loraConfig, LoraAdapterError, readAdapterConfig,
  type AdapterConfigFile, type LoraConfig,
} from './config.js';
export { holdsFiles, mergeLoraFolders, type MergedFolder } from './merge-folder.js';
export { resolveAdapterBase, type AdapterBase, type ResolveAdapterBaseOptions } from './resolve-base.js';
export { selectTargets, type TargetSlot } from './targets.js';
