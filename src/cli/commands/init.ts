// `distillery init`: a randomly initialised Qwen3 folder from a config file or a preset.
import type { Command } from 'commander';
import { PRESETS } from '../../models/decoder/presets.js';
import { intOption } from '../errors.js';
import { modelDtype, note } from '../options.js';

interface InitFlags {
  config?: string;
  preset?: string;
  seed: number;
  out: string;
  dtype: 'float32' | 'bfloat16' | 'float16';
  tokenizer?: string | false;
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
    .option('--tokenizer <dir>', "copy tokenizer files from this folder (default: Qwen3's real tokenizer for presets with its vocabulary)")
    .option('--no-tokenizer', 'write no tokenizer files (the model then takes token ids only)')
    .option('--force', 'write into a folder that already has files')
    .action(async (flags: InitFlags) => {
      const { initModel } = await import('../../api/init-model.js');
      const { parameters, tokenizer } = initModel(flags, 'flags');
      note(`wrote ${flags.out}: ${(parameters / 1e6).toFixed(2)}M parameters, ${flags.dtype}, seed ${flags.seed}`);
      note(tokenizer !== null
        ? `tokenizer: copied from ${tokenizer}`
        : `tokenizer: none written (${flags.tokenizer === false ? '--no-tokenizer' : 'no real tokenizer fits this vocabulary'}): the folder takes token ids (--input-ids, pre-tokenized input_ids data); give --tokenizer DIR for text`);
    });
}
