// `distillery merge-lora`: a PEFT LoRA adapter merged into its base, written as a full Hugging Face folder.
import type { Command } from 'commander';
import { note } from '../options.js';

interface MergeLoraFlags {
  base?: string;
  adapter: string;
  out: string;
}

export function registerMergeLora(program: Command): void {
  program
    .command('merge-lora')
    .description('merge a PEFT LoRA adapter folder into its base model (W + scale·B·A, in the base\'s dtype) and write a full Hugging Face model folder')
    .requiredOption('--adapter <dir>', 'PEFT adapter folder (adapter_config.json, adapter_model.safetensors)')
    .option('--base <path|ORG/NAME>', "base model folder or Hugging Face repo id (default: adapter_config.json's base_model_name_or_path)")
    .requiredOption('--out <dir>', 'folder to write (must not exist, or be empty)')
    .action(async (flags: MergeLoraFlags) => {
      const { mergeLora } = await import('../../api/merge-lora.js');
      const r = await mergeLora({ adapter: flags.adapter, base: flags.base, out: flags.out, log: note }, 'flags');
      note(`wrote ${r.out}: ${r.mergedLayers} layers merged, ${(r.parameters / 1e6).toFixed(2)}M parameters, ${r.dtype} (base ${r.base})`);
    });
}
