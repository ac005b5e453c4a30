// `distillery init`: a randomly initialised Qwen3 folder from a config file or a preset.
import { existsSync, readdirSync } from 'node:fs';
import type { Command } from 'commander';
import { readQwen3Config } from '../../models/qwen3/config.js';
import { randomQwen3 } from '../../models/qwen3/init.js';
import { PRESETS, presetConfig } from '../../models/qwen3/presets.js';
import { saveQwen3 } from '../../models/qwen3/weights.js';
import { Generator } from '../../tensor/index.js';
import { TextTokenizer } from '../../tokenizer/index.js';
import { intOption, UsageError } from '../errors.js';
import { modelDtype, note } from '../options.js';

interface InitFlags {
  config?: string;
  preset?: string;
  seed: number;
  out: string;
  dtype: 'float32' | 'bfloat16' | 'float16';
  tokenizer?: string;
  force?: boolean;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('write a randomly initialised Qwen3 model folder (Hugging Face layout)')
    .option('--config <file>', 'a Qwen3 config.json')
    .option('--preset <name>', `one of ${Object.keys(PRESETS).join(', ')}`)
    .option('--seed <n>', 'initialisation seed', intOption('--seed', 0), 0)
    .requiredOption('--out <dir>', 'folder to write')
    .option('--dtype <dtype>', 'weights dtype: float32, bfloat16 or float16', modelDtype('--dtype'), 'float32')
    .option('--tokenizer <dir>', 'copy tokenizer files from this folder')
    .option('--force', 'write into a folder that already has files')
    .action((flags: InitFlags) => {
      if ((flags.config === undefined) === (flags.preset === undefined)) throw new UsageError('give exactly one of --config or --preset');
      if (flags.preset !== undefined && !PRESETS[flags.preset]) {
        throw new UsageError(`--preset '${flags.preset}' is unknown; available: ${Object.keys(PRESETS).join(', ')}`);
      }
      if (existsSync(flags.out) && readdirSync(flags.out).length > 0 && !flags.force) {
        throw new UsageError(`--out ${flags.out} already has files; choose an empty folder or pass --force`);
      }
      if (flags.tokenizer !== undefined && !TextTokenizer.hasTokenizer(flags.tokenizer)) {
        throw new UsageError(`--tokenizer ${flags.tokenizer} has no tokenizer.json and tokenizer_config.json`);
      }
      const config = flags.config !== undefined ? readQwen3Config(flags.config) : presetConfig(flags.preset!);
      const model = randomQwen3(config, { dtype: flags.dtype, generator: new Generator(flags.seed) });
      saveQwen3(model, flags.out, { dtype: flags.dtype, copyFrom: flags.tokenizer ?? null });
      note(`wrote ${flags.out}: ${(model.numParameters() / 1e6).toFixed(2)}M parameters, ${flags.dtype}, seed ${flags.seed}`);
      model.dispose();
    });
}
