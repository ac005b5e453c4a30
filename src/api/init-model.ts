// initModel(): a randomly initialised Qwen3 model folder in Hugging Face layout, from a preset
// (the true shapes of Qwen3-0.6B, -4B, ...) or a config.json: what `distillery init` writes.
import { existsSync, readdirSync } from 'node:fs';
import { readQwen3Config } from '../models/qwen3/config.js';
import { randomQwen3 } from '../models/qwen3/init.js';
import { PRESETS, presetConfig } from '../models/qwen3/presets.js';
import { saveQwen3 } from '../models/qwen3/weights.js';
import { Generator } from '../tensor/index.js';
import { TextTokenizer } from '../tokenizer/index.js';
import { type Naming, namer } from './naming.js';
import { checkInt, OptionsError, rejectUnknownOptions } from './options.js';

export interface InitModelOptions {
  /** Folder to write (must be empty unless `force`). */
  out: string;
  /** One of the presets (`qwen3-0.6b`, `qwen3-4b`, ...)... */
  preset?: string;
  /** ...or the path of a Qwen3 config.json. */
  config?: string;
  /** Initialisation seed (default 0): the same seed gives the same weights. */
  seed?: number;
  /** Weights dtype (default float32). */
  dtype?: 'float32' | 'bfloat16' | 'float16';
  /** Copy tokenizer files from this folder. */
  tokenizer?: string;
  /** Write into a folder that already has files. */
  force?: boolean;
}

export interface InitModelResult {
  out: string;
  parameters: number;
}

const KEYS = ['out', 'preset', 'config', 'seed', 'dtype', 'tokenizer', 'force'];

/** Writes a random Qwen3 model folder; `naming` phrases errors (`preset` from the API, `--preset` from the command line). */
export function initModel(options: InitModelOptions, naming: Naming = 'keys'): InitModelResult {
  const name = namer(naming);
  rejectUnknownOptions('initModel', options, KEYS);
  const { out, preset, config: configFile, dtype = 'float32', tokenizer, force = false } = options;
  const seed = checkInt(name('seed'), options.seed ?? 0, 0);
  if ((configFile === undefined) === (preset === undefined)) throw new OptionsError(`give exactly one of ${name('config')} or ${name('preset')}`);
  if (preset !== undefined && !PRESETS[preset]) throw new OptionsError(`${name('preset')} '${preset}' is unknown; available: ${Object.keys(PRESETS).join(', ')}`);
  if (existsSync(out) && readdirSync(out).length > 0 && !force) throw new OptionsError(`${name('out')} ${out} already has files; choose an empty folder or pass ${name('force')}`);
  if (tokenizer !== undefined && !TextTokenizer.hasTokenizer(tokenizer)) throw new OptionsError(`${name('tokenizer')} ${tokenizer} has no tokenizer.json and tokenizer_config.json`);
  const config = configFile !== undefined ? readQwen3Config(configFile) : presetConfig(preset!);
  const model = randomQwen3(config, { dtype, generator: new Generator(seed) });
  try {
    saveQwen3(model, out, { dtype, copyFrom: tokenizer ?? null });
    return { out, parameters: model.numParameters() };
  } finally {
    model.dispose();
  }
}
