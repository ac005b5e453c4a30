// Hugging Face model folders of every supported family in and out: config.json + safetensors (single or sharded)
// + generation_config.json + tokenizer files. Loading converts each tensor to the requested
// dtype as it is read, one at a time, so a 4B model never needs twice its size in memory.
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeTextAtomic } from '../../io/atomic.js';
import { INDEX_FILE, SafetensorsCheckpoint, SINGLE_FILE, writeSafetensors } from '../../io/safetensors/index.js';
import { BYTES_PER_ELEMENT, type DType, noGrad, type Tensor, tidy } from '../../tensor/index.js';
import { type DecoderConfig, modelConfigToJson, readModelConfig } from './config.js';
import { CausalLM } from './model.js';
import { stateDictProblems } from '../../nn/index.js';
import { readJsonFile } from '../../io/json-file.js';

/** Files a model folder carries besides config and weights (copied on save). */
export const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'merges.txt',
  'chat_template.jinja',
];

/** Checkpoint keys that carry no parameter (older exports saved the rotary buffer). */
const IGNORED_KEYS = /(^|\.)rotary_emb\.inv_freq$/;

/**
 * Where a multimodal checkpoint keeps its language model (Gemma3ForConditionalGeneration: the
 * hub's `language_model.model.*`, or transformers ≥ 4.52's `model.language_model.*`), as the
 * causal LM's own names; and the other towers' weights, which are skipped.
 */
const TEXT_PART_PREFIXES: [string, string][] = [
  ['language_model.model.', 'model.'],
  ['language_model.lm_head.', 'lm_head.'],
  ['model.language_model.', 'model.'],
];
const OTHER_TOWERS = /^(model\.)?(vision_tower|multi_modal_projector|audio_tower)\./;

/** The causal LM's name for a checkpoint name (the same name in a plain causal LM folder; a multimodal one's language model renamed). */
export function causalLMName(name: string): string {
  const prefix = TEXT_PART_PREFIXES.find(([from]) => name.startsWith(from));
  return prefix ? prefix[1] + name.slice(prefix[0].length) : name;
}

/** The checkpoint's names by the causal LM's names they hold (the same names for a plain causal LM folder). */
function causalLMNames(stored: readonly string[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const name of stored) {
    if (IGNORED_KEYS.test(name) || OTHER_TOWERS.test(name)) continue;
    names.set(causalLMName(name), name);
  }
  return names;
}

export interface LoadOptions {
  dtype?: DType;
  device?: string;
}

export function loadCausalLM(folder: string, options: LoadOptions = {}): CausalLM {
  const config = readModelConfig(join(folder, 'config.json'));
  const dtype = options.dtype ?? 'float32';
  const device = options.device ?? 'cpu';
  const checkpoint = SafetensorsCheckpoint.open(folder);
  const model = new CausalLM(config, { dtype, device, init: false });
  try {
    const params = model.stateDict();
    const stored = causalLMNames(checkpoint.names());
    if (config.tieWordEmbeddings) stored.delete('lm_head.weight');
    const storedShapes = new Map([...stored].map(([own, name]) => [own, checkpoint.info(name).shape] as const));
    const problems = stateDictProblems(new Map([...params].map(([name, p]) => [name, p.shape] as const)), storedShapes, { given: 'checkpoint', own: 'config' });
    if (problems.length) throw new Error(`${folder}: weights do not match config.json (${problems.join('; ')})`);
    noGrad(() => {
      for (const [name, p] of params) {
        tidy(() => void p.copy_(checkpoint.tensor(stored.get(name)!, { dtype, device })));
      }
    });
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    checkpoint.close();
  }
  return model;
}

export interface SaveOptions {
  /** Weights dtype on disk (default: the model's). */
  dtype?: DType;
  /** A model folder whose tokenizer files and generation_config.json are carried over. */
  copyFrom?: string | null;
  /** Shard above this many bytes (default 5 GB, as transformers' save_pretrained). */
  maxShardBytes?: number;
}

