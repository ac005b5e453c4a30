// The memory plan of one `distill` run: its inputs read from the configuration, the model configs
// and the tokenized data (no weight loaded), the budget of its device, and what to suggest when
// nothing fits. Printed by --dry-run and at the start of every run.
import { readFileSync } from 'node:fs';
import { worldFromEnvironment } from '../../distributed/environment.js';
import { kernelsFor } from '../../tensor/index.js';
import { rowsPerLogitsChunk } from '../../eval/targets.js';
import { batchSizeFor } from '../batches.js';
import type { DistillConfig } from '../config.js';
import type { PreparedEnsemble, PreparedRun } from '../prepare.js';
import { adapterSize, runLoraConfig } from '../lora-student.js';
import { type LoraConfig, loraConfig } from '../../models/lora/index.js';
import type { DecoderConfig } from '../../models/decoder/config.js';
import { teacherIdsFor } from '../cross-tokenizer/batch-plan.js';
import { estimateMemory, type MemoryEstimate, passesPerStep, type PlanInput } from './estimate.js';
import { memoryBudget } from './limit.js';
import { type Alternative, gb, type MemoryPlan, planMemory, planReason } from './plan.js';
import { residentBytes } from './process-memory.js';

const MIB = 2 ** 20;

/** The CPU's native bf16 matrix instructions (AMX, AVX-512 BF16), from /proc/cpuinfo, or null. */
function nativeBf16(): string | null {
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
    return ['amx_bf16', 'avx512_bf16'].find((f) => flags.includes(f)) ?? null;
  } catch {
    return null;
  }
}

/**
 * A hint, not a choice: bf16 compute changes the arithmetic, so the plan never switches to it, but
 * on CPUs that multiply bf16 natively it is several times faster (measured in the README).
 */
export function precisionHint(config: DistillConfig): string | null {
  if (config.device !== 'cpu' || config.dtype === 'bfloat16') return null;
  const flag = nativeBf16();
  return flag ? `hint: this CPU multiplies bfloat16 natively (${flag}): --dtype bfloat16 (float32 master weights) runs the student's matmuls faster, and --teacher-dtype bfloat16 the teacher's` : null;
}

/** Worker processes of this run on this machine (they share its memory on CPU). */
function processesOnThisMachine(): number {
  const n = Number(process.env.LOCAL_WORLD_SIZE);
  return Number.isInteger(n) && n > 1 ? n : 1;
}

/**
 * The teacher's tokens for the longest training examples when it tokenizes differently: the 16
 * longest (by the student's count) re-encoded as a step would (batch-plan.ts), the longest of those.
 */
function teacherSequenceLength(prepared: PreparedRun): number {
  const longest = [...prepared.train].sort((a, b) => b.inputIds.length - a.inputIds.length).slice(0, 16);
  return longest.reduce((n, e) => Math.max(n, teacherIdsFor(e.inputIds, prepared.crossTokenizer!).teacherIds.length), 1);
}

export function planInputOf(config: DistillConfig, prepared: PreparedRun): PlanInput {
  const longest = (examples: { inputIds: number[] }[]) => examples.reduce((n, e) => Math.max(n, e.inputIds.length), 1);
  const student = prepared.studentConfig;
  const teacher = config.teacherCache === null ? prepared.teacherConfig : null;
  return {
    student,
    studentDtype: config.dtype,
    teacher,
    teacherDtype: config.teacherDtype,
    teacherElsewhere: config.teacherDevice !== null && config.teacherDevice !== config.device,
    sequenceLength: longest(prepared.train),
    evalSequenceLength: longest(prepared.heldOut),
    evalBatchSize: Math.min(config.evalBatchSize, Math.max(1, prepared.heldOut.length)),
    lossImpl: config.lossImpl,
    lossChunkRows: config.lossChunkSize > 0 ? config.lossChunkSize : rowsPerLogitsChunk(student.vocabSize),
    runtimeBytes: residentBytes() ?? 512 * MIB,
    kernels: kernelsFor(config.device, config.dtype),
    gradAccum: config.gradAccum,
    batchSize: batchSizeFor(config.batchSize, prepared.train.length),
    crossTokenizer: prepared.crossTokenizer !== null,
    teacherSequenceLength: prepared.crossTokenizer ? teacherSequenceLength(prepared) : undefined,
    ...(prepared.ensemble ? ensemblePlan(prepared.ensemble) : {}),
    lora: loraPlan(runLoraConfig(config, prepared), student),
    // A rank of a launched run, or the launcher's own plan (--dry-run) for the ranks it would start.
    dataParallel: worldFromEnvironment() !== null || config.nprocPerNode * config.nnodes > 1,
  };
}

