// `distillery generate-data`: the teacher rewrites every answer of a data set (sequence-level KD),
// in the data's own format; Ctrl-C stops after the current batch and a rerun continues.
import type { Command } from 'commander';
import type { GenerateDataOptions } from '../../api/generate-data.js';
import { intOption } from '../errors.js';
import { note } from '../options.js';

// The options distill shares are passed on as the strings given: they are parsed and checked as
// distill's flags are (resolveConfig), with the same messages.
const asGiven = (value: string | undefined) => value as unknown as number | undefined;

interface GenerateDataFlags {
  teacher: string;
  data: string;
  out: string;
  maxNewTokens?: string;
  generationTemperature?: string;
  generationTopP?: string;
  seed?: string;
  batchSize: number;
  format?: string;
  template?: string;
  maxLength?: string;
  maxExamples?: string;
  teacherDtype?: GenerateDataOptions['teacherDtype'];
  device?: string;
}

export function registerGenerateData(program: Command): void {
  program
    .command('generate-data')
    .description("write a copy of --data whose answers the teacher wrote (sequence-level KD data for distill)")
    .requiredOption('--teacher <path|ORG/NAME>', 'the model that writes the answers')
    .requiredOption('--data <path|ORG/NAME>', 'guanaco, instruction, chat or tokens records')
    .requiredOption('--out <file.jsonl>', 'the new data set, in the same format (must not exist; an unfinished FILE.partial is continued)')
    .option('--max-new-tokens <n>', 'new tokens per answer at most; prompt + answer stay within --max-length (default: 128)')
    .option('--generation-temperature <t>', 'sampling temperature, 0 for greedy (default: 1)')
    .option('--generation-top-p <p>', 'top-p (nucleus) filtering, 1 for off (default: 1)')
    .option('--seed <n>', 'sampling seed (default: 42)')
    .option('--batch-size <n>', 'prompts generated together', intOption('--batch-size', 1, 4096), 8)
    .option('--format <format>', 'data format, as for distill (default: detected)')
    .option('--template <template>', 'instruction template, as for distill')
    .option('--max-length <n>', 'prompt + answer tokens at most, as distill --max-length (default: 512)')
    .option('--max-examples <n>', 'only the first N records')
    .option('--teacher-dtype <dtype>', 'float32, bfloat16 or float16 (default: float32)')
    .option('--device <device>', "'cpu' or 'cuda[:N]' (default: cpu)")
    .action(async (flags: GenerateDataFlags) => {
      const [{ generateData }, { createProgress }] = await Promise.all([import('../../api/generate-data.js'), import('../progress.js')]);
      const progress = createProgress(10);
      const stop = new AbortController();
      const onSignal = () => {
        if (stop.signal.aborted) process.exit(130);
        progress.log('stopping after this batch (Ctrl-C again to quit at once; a rerun continues)');
        stop.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const started = Date.now();
      try {
        const result = await generateData(
          {
            teacher: flags.teacher, data: flags.data, out: flags.out, maxNewTokens: asGiven(flags.maxNewTokens),
            generationTemperature: asGiven(flags.generationTemperature), generationTopP: asGiven(flags.generationTopP), seed: asGiven(flags.seed),
            batchSize: flags.batchSize, format: flags.format, template: flags.template, maxLength: asGiven(flags.maxLength), maxExamples: asGiven(flags.maxExamples),
            teacherDtype: flags.teacherDtype, device: flags.device, signal: stop.signal, log: note,
            onBatch: (done, total) => progress.log(`${done}/${total} records`),
          },
          'flags',
        );
        progress.stop();
        if (result.out === null) {
          process.exitCode = 130;
          return;
        }
        const rate = result.generatedTokens / Math.max(1e-9, result.seconds);
        console.log(
          `wrote ${result.out}: ${result.records} records, ${result.regenerated} answered by the teacher (${result.generatedTokens} tokens, ${rate.toFixed(1)} tokens/s)` +
            `${result.unchanged ? `, ${result.unchanged} copied unchanged (nothing to answer)` : ''}${result.resumedAt ? `, ${result.resumedAt} from an earlier run` : ''}; ${((Date.now() - started) / 1000).toFixed(1)} s`,
        );
      } finally {
        progress.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