/** Writes a folder `transformers` loads with CausalLM.from_pretrained. Each file is written atomically. */
export function saveCausalLM(model: CausalLM, dir: string, options: SaveOptions = {}): void {
  const dtype = options.dtype ?? model.dtype;
  const maxShardBytes = options.maxShardBytes ?? 5 * 1024 ** 3;
  const named = [...model.stateDict()];
  // A model carrying LoRA adapters is not a Hugging Face checkpoint: its adapter is saved apart
  // (saveLoraAdapter) or merged in first (LoraAdapter.merge).
  const adapterWeight = named.find(([name]) => /(^|\.)lora_[AB]\.weight$/.test(name));
  if (adapterWeight) throw new Error(`saveCausalLM(${dir}): the model carries LoRA adapters (${adapterWeight[0]}, ...); merge or remove them first, or save the adapter as a PEFT folder`);
  mkdirSync(dir, { recursive: true });
  const bytesOf = (t: Tensor) => t.numel * BYTES_PER_ELEMENT[dtype];

  // Greedy packing in state-dict order, as transformers shards.
  const shards: [string, Tensor][][] = [[]];
  let current = 0;
  for (const entry of named) {
    const size = bytesOf(entry[1]);
    if (current > 0 && current + size > maxShardBytes) {
      shards.push([]);
      current = 0;
    }
    shards[shards.length - 1]!.push(entry);
    current += size;
  }
  const write = (path: string, entries: [string, Tensor][]) =>
    tidy(() => writeSafetensors(path, entries.map(([name, t]) => [name, t.dtype === dtype ? t.detach() : t.detach().to(dtype)]), { format: 'pt' }));

  const written = new Set<string>();
  if (shards.length === 1) {
    write(join(dir, SINGLE_FILE), shards[0]!);
    written.add(SINGLE_FILE);
    rmSync(join(dir, INDEX_FILE), { force: true });
  } else {
    const weightMap: Record<string, string> = {};
    shards.forEach((entries, i) => {
      const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
      write(join(dir, file), entries);
      written.add(file);
      for (const [name] of entries) weightMap[name] = file;
    });
    const totalSize = named.reduce((n, [, t]) => n + bytesOf(t), 0);
    writeTextAtomic(join(dir, INDEX_FILE), `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`);
    rmSync(join(dir, SINGLE_FILE), { force: true });
  }
  // Shards of an earlier, differently sharded save would confuse loaders: remove them.
  for (const file of readdirSync(dir)) {
    if (/^model-\d{5}-of-\d{5}\.safetensors$/.test(file) && !written.has(file)) rmSync(join(dir, file));
  }

  writeTextAtomic(join(dir, 'config.json'), `${JSON.stringify(modelConfigToJson(model.config, dtype), null, 2)}\n`);
  writeTextAtomic(join(dir, 'generation_config.json'), `${JSON.stringify(generationConfigFor(model.config, options.copyFrom), null, 2)}\n`);
  if (options.copyFrom) {
    for (const file of TOKENIZER_FILES) {
      const source = join(options.copyFrom, file);
      if (existsSync(source) && source !== join(dir, file)) copyFileSync(source, join(dir, file));
    }
  }
}

function generationConfigFor(config: DecoderConfig, copyFrom?: string | null): Record<string, unknown> {
  const source = copyFrom ? join(copyFrom, 'generation_config.json') : null;
  if (source && existsSync(source)) {
    return readJsonFile(source) as Record<string, unknown>;
  }
  const out: Record<string, unknown> = {};
  if (config.bosTokenId !== null) out.bos_token_id = config.bosTokenId;
  if (config.eosTokenId !== null) out.eos_token_id = config.eosTokenId;
  if (config.padTokenId !== null) out.pad_token_id = config.padTokenId;
  return out;
}