/** A LoRA student's adapters, as the plan counts them. */
function loraPlan(lora: LoraConfig | null, student: DecoderConfig): PlanInput['lora'] {
  return lora ? { ...adapterSize(student, lora), rank: lora.rank } : null;
}

/** Several teachers: every local one after the first (loaded together), and how many combine in a chunk. */
function ensemblePlan(ensemble: PreparedEnsemble): Pick<PlanInput, 'otherTeachers' | 'ensembleMembers'> {
  const local = ensemble.entries.flatMap((e) => (e.config ? [e.config] : []));
  return { otherTeachers: local.slice(1), ensembleMembers: ensemble.entries.length };
}

/** Changes that free memory, each estimated at micro-batch 1 with checkpointing where allowed. */
function alternatives(input: PlanInput, config: DistillConfig): Alternative[] {
  const smallest = { microBatchSize: 1, gradientCheckpointing: config.gradientCheckpointing !== 'off' };
  const out: Alternative[] = [];
  const add = (change: string, changed: Partial<PlanInput>) => out.push({ change, changed, estimate: estimateMemory({ ...input, ...changed }, smallest) });
  if (input.teacher && !input.crossTokenizer) {
    if (Array.isArray(config.teacher)) {
      add(`offline teacher caches, which free the local teachers entirely: distillery cache-teacher --teacher FOLDER --data ${config.data} --out CACHE for each, then give each CACHE as its --teacher`, { teacher: null, otherTeachers: [] });
    } else {
      add(`an offline teacher cache, which frees the teacher entirely: distillery cache-teacher --teacher ${config.teacher} --data ${config.data} --out CACHE, then distill --teacher-cache CACHE`, { teacher: null });
    }
  }
  if (input.teacher && input.teacherDtype === 'float32') add('--teacher-dtype bfloat16', { teacherDtype: 'bfloat16' });
  for (const length of [256, 128, 64]) {
    if (length < input.sequenceLength) add(`--max-length ${length}`, { sequenceLength: length, evalSequenceLength: Math.min(length, input.evalSequenceLength) });
  }
  if (input.teacher && !input.teacherElsewhere) add('the teacher on another device (--teacher-device)', { teacherElsewhere: true });
  if (!input.lora) {
    // Adapters instead of every weight: no float32 masters, gradients or moments of the student's own.
    const rank = 16;
    add(`LoRA adapters instead of full fine-tuning: --lora-rank ${rank}${config.dtype === 'float32' ? ' --dtype bfloat16' : ''}`, {
      lora: { ...adapterSize(input.student, loraConfig({ rank })), rank }, studentDtype: 'bfloat16',
    });
  }
  return out;
}

/** The memory plan of a run, with the rows per chunk of the chunked loss it settled on. */
export interface RunPlan extends MemoryPlan {
  lossChunkRows: number;
}

export function planRun(config: DistillConfig, prepared: PreparedRun): RunPlan {
  const input = planInputOf(config, prepared);
  const budget = memoryBudget(config.device, config.memoryLimit);
  const shared = config.device === 'cpu' ? processesOnThisMachine() : 1;
  const perProcess = budget && shared > 1 ? { bytes: budget.bytes / shared, source: `${budget.source}, shared by ${shared} processes` } : budget;
  return withChunkRows(input, planMemory(input, config.gradientCheckpointing, perProcess, () => alternatives(input, config)), config.lossChunkSize);
}

/** The plan with its loss chunk: `requested` rows when positive, else as large as the headroom allows (largerChunkRows). */
export function withChunkRows(input: PlanInput, plan: MemoryPlan, requested: number): RunPlan {
  if (input.lossImpl !== 'chunked' || requested > 0) return { ...plan, lossChunkRows: input.lossChunkRows };
  const lossChunkRows = largerChunkRows(input, plan);
  const chunked = { ...input, lossChunkRows };
  const estimate = estimateMemory(chunked, plan.shape);
  // The reason quotes the final estimate: the table, this line and --json's reason give one peak.
  return { ...plan, estimate, reason: planReason(chunked, { ...plan, estimate }), lossChunkRows };
}

