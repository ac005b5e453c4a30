// A LoRA adapter's settings and PEFT's adapter_config.json: written with the fields and defaults of
// PEFT's LoraConfig (so PEFT, vLLM and transformers' load_adapter read it), read back with every
// field this code would otherwise silently ignore checked, each error naming the file and field.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonFile } from '../../io/json-file.js';
import type { LoraSettings } from '../../nn/index.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** Every linear layer of the decoder (PEFT's names); never lm_head or embeddings unless named. */
export const DEFAULT_TARGET_MODULES: readonly string[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

/** An adapter's complete settings, as PEFT's LoraConfig fields that this code acts on. */
export interface LoraConfig extends LoraSettings {
  /**
   * PEFT's target_modules: a list of module names (a module is targeted when its path equals one or
   * ends with `.name`), or one regular expression the whole path must match; 'all-linear' names every
   * linear layer but the output layer.
   */
  targetModules: readonly string[] | string;
  /** exclude_modules, matched as targetModules; null: none. */
  excludeModules: readonly string[] | string | null;
  /** layers_to_transform: only these decoder layer indices (with a list of targetModules); null: all. */
  layersToTransform: readonly number[] | number | null;
  /** layers_pattern: the path component before the layer index (default: any). */
  layersPattern: readonly string[] | string | null;
}

/** A config from the settings a caller gives, PEFT's defaults for the rest (lora_alpha 8, dropout 0, every decoder linear). */
export function loraConfig(settings: Partial<LoraConfig> & Pick<LoraConfig, 'rank'>): LoraConfig {
  return {
    rank: settings.rank,
    alpha: settings.alpha ?? 8,
    dropout: settings.dropout ?? 0,
    useRslora: settings.useRslora ?? false,
    targetModules: settings.targetModules ?? DEFAULT_TARGET_MODULES,
    excludeModules: settings.excludeModules ?? null,
    layersToTransform: settings.layersToTransform ?? null,
    layersPattern: settings.layersPattern ?? null,
  };
}

/** A bad adapter folder or adapter settings; the message names the file (or option) and field. */
export class LoraAdapterError extends Error {
  override name = 'LoraAdapterError';
}

/**
 * adapter_config.json as PEFT's save_pretrained writes it: keys sorted, two-space indent, no final
 * newline, inference_mode true. The fields are those PEFT has written since 0.10 with their
 * defaults; fields newer releases added (exclude_modules, lora_bias, ...) are left out unless used,
 * since PEFT before 0.14 refuses keys it does not know and later releases default missing ones.
 */
export function adapterConfigJson(config: LoraConfig, baseModelNameOrPath: string | null): string {
  const fields: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModelNameOrPath,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: config.layersPattern,
    layers_to_transform: config.layersToTransform,
    loftq_config: {},
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: config.rank,
    rank_pattern: {},
    revision: null,
    target_modules: config.targetModules,
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: config.useRslora,
  };
  if (config.excludeModules !== null) fields.exclude_modules = config.excludeModules;
  const sorted = Object.fromEntries(Object.keys(fields).sort().map((key) => [key, fields[key]]));
  return JSON.stringify(sorted, null, 2);
}

/** What an adapter folder's adapter_config.json says. */
export interface AdapterConfigFile {
  config: LoraConfig;
  /** base_model_name_or_path: a folder or hub repo id; null when the file gives none. */
  baseModelNameOrPath: string | null;
  /** The file's path, for messages. */
  path: string;
}

/** Whether `folder` is a PEFT adapter folder (has adapter_config.json). */
export function isAdapterFolder(folder: string): boolean {
  return existsSync(join(folder, ADAPTER_CONFIG_FILE));
}

const isEmpty = (value: unknown) => value === undefined || value === null || (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && Object.keys(value as object).length === 0);

/** Reads and checks `folder`/adapter_config.json. */
export function readAdapterConfig(folder: string): AdapterConfigFile {
  const path = join(folder, ADAPTER_CONFIG_FILE);
  if (!existsSync(path)) throw new LoraAdapterError(`${folder} has no ${ADAPTER_CONFIG_FILE}: not a PEFT adapter folder (a model folder has config.json instead)`);
  const json = readJsonFile(path);
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new LoraAdapterError(`${path}: expected a JSON object`);
  const j = json as Record<string, unknown>;
  const fail = (field: string, expected: string): never => {
    throw new LoraAdapterError(`${path}: ${field} is ${JSON.stringify(j[field])}; ${expected}`);
  };
  if (j.peft_type !== 'LORA') fail('peft_type', 'only LORA adapters are supported (peft_type "LORA")');
  if (j.task_type !== undefined && j.task_type !== null && j.task_type !== 'CAUSAL_LM') fail('task_type', 'only CAUSAL_LM adapters (on a causal LM) are supported');
  const rank = j.r ?? 8;
  if (!Number.isSafeInteger(rank) || (rank as number) < 1) fail('r', 'expected a positive integer');
  const alpha = j.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) fail('lora_alpha', 'expected a number');
  const dropout = j.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) fail('lora_dropout', 'expected a number in [0, 1)');
  const useRslora = j.use_rslora ?? false;
  if (typeof useRslora !== 'boolean') fail('use_rslora', 'expected true or false');
  // Variants whose weights would load but mean something else here: refused, not ignored.
  if (j.bias !== undefined && j.bias !== 'none') fail('bias', 'only "none" is supported (trained biases are not)');
  if (j.use_dora === true) fail('use_dora', 'DoRA adapters are not supported');
  if (j.fan_in_fan_out === true) fail('fan_in_fan_out', 'only false is supported (weights stored [out, in], as nn.Linear)');
  if (j.lora_bias === true) fail('lora_bias', 'LoRA biases are not supported');
  for (const field of ['rank_pattern', 'alpha_pattern', 'modules_to_save', 'layer_replication', 'trainable_token_indices', 'megatron_config']) {
    if (!isEmpty(j[field])) fail(field, 'not supported: only a uniform rank and alpha over the targeted linear layers');
  }
  const targetModules = stringOrList(j.target_modules, () => fail('target_modules', 'expected a list of module names or a regular expression string'));
  const excludeModules = j.exclude_modules === undefined || j.exclude_modules === null ? null : stringOrList(j.exclude_modules, () => fail('exclude_modules', 'expected a list of module names or a regular expression string'));
  const layers = j.layers_to_transform;
  const layersToTransform =
    layers === undefined || layers === null ? null : Number.isSafeInteger(layers) ? (layers as number) : Array.isArray(layers) && layers.every((l) => Number.isSafeInteger(l)) ? (layers as number[]) : fail('layers_to_transform', 'expected a layer index or a list of them');
  const layersPattern = j.layers_pattern === undefined || j.layers_pattern === null ? null : stringOrList(j.layers_pattern, () => fail('layers_pattern', 'expected a string or a list of strings'));
  const base = j.base_model_name_or_path;
  if (base !== undefined && base !== null && typeof base !== 'string') fail('base_model_name_or_path', 'expected a folder or hub repo id');
  return {
    config: { rank: rank as number, alpha: alpha as number, dropout: dropout as number, useRslora: useRslora as boolean, targetModules, excludeModules, layersToTransform, layersPattern },
    baseModelNameOrPath: typeof base === 'string' && base !== '' ? base : null,
    path,
  };
}

function stringOrList(value: unknown, fail: () => never): readonly string[] | string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) return value as string[];
  return fail();
}
