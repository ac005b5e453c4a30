// `distillery cache-teacher`: run the teacher once over the training data and keep its top-k
// predictions, so `distill --teacher-cache` trains later epochs without the teacher.
import type { Command } from 'commander';
import type { CacheTeacherOptions } from '../../api/cache-teacher.js';
import { intOption } from '../errors.js';
import { note } from '../options.js';

interface CacheFlags {
  teacher: string;
  data: string;
  topK: number;
  out: string;
  format?: string;
  template?: string;
  responseOnly: boolean;
  maxLength?: number;
  maxExamples?: number;
  batchSize: number;
  examplesPerShard: number;
  /** Checked against the choices where distill's options are resolved. */
  teacherDtype?: CacheTeacherOptions['teacherDtype'];
  device: string;
}

export function registerCacheTeacher(program: Command): void {
  program
    .command('cache-teacher')
    .description("write the teacher's top-k predictions for every target token of --data (for distill --teacher-cache)")
    .requiredOption('--teacher <path|ORG/NAME>', 'teacher model')
    .requiredOption('--data <path|ORG/NAME>', 'the training data, as given to distill')
    .option('--top-k <k>', 'tokens kept per position', intOption('--top-k', 1, 65536), 128)
    .requiredOption('--out <dir>', 'cache folder (must be new or empty)')
    .option('--format <format>', 'data format, as for distill (default: detected)')
    .option('--template <template>', 'instruction template, as for distill')
    .option('--no-response-only', 'count every token, as distill --no-response-only')
    .option('--max-length <n>', 'truncate examples, as for distill (default: 512)', intOption('--max-length', 2))
    .option('--max-examples <n>', 'only the first N examples, as for distill', intOption('--max-examples', 1))
    .option('--batch-size <n>', 'sequences per teacher forward pass', intOption('--batch-size', 1, 4096), 8)
    .option('--examples-per-shard <n>', 'examples per shard file', intOption('--examples-per-shard', 1), 2048)
    .option('--teacher-dtype <dtype>', 'teacher dtype: float32, bfloat16 or float16')
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .action(async (flags: CacheFlags) => {
      const { cacheTeacher } = await import('../../api/cache-teacher.js');
      const started = Date.now();
      const manifest = await cacheTeacher(
        {
          teacher: flags.teacher, data: flags.data, out: flags.out, topK: flags.topK, format: flags.format, template: flags.template,
          responseOnly: flags.responseOnly, maxLength: flags.maxLength, maxExamples: flags.maxExamples, batchSize: flags.batchSize,
          examplesPerShard: flags.examplesPerShard, teacherDtype: flags.teacherDtype, device: flags.device, log: note,
        },
        'flags',
      );
      console.log(`teacher cache ${flags.out}: ${manifest.examples} examples, ${manifest.tokens} target tokens, top-${manifest.topK}, ${manifest.bytesPerToken.toFixed(1)} bytes/token, ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });
}
