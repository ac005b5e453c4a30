// Micro-batches whose answers are generated during training instead of read from the data:
// on-policy distillation (GKD: the student's own completions, scored by the teacher) and online
// sequence-level KD (the teacher's completions, Kim & Rush 2016). A completion continues an
// example's prompt — everything before its first target token — and becomes the example's targets.
// Every random choice is a function of (seed, step, micro-batch), never of a running state, so a
// resumed run and every rank of a data-parallel one make the same choices.
import { derivedSeed, type EncodedExample, IGNORE_INDEX, mulberry32 } from '../data/index.js';
import { generateBatch, type GenerateResult } from '../models/decoder/generate.js';
import type { CausalLM } from '../models/decoder/model.js';
import { splitMicroBatch } from './memory/plan.js';
import { Generator } from '../tensor/index.js';

export interface GenerationSettings {
  maxNewTokens: number;
  /** 0: greedy. */
  temperature: number;
  topP: number;
  /** Prompt plus completion never exceed the run's max length (the sequence length the memory plan assumed). */
  maxLength: number;
  /**
   * Prompts generated together at most: the memory plan's micro-batch (the rows its forward passes
   * were sized for); a larger micro-batch is completed in pieces of this many rows. 0: all at once.
   */
  rowsPerPass?: number;
  eosTokenIds: number[];
  padId: number;
  /** Only ids below this are generated: the vocabulary teacher and student share. */
  vocabLimit?: number;
}

export interface Completions {
  examples: EncodedExample[];
  /** New tokens generated (each one a target). */
  generatedTokens: number;
  seconds: number;
}

// Streams of the run's seed: which micro-batches go on-policy, and the sampling of completions.
const STREAM_ON_POLICY = 0x4f4e504f;
const STREAM_SAMPLING = 0x53414d50;

/** Leading positions before the first target (position 0 is never one): the prompt a completion continues. */
export function promptLength(labels: readonly number[]): number {
  for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_INDEX) return t;
  return labels.length;
}

/** Whether micro-batch `micro` (its index within the global step) of step `step` (1-based) is on-policy. */
export function isOnPolicy(fraction: number, seed: number, step: number, micro: number): boolean {
  if (fraction <= 0) return false;
  if (fraction >= 1) return true;
  return mulberry32(derivedSeed(seed, STREAM_ON_POLICY, step, micro))() < fraction;
}

/**
 * `model`'s completions of the examples' prompts, batched with the KV cache: each example becomes
 * its prompt followed by the completion, every completion token a target. Sampling is seeded by
 * (seed, step, micro), so the same micro-batch always gets the same completions.
 */
export function completeExamples(
  model: CausalLM,
  examples: readonly EncodedExample[],
  settings: GenerationSettings,
  at: { seed: number; step: number; micro: number },
): Completions {
  const started = Date.now();
  const prompts = examples.map((e) => e.inputIds.slice(0, promptLength(e.labels)));
  const budgets = prompts.map((p) => Math.max(0, Math.min(settings.maxNewTokens, settings.maxLength - p.length)));
  const wasTraining = model.training;
  model.eval(); // no dropout while generating
  try {
    // One generator for the micro-batch, drawn from piece after piece in order.
    const generator = settings.temperature === 0 ? undefined : new Generator(derivedSeed(at.seed, STREAM_SAMPLING, at.step, at.micro));
    const rows = settings.rowsPerPass && settings.rowsPerPass > 0 ? settings.rowsPerPass : Math.max(1, prompts.length);
    const results: GenerateResult[] = [];
    for (const piece of splitMicroBatch(prompts.map((_, i) => i), rows)) {
      results.push(
        ...generateBatch(model, piece.map((i) => prompts[i]!), {
          maxNewTokens: piece.map((i) => budgets[i]!),
          greedy: settings.temperature === 0,
          temperature: settings.temperature,
          topP: settings.topP,
          eosTokenIds: settings.eosTokenIds,
          padId: settings.padId,
          vocabLimit: settings.vocabLimit,
          generator,
        }),
      );
    }
    const completed = prompts.map((prompt, i) => {
      const ids = results[i]!.ids;
      return { inputIds: [...prompt, ...ids], labels: [...new Array<number>(prompt.length).fill(IGNORE_INDEX), ...ids] };
    });
    return { examples: completed, generatedTokens: results.reduce((n, r) => n + r.ids.length, 0), seconds: (Date.now() - started) / 1000 };
  } finally {
    if (wasTraining) model.train();
  }
}
