// `distillery cache-teacher`: run the teacher once over the training data and keep its top-k
// predictions, so `distill --teacher-cache` trains later epochs without the teacher.
import type { Command } from 'commander';
import { resolveConfig } from '../../distill/config.js';
import { prepareRun } from '../../distill/prepare.js';
import { writeTeacherCache } from '../../distill/teacher-cache/writer.js';
import { OnlineTeacher } from '../../distill/teacher.js';
import { loadQwen3 } from '../../models/qwen3/weights.js';
import { checkDevice } from '../device.js';
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
  maxLength?: string;
  maxExamples?: string;
  batchSize: number;
  examplesPerShard: number;
  teacherDtype?: string;
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
    .option('--max-length <n>', 'truncate examples, as for distill (default 512)')
    .option('--max-examples <n>', 'only the first N examples, as for distill')
    .option('--batch-size <n>', 'sequences per teacher forward pass', intOption('--batch-size', 1, 4096), 8)
    .option('--examples-per-shard <n>', 'examples per shard file', intOption('--examples-per-shard', 1), 2048)
    .option('--teacher-dtype <dtype>', 'teacher dtype: float32, bfloat16 or float16')
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .action(async (flags: CacheFlags) => {
      // The data is prepared exactly as distill prepares it, so the fingerprints agree.
      const given: Record<string, unknown> = { teacher: flags.teacher, student: flags.teacher, data: flags.data, out: flags.out, responseOnly: flags.responseOnly, device: flags.device, evalRatio: 0 };
      for (const [key, value] of Object.entries({ format: flags.format, template: flags.template, maxLength: flags.maxLength, maxExamples: flags.maxExamples, teacherDtype: flags.teacherDtype })) {
        if (value !== undefined) given[key] = value;
      }
      const config = resolveConfig(given);
      const device = checkDevice(config.device);
      const prepared = await prepareRun(config, note);
      const teacher = new OnlineTeacher(loadQwen3(prepared.teacherFolder!, { dtype: config.teacherDtype, device }));
      const started = Date.now();
      try {
        const manifest = writeTeacherCache(flags.out, teacher, prepared.all, {
          topK: flags.topK, fingerprint: prepared.fingerprint, teacherName: prepared.teacherFolder!, batchSize: flags.batchSize,
          examplesPerShard: flags.examplesPerShard, padId: prepared.padId, log: note,
        });
        console.log(`teacher cache ${flags.out}: ${manifest.examples} examples, ${manifest.tokens} target tokens, top-${manifest.topK}, ${manifest.bytesPerToken.toFixed(1)} bytes/token, ${((Date.now() - started) / 1000).toFixed(1)} s`);
      } finally {
        teacher.dispose();
      }
    });
}
