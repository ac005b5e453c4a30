// `distillery eval`: perplexity of a model on token ids, a text, or held-out data scored as distill
// scores it (response tokens of prompted formats; --all-tokens for every token).
import type { Command } from 'commander';
import { intOption, UsageError } from '../errors.js';
import { modelDtype, note, parseIds } from '../options.js';

interface EvalFlags {
  model: string;
  base?: string;
  inputIds?: string;
  text?: string;
  data?: string;
  batchSize: number;
  maxLength?: number;
  device: string;
  dtype: 'float32' | 'bfloat16' | 'float16';
  split: 'train' | 'validation' | 'test';
  json?: boolean;
  teacher?: string;
  allTokens?: boolean;
  format?: string;
  template?: string;
  maxExamples?: number;
}

function splitOption(value: string): EvalFlags['split'] {
  if (value !== 'train' && value !== 'validation' && value !== 'test') throw new UsageError(`--split must be train, validation or test, got '${value}'`);
  return value;
}

/** Which tokens the numbers average over, in words. */
function whatWasScored(format: string | undefined, allTokens: boolean): string {
  if (allTokens) return 'every token';
  if (format === 'tokens') return "the records' labels or loss_mask (else every token), as distill scores them; --all-tokens for every token";
  if (format === 'text') return 'every token of the text format, as distill scores it';
  return `response tokens of the ${format} format, as distill scores them; --all-tokens for every token`;
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('perplexity (token-weighted mean NLL of each token given its prefix) and, with --teacher, the comparison distill reports; --data is scored as distill scores its held-out set')
    .requiredOption('--model <path|ORG/NAME>', 'model folder or Hugging Face repo id, or a PEFT adapter folder (adapter_config.json; applied to its base unmerged)')
    .option('--base <path|ORG/NAME>', "with an adapter folder as --model: its base model (default: adapter_config.json's base_model_name_or_path)")
    .option('--input-ids <ids>', 'comma-separated token ids of one sequence')
    .option('--text <text>', 'a text (needs the model folder’s tokenizer)')
    .option('--data <path|ORG/NAME>', 'guanaco, instruction, chat, text or tokens records: a .jsonl, .json, .parquet or .txt file, a folder, or a cached Hugging Face dataset (held-out split); scored as distill scores held-out data (response tokens only for prompted formats), so a run\'s student gives the run\'s summary numbers')
    .option('--split <split>', 'which files of a --data folder or hub dataset: train, validation or test', splitOption, 'test')
    .option('--teacher <path|ORG/NAME>', 'also score a teacher on the same tokens: perplexities, top-1 agreement, KL(teacher‖student)')
    .option('--all-tokens', 'with --data: score every token of each record (plain perplexity; long records cut into --max-length windows), not only the tokens distill scores')
    .option('--format <format>', 'with --data: data format, as for distill (default: detected)')
    .option('--template <template>', 'with --data: instruction template, as for distill')
    .option('--max-examples <n>', 'with --data: only the first N examples (distill scores its first --max-eval-examples, default 100)', intOption('--max-examples', 1))
    .option('--batch-size <n>', 'sequences per forward pass', intOption('--batch-size', 1, 4096), 8)
    .option('--max-length <n>', 'with --data: truncate examples to this many tokens, as distill (default: 512); with --all-tokens, --text or --input-ids: cut longer sequences into windows of this many tokens (default: the model\'s context)', intOption('--max-length', 2))
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .option('--dtype <dtype>', 'compute dtype: float32, bfloat16 or float16', modelDtype('--dtype'), 'float32')
    .option('--json', 'print one JSON object')
    .action(async (flags: EvalFlags) => {
      const { evaluate } = await import('../../api/evaluate.js');
      const r = await evaluate(
        {
          model: flags.model, base: flags.base, teacher: flags.teacher, data: flags.data, text: flags.text, split: flags.split,
          allTokens: flags.allTokens, format: flags.format, template: flags.template, maxExamples: flags.maxExamples,
          inputIds: flags.inputIds !== undefined ? parseIds('--input-ids', flags.inputIds) : undefined,
          batchSize: flags.batchSize, maxLength: flags.maxLength, device: flags.device, dtype: flags.dtype,
          onBatch: flags.json ? undefined : (done, total) => note(`  batch ${done}/${total}`),
          log: note,
        },
        'flags',
      );
      const scored = { ...(r.format !== undefined ? { format: r.format } : {}), all_tokens: r.allTokens };
      if (r.teacher !== undefined) {
        const record = {
          model: r.model, teacher: r.teacher, tokens: r.tokens, ...scored, nll: r.nll, perplexity: r.perplexity,
          teacher_nll: r.teacherNll, teacher_perplexity: r.teacherPerplexity, top1_agreement: r.top1Agreement, kl_teacher_student: r.klTeacherStudent,
        };
        if (flags.json) console.log(JSON.stringify(record));
        else {
          console.log(`${r.tokens} scored tokens (${whatWasScored(r.format, r.allTokens)})`);
          console.log(`  teacher perplexity        ${r.teacherPerplexity!.toFixed(4)}`);
          console.log(`  student perplexity        ${r.perplexity.toFixed(4)}`);
          console.log(`  top-1 agreement           ${(100 * r.top1Agreement!).toFixed(1)} %`);
          console.log(`  KL(teacher || student)    ${r.klTeacherStudent!.toFixed(4)} nats/token`);
        }
        return;
      }
      if (flags.json) console.log(JSON.stringify({ model: r.model, nll: r.nll, perplexity: r.perplexity, tokens: r.tokens, sequences: r.sequences, ...scored }));
      else console.log(`perplexity ${r.perplexity.toFixed(4)}  (nll ${r.nll.toFixed(4)} nats/token over ${r.tokens} tokens, ${r.sequences} sequences; ${whatWasScored(r.format, r.allTokens)})`);
    });
}

