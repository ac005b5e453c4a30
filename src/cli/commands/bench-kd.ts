// `distillery bench kd`: the KD training step — teacher forward, student forward and backward,
// AdamW — in each loss mode, side by side in one invocation. Each mode runs in its own child
// process, so its peak resident memory is its own.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { type Command, Option } from 'commander';
import type { PaddedBatch } from '../../data/pad-batch.js';
import { microBatchBackward } from '../../distill/micro-batch.js';
import { OnlineTeacher } from '../../distill/teacher.js';
import { resolveModelPath } from '../../io/hub/index.js';
import { loadQwen3 } from '../../models/qwen3/weights.js';
import { AdamW } from '../../nn/index.js';
import { allocatorCachingEnabled, numThreads, randint, tidy, torchVersion } from '../../tensor/index.js';
import { checkDevice } from '../device.js';
import { intOption, UsageError } from '../errors.js';

const MODES = ['naive', 'chunked'] as const;
type Mode = (typeof MODES)[number];

interface BenchKdFlags {
  teacher: string;
  student: string;
  batchSize: number;
  seqLen: number;
  steps: number;
  modes: string;
  chunkSize: number;
  device: string;
  json?: boolean;
  worker?: Mode;
}

async function runWorker(flags: BenchKdFlags, mode: Mode): Promise<Record<string, unknown>> {
  const device = checkDevice(flags.device);
  const teacher = new OnlineTeacher(loadQwen3(await resolveModelPath(flags.teacher), { device }));
  const student = loadQwen3(await resolveModelPath(flags.student), { device });
  const optimizer = new AdamW(student.parameters(), { lr: 1e-5 });
  const vocab = Math.min(student.config.vocabSize, teacher.vocabSize);
  const ids = tidy(() => randint(0, vocab, [flags.batchSize, flags.seqLen]).tolist()) as number[][];
  const batch: PaddedBatch = { inputIds: ids, attentionMask: ids.map((r) => r.map(() => 1)), labels: ids, targetTokens: flags.batchSize * (flags.seqLen - 1) };
  const setup = { student, teacher, loss: { alpha: 0.5, temperature: 2, divergence: { kind: 'forward-kl' as const } }, impl: mode, chunkSize: flags.chunkSize, device };
  const step = () => {
    microBatchBackward(batch, batch.targetTokens, setup);
    optimizer.step();
    optimizer.zeroGrad();
  };
  step(); // warm-up
  const start = performance.now();
  for (let i = 0; i < flags.steps; i++) step();
  const seconds = (performance.now() - start) / 1000;
  return {
    mode,
    tokens_per_s: +((flags.batchSize * flags.seqLen * flags.steps) / seconds).toFixed(1),
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    step_ms: +((seconds * 1000) / flags.steps).toFixed(1),
    batch_size: flags.batchSize,
    seq_len: flags.seqLen,
    vocab: student.config.vocabSize,
    teacher_parameters: teacher.model.numParameters(),
    student_parameters: student.numParameters(),
    chunk_size: mode === 'chunked' ? flags.chunkSize : null,
    threads: numThreads(),
    allocator_caching: allocatorCachingEnabled(),
    torch: torchVersion(),
  };
}

export function registerBenchKd(bench: Command): void {
  bench
    .command('kd')
    .description('tokens/s and peak memory of a KD training step per loss mode (naive, chunked), each in its own process')
    .requiredOption('--teacher <path|ORG/NAME>', 'teacher model')
    .requiredOption('--student <path|ORG/NAME>', 'student model')
    .option('--batch-size <n>', 'sequences per step', intOption('--batch-size', 1, 4096), 2)
    .option('--seq-len <n>', 'tokens per sequence', intOption('--seq-len', 2, 1_000_000), 128)
    .option('--steps <n>', 'timed steps after one warm-up step', intOption('--steps', 1, 100_000), 3)
    .option('--modes <list>', `comma-separated: ${MODES.join(', ')}`, MODES.join(','))
    .option('--chunk-size <n>', 'rows per chunk of the chunked loss', intOption('--chunk-size', 1), 256)
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .option('--json', 'one JSON object per mode')
    .addOption(new Option('--worker <mode>', 'internal: run one mode in this process').hideHelp())
    .action(async (flags: BenchKdFlags) => {
      if (flags.worker) {
        console.log(JSON.stringify(await runWorker(flags, flags.worker)));
        return;
      }
      const modes = flags.modes.split(',').map((m) => m.trim());
      const unknown = modes.filter((m) => !(MODES as readonly string[]).includes(m));
      if (unknown.length) throw new UsageError(`--modes: unknown ${unknown.join(', ')}; valid: ${MODES.join(', ')}`);
      const passThrough = ['--teacher', flags.teacher, '--student', flags.student, '--batch-size', String(flags.batchSize), '--seq-len', String(flags.seqLen), '--steps', String(flags.steps), '--chunk-size', String(flags.chunkSize), '--device', flags.device];
      for (const mode of modes) {
        const child = spawnSync(process.execPath, [process.argv[1]!, 'bench', 'kd', ...passThrough, '--worker', mode], { encoding: 'utf8', maxBuffer: 1 << 24 });
        if (child.status !== 0) throw new Error(`bench kd: mode ${mode} failed: ${child.stderr.trim().split('\n').at(-1)}`);
        const record = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
        console.log(flags.json ? JSON.stringify(record) : Object.entries(record).map(([k, v]) => `${k}=${v}`).join('  '));
      }
    });
}
