// `distillery bench ddp`: distillation throughput with 1, 2, … data-parallel processes on this
// machine, side by side in one invocation. Every configuration trains the same global batch (the
// per-process batch is the global one divided by the process count) on the same random tokens,
// through the real `distillery distill` command, and reports the median tokens/s of its steps
// after the first (warm-up), as rank 0 measured them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { whyChildFailed } from '../child-process.js';
import { intOption, UsageError } from '../errors.js';
import { formatBenchRecord } from '../bench-record.js';

interface BenchDdpFlags {
  teacher: string;
  student: string;
  batchSize: number;
  seqLen: number;
  steps: number;
  nproc: string;
  json?: boolean;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function registerBenchDdp(bench: Command): void {
  bench
    .command('ddp')
    .description('distillation tokens/s with 1, 2, … data-parallel processes (Gloo) at the same global batch, side by side')
    .requiredOption('--teacher <path|ORG/NAME>', 'teacher model')
    .requiredOption('--student <path|ORG/NAME>', 'student model')
    .option('--batch-size <n>', 'global sequences per step (split over the processes)', intOption('--batch-size', 1, 4096), 4)
    .option('--seq-len <n>', 'tokens per sequence', intOption('--seq-len', 2, 1_000_000), 128)
    .option('--steps <n>', 'optimizer steps per configuration (the first is warm-up)', intOption('--steps', 2, 100_000), 6)
    .option('--nproc <list>', 'process counts to compare, comma-separated', '1,2')
    .option('--json', 'one JSON object per configuration')
    .action(async (flags: BenchDdpFlags) => {
      const { writeRandomTokens } = await import('../random-tokens.js');
      const counts = flags.nproc.split(',').map((s) => intOption('--nproc', 1, 1024)(s.trim()));
      const uneven = counts.filter((n) => flags.batchSize % n !== 0);
      if (uneven.length) throw new UsageError(`--nproc ${uneven.join(', ')}: --batch-size ${flags.batchSize} must divide evenly over every process count`);
      const work = mkdtempSync(join(tmpdir(), 'distillery-bench-ddp-'));
      try {
        const data = join(work, 'data.jsonl');
        await writeRandomTokens(data, flags.student, flags.batchSize * 8, flags.seqLen, 4321);
        for (const nproc of counts) {
          const out = join(work, `run-${nproc}`);
          const args = [
            'distill', '--teacher', flags.teacher, '--student', flags.student, '--data', data, '--out', out, '--eval-ratio', '0',
            '--max-length', String(flags.seqLen), '--batch-size', String(flags.batchSize / nproc), '--max-steps', String(flags.steps),
            '--nproc-per-node', String(nproc), '--lr', '1e-5',
          ];
          const run = spawnSync(process.execPath, [process.argv[1]!, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
          if (run.status !== 0) throw new Error(`bench ddp: ${nproc} process(es) failed: ${whyChildFailed(run)}`);
          const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train');
          const timed = steps.slice(1);
          const record = {
            nproc,
            tokens_per_s: +median(timed.map((r) => r.tokens_per_s as number)).toFixed(1),
            step_ms: +(1000 * median(timed.map((r) => r.step_seconds as number))).toFixed(1),
            // Time in the gradient all-reduce: what overlapping it with the backward pass could hide at most.
            allreduce_ms: nproc > 1 ? +(1000 * median(timed.map((r) => r.allreduce_seconds as number))).toFixed(1) : 0,
            global_batch: flags.batchSize,
            batch_per_process: flags.batchSize / nproc,
            seq_len: flags.seqLen,
            threads_per_process: Number(process.env.DISTILLERY_NUM_THREADS ?? process.env.OMP_NUM_THREADS) || Math.max(1, Math.floor(availableParallelism() / nproc)),
            cores: availableParallelism(),
            timed_steps: timed.length,
          };
          console.log(formatBenchRecord(record, flags.json));
        }
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });
}