/**
 * Rows per chunk of the chunked loss when --loss-chunk-size is 0. Fewer, larger chunks are faster
 * where the hidden size is small: each chunk adds a rank-c update into the whole [V × H] head
 * gradient (at V = 151,936, hidden 128, 508 target rows: 282 tokens/s in 4 chunks, 394 in one,
 * the naive loss 398), and no slower at hidden 1,024 (64 vs 256 rows: 65.8 vs 65.6 tokens/s). So
 * the chunk grows from the 40 MiB default, doubling up to a whole micro-batch's rows, while the
 * estimate stays within half of the headroom the plan left under the budget.
 */
function largerChunkRows(input: PlanInput, plan: MemoryPlan): number {
  if (!plan.budget || plan.estimate.peakBytes >= plan.budget.bytes) return input.lossChunkRows;
  const allowed = plan.estimate.peakBytes + (plan.budget.bytes - plan.estimate.peakBytes) / 2;
  const rowsPerPass = plan.shape.microBatchSize * input.sequenceLength;
  let rows = input.lossChunkRows;
  while (rows < rowsPerPass) {
    const next = Math.min(2 * rows, Math.ceil(rowsPerPass / 16) * 16);
    if (estimateMemory({ ...input, lossChunkRows: next }, plan.shape).peakBytes > allowed) break;
    rows = next;
  }
  return rows;
}

const mb = (bytes: number) => Math.round(bytes / MIB);

function componentLines(estimate: MemoryEstimate): string[] {
  const width = Math.max(...estimate.components.map((c) => c.name.length));
  return estimate.components.map((c) => `  ${c.name.padEnd(width)}  ${mb(c.bytes).toLocaleString('en-US').padStart(8)} MB  ${c.detail}`);
}

/** The plan as a table for people: one line per component, the peak, the budget. */
export function formatPlan(plan: MemoryPlan, config: DistillConfig): string {
  const { estimate, shape, batchSize } = plan;
  const lines = [
    `memory plan for ${config.device}: batch ${batchSize} × accumulation ${config.gradAccum} → micro-batch ${shape.microBatchSize} × ${passesPerStep(batchSize, shape.microBatchSize, config.gradAccum)} per step, activation checkpointing ${shape.gradientCheckpointing ? 'on' : 'off'}`,
    `peak in the ${estimate.phase}:`,
    ...componentLines(estimate),
    `  ${'estimated peak'}  ${gb(estimate.peakBytes)}; limit ${plan.budget ? `${gb(plan.budget.bytes)} (${plan.budget.source})` : 'unknown'}`,
  ];
  if (estimate.teacherDevice) lines.push(`teacher on ${config.teacherDevice}: ${gb(estimate.teacherDevice.peakBytes)}`);
  lines.push(plan.reason);
  return lines.join('\n');
}

/** The plan as one JSON object (--dry-run --json). */
export function planRecord(plan: MemoryPlan & { lossChunkRows?: number }, config: DistillConfig): Record<string, unknown> {
  const { estimate, shape, batchSize } = plan;
  return {
    estimated_peak_mb: mb(estimate.peakBytes),
    memory_limit_mb: plan.budget ? mb(plan.budget.bytes) : null,
    memory_limit_source: plan.budget?.source ?? null,
    fits: plan.budget ? estimate.peakBytes <= plan.budget.bytes : null,
    peak_phase: estimate.phase,
    device: config.device,
    batch_size: batchSize,
    micro_batch_size: shape.microBatchSize,
    grad_accum: passesPerStep(batchSize, shape.microBatchSize, config.gradAccum),
    gradient_checkpointing: shape.gradientCheckpointing,
    ...(plan.lossChunkRows !== undefined ? { loss_chunk_rows: plan.lossChunkRows } : {}),
    components: Object.fromEntries(estimate.components.map((c) => [c.name, mb(c.bytes)])),
    teacher_device_peak_mb: estimate.teacherDevice ? mb(estimate.teacherDevice.peakBytes) : null,
    reason: plan.reason,
  };
}
