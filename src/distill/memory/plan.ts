// Fitting a run into its memory budget without changing what it learns. The optimizer step stays
// batch-size × grad-accum × world-size sequences; only how each step is computed changes:
//   1. the user's micro-batches are split into smaller ones, accumulated (the loss is a mean over
//      the whole step's target tokens, so the update is the same up to float rounding);
//   2. then the student's decoder layers are checkpointed (recomputed during backward).
// When nothing fits, the run stops before loading a weight, with options that would fit, in numbers.
import { estimateMemory, type MemoryEstimate, type PlanInput, type StepShape } from './estimate.js';
import type { MemoryBudget } from './limit.js';

export type CheckpointingMode = 'auto' | 'on' | 'off';

export interface MemoryPlan {
  /** Sequences per batch the plan was made for (--batch-size, at most the training examples). */
  batchSize: number;
  /** --gradient-checkpointing as asked (auto may turn it on). */
  mode: CheckpointingMode;
  shape: StepShape;
  estimate: MemoryEstimate;
  budget: MemoryBudget | null;
  /** One line: what was chosen and why. */
  reason: string;
}

/** Nothing fits: `plan` is the smallest shape tried, for --dry-run to show. */
export class MemoryPlanError extends Error {
  override name = 'MemoryPlanError';
  constructor(message: string, readonly plan: MemoryPlan) {
    super(message);
  }
}

const GIB = 2 ** 30;
export const gb = (bytes: number) => `${(bytes / GIB).toFixed(1)} GB`;

/** Micro-batch sizes from `batchSize` down to 1 that split it evenly (4 → 4, 2, 1; 6 → 6, 3, 2, 1). */
export function microBatchSizes(batchSize: number): number[] {
  const sizes = new Set<number>();
  for (let pieces = 1; pieces <= batchSize; pieces++) sizes.add(Math.ceil(batchSize / pieces));
  return [...sizes].sort((a, b) => b - a);
}

/** Splits one micro-batch's examples into pieces of at most `size` (the plan's micro-batches). */
export function splitMicroBatch<T>(examples: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < examples.length; i += size) out.push(examples.slice(i, i + size));
  return out;
}

/** The candidate shapes in order of preference: fewer, larger passes first; checkpointing last. */
function candidates(batchSize: number, mode: CheckpointingMode): StepShape[] {
  const sizes = microBatchSizes(batchSize);
  const plain = mode === 'on' ? [] : sizes.map((microBatchSize) => ({ microBatchSize, gradientCheckpointing: false }));
  const checkpointed = mode === 'off' ? [] : sizes.map((microBatchSize) => ({ microBatchSize, gradientCheckpointing: true }));
  return [...plain, ...checkpointed];
}

export interface Alternative {
  /** What to change, as flags. */
  change: string;
  /** The same change as plan inputs (so that changes can be combined). */
  changed: Partial<PlanInput>;
  estimate: MemoryEstimate;
}

/**
 * Chooses the step shape for the configured micro-batch (`input.batchSize` sequences) within `budget`.
 * Without a budget (a device whose free memory cannot be read, and no --memory-limit) the user's
 * shape is kept.
 */
