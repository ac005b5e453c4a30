// `distillery bench kd`: the KD training step — teacher forward, student forward and backward,
// AdamW — in each loss mode, side by side in one invocation, beside the same step in PyTorch eager
// (baselines/pytorch_kd_step.py) where Python with torch is installed. Each mode runs in its own
// child process, so its peak resident memory is its own.
// This module registers the command and loads nothing heavy; ../bench-kd.ts runs it.
import { type Command, Option } from 'commander';
import { intOption, UsageError } from '../errors.js';

// checkpointed: the chunked step with the student's decoder layers recomputed during backward.
// lora: the chunked step with the student frozen in --dtype and LoRA adapters (--lora-rank) trained.
export const DISTILLERY_MODES = ['naive', 'chunked', 'cached', 'checkpointed', 'lora'] as const;
export type Mode = (typeof DISTILLERY_MODES)[number];
export const BASELINE_MODES = ['pytorch', 'pytorch-tuned', 'pytorch-best'] as const;
export const MODES = [...BASELINE_MODES, ...DISTILLERY_MODES] as const;
/**
 * pytorch-tuned: the baseline given the process settings Distillery makes for itself — glibc keeps
 * freed memory for reuse instead of returning (and page-faulting in) every large block, and idle
 * OpenMP and OpenBLAS threads sleep instead of spinning against each other — so the comparison separates what the
 * runtime settings win from what the code does.
 */
/**
 * pytorch-best: PyTorch as its best users would run it here — pytorch-tuned's process settings, at
 * whichever thread setting is fastest (pytorchThreadSettings: one thread; ATen on one thread and
 * OpenBLAS on every core; every core). Distillery's modes are compared with it; the others show
 * what each setting is worth.
 */
/** An H200's dense bf16 tensor-core peak (NVIDIA's figure), the default MFU denominator on CUDA. */
export const H200_DENSE_BF16_TFLOPS = 989;

export interface BenchKdFlags {
  teacher: string;
  student: string;
  batchSize: number;
  seqLen: number;
  steps: number;
  warmup: number;
  rounds: number;
  modes?: string;
  python?: string;
  /** pytorch-best at this one thread setting (its label) instead of searching them all. */
  pytorchThreads?: string;
  chunkSize: number;
  device: string;
  topK: number;
  json?: boolean;
  worker?: Mode;
  measureMemory?: boolean;
  dtype: 'float32' | 'bfloat16';
  /** The teacher's dtype in Distillery's modes (the PyTorch baseline follows --dtype). */
  teacherDtype: 'float32' | 'bfloat16';
  peakTflops?: number;
  /** The lora mode's adapter rank (every linear layer of the decoder, alpha 2r). */
  loraRank: number;
  batchFile?: string;
  cacheDir?: string;
}

export function registerBenchKd(bench: Command): void {
  bench
    .command('kd')
    .description('tokens/s and peak memory of a KD training step per mode (pytorch eager baseline, naive, chunked, cached, checkpointed, lora), each in its own process')
    .requiredOption('--teacher <path|ORG/NAME>', 'teacher model')
    .requiredOption('--student <path|ORG/NAME>', 'student model')
    .option('--batch-size <n>', 'sequences per step', intOption('--batch-size', 1, 4096), 2)
    .option('--seq-len <n>', 'tokens per sequence', intOption('--seq-len', 2, 1_000_000), 128)
    .option('--lora-rank <n>', "the lora mode's adapter rank (every linear layer of the decoder)", intOption('--lora-rank', 1, 65536), 16)
    .option('--steps <n>', 'timed steps after the warm-up', intOption('--steps', 1, 100_000), 3)
    .option('--warmup <n>', 'untimed steps first', intOption('--warmup', 1, 100_000), 2)
    .option('--rounds <n>', 'speed runs per mode, in rotation over the modes; each mode reports its fastest (noisy machines)', intOption('--rounds', 1, 100), 1)
    .option('--modes <list>', `comma-separated: ${MODES.join(', ')} (default: all; pytorch only where Python with torch is found)`)
    .option('--chunk-size <n>', 'rows per chunk of the chunked loss (0: what distill\'s memory plan chooses)', intOption('--chunk-size', 0), 0)
    .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
    .addOption(new Option('--dtype <dtype>', 'student compute dtype (float32 master weights either way; the PyTorch baseline uses autocast)').choices(['float32', 'bfloat16']).default('float32'))
    .addOption(new Option('--teacher-dtype <dtype>', "the teacher's dtype in Distillery's modes (the PyTorch baseline follows --dtype)").choices(['float32', 'bfloat16']).default('float32'))
    .option('--peak-tflops <n>', `the device's peak for MFU (default: ${H200_DENSE_BF16_TFLOPS}, an H200's dense bf16, on CUDA; none on CPU)`, (v) => {
      const n = Number(v);
      if (!(n > 0)) throw new UsageError(`--peak-tflops must be a positive number, got '${v}'`);
      return n;
    })
    .option('--top-k <k>', 'top-k of the teacher cache of the cached mode', intOption('--top-k', 1, 65536), 128)
    .option('--python <path>', 'Python with torch for the pytorch mode (default: python3, then /usr/bin/python3)')
    .option('--pytorch-threads <label>', "pytorch-best at this one thread setting (1, 1+blasN, N, N+spin for N cores) instead of trying each: at real sizes, where every run takes minutes")
    .option('--json', 'one JSON object per mode')
    .addOption(new Option('--batch-file <file>', 'internal: the shared batch').hideHelp())
    .addOption(new Option('--cache-dir <dir>', 'internal: the cached mode\'s cache').hideHelp())
    .addOption(new Option('--worker <mode>', 'internal: run one mode in this process').hideHelp())
    .addOption(new Option('--measure-memory', 'internal: measure one step\'s working memory instead of speed').hideHelp())
    .action(async (flags: BenchKdFlags) => {
      const { runBenchKd } = await import('../bench-kd.js');
      await runBenchKd(flags);
    });
}