export function planMemory(input: PlanInput, mode: CheckpointingMode, budget: MemoryBudget | null, alternatives: () => Alternative[]): MemoryPlan {
  const options = candidates(input.batchSize, mode);
  const planOf = (shape: StepShape, estimate: MemoryEstimate): MemoryPlan => {
    const plan = { batchSize: input.batchSize, mode, shape, estimate, budget, reason: '' };
    return { ...plan, reason: planReason(input, plan) };
  };
  if (!budget) return planOf(options[0]!, estimateMemory(input, options[0]!));
  for (const shape of options) {
    const estimate = estimateMemory(input, shape);
    const teacherFits = !estimate.teacherDevice || estimate.teacherDevice.peakBytes <= budget.bytes;
    if (estimate.peakBytes <= budget.bytes && teacherFits) return planOf(shape, estimate);
  }
  const smallestShape = options[options.length - 1]!;
  const smallest = estimateMemory(input, smallestShape);
  throw new MemoryPlanError(
    `memory: the run needs about ${gb(smallest.peakBytes)} at its smallest (micro-batch 1${mode === 'off' ? ', no checkpointing' : ', activation checkpointing'}; ` +
      `peak in the ${smallest.phase}), more than the ${gb(budget.bytes)} limit (${budget.source}). No weights were loaded. ` +
      remedies(input, smallestShape, smallest, budget, alternatives()),
    { batchSize: input.batchSize, mode, shape: smallestShape, estimate: smallest, budget, reason: 'nothing fits' },
  );
}

/**
 * What would make the run fit, each with what it saves: the changes that fit alone; else, when no
 * single one does, all of them together if that fits; else that no setting closes the gap.
 */
function remedies(input: PlanInput, shape: StepShape, smallest: MemoryEstimate, budget: MemoryBudget, options: Alternative[]): string {
  const saving = (a: MemoryEstimate) => `saves ${gb(smallest.peakBytes - a.peakBytes)}, peak ${gb(a.peakBytes)}`;
  const fitting = options.filter((a) => a.estimate.peakBytes <= budget.bytes);
  if (fitting.length > 0) return `Any of these fits: ${fitting.map((a) => `${a.change} (${saving(a.estimate)})`).join('; ')}`;
  const helpful = options.filter((a) => a.estimate.peakBytes < smallest.peakBytes);
  const together = estimateMemory(Object.assign({ ...input }, ...helpful.map((a) => a.changed)), shape);
  const gap = `the gap is ${gb(smallest.peakBytes - budget.bytes)}`;
  if (helpful.length > 1 && together.peakBytes <= budget.bytes) {
    return `No single change fits (${gap}); together they do (${saving(together)}): ${helpful.map((a) => a.change).join(' and ')}`;
  }
  return `No change of settings closes the gap (${gap}${helpful.length > 0 ? `; even ${helpful.map((a) => a.change).join(' and ')} together leave a peak of ${gb(together.peakBytes)}` : ''}): use a machine or device with more memory (--device cuda)`;
}

/** One line: what the plan chose and why, in the figures of its own estimate (the table's peak). */
export function planReason(input: PlanInput, plan: Pick<MemoryPlan, 'mode' | 'shape' | 'estimate' | 'budget'>): string {
  const { mode, shape, estimate, budget } = plan;
  if (!budget) return 'memory plan: no budget known for this device (give --memory-limit GB to plan); running as configured';
  const asked = candidates(input.batchSize, mode)[0]!;
  const fit = `estimated peak ${gb(estimate.peakBytes)} of ${gb(budget.bytes)} (${budget.source})`;
  const batchSize = asked.microBatchSize;
  if (shape.microBatchSize === asked.microBatchSize && shape.gradientCheckpointing === asked.gradientCheckpointing) {
    return `memory plan: micro-batch ${batchSize}${shape.gradientCheckpointing ? ' with activation checkpointing' : ''} as configured; ${fit}`;
  }
  const askedEstimate = estimateMemory(input, asked);
  const pieces = Math.ceil(batchSize / shape.microBatchSize);
  const split = shape.microBatchSize < batchSize ? `each batch of ${batchSize} split into ${pieces} micro-batches of ${shape.microBatchSize}` : `micro-batch ${batchSize}`;
  const checkpointing = shape.gradientCheckpointing && !asked.gradientCheckpointing ? ' with activation checkpointing' : '';
  const accumulated = shape.microBatchSize < batchSize ? ' (same optimizer step, gradients accumulated)' : '';
  return `memory plan: ${split}${checkpointing}${accumulated}, since ${batchSize} at once would need about ${gb(askedEstimate.peakBytes)}; ${fit}`;
}
