// What each micro-batch of a step trains on: the data's own examples, or — with on-policy or
// sequence-level KD — completions generated now. The micro-batches chosen on-policy are a function
// of (seed, step, micro-batch index) alone, so every rank knows the whole step's choice and a
// resumed run repeats it.
import { countTargets, type EncodedExample } from '../data/index.js';
import type { CausalLM } from '../models/decoder/model.js';
import { completeExamples, type GenerationSettings, isOnPolicy } from './completions.js';
import type { DataParallel } from './data-parallel.js';
import type { IndexedExample } from './prepare.js';

/** Whose answers a micro-batch holds: the data's, the teacher's (sequence-level KD) or the student's (on-policy). */
export type AnswerSource = 'data' | 'teacher' | 'student';

export interface StepMicroBatch {
  examples: EncodedExample[];
  /** Positions of the examples in the encoded data (teacher-cache rows; data answers only). */
  sourceIndices: number[];
  answers: AnswerSource;
}

export interface CompletionPlan {
  onPolicyFraction: number;
  seqKd: boolean;
  seed: number;
  settings: GenerationSettings;
  student: CausalLM;
  teacher: CausalLM | null;
}

export interface GenerationStats {
  tokens: number;
  seconds: number;
}

/** Whose answers micro-batch `micro` of step `step` (1-based) trains on. */
export function answerSource(plan: CompletionPlan | null, step: number, micro: number): AnswerSource {
  if (!plan) return 'data';
  if (isOnPolicy(plan.onPolicyFraction, plan.seed, step, micro)) return 'student';
  return plan.seqKd ? 'teacher' : 'data';
}

/**
 * This rank's micro-batches (`index`: position in the global step), completed where `answers` (the
 * whole step's answerSource) says so.
 */
export function stepMicroBatches(
  share: readonly { examples: EncodedExample[]; index: number }[],
  answers: readonly AnswerSource[],
  step: number,
  plan: CompletionPlan | null,
): { batches: StepMicroBatch[]; generation: GenerationStats } {
  const generation: GenerationStats = { tokens: 0, seconds: 0 };
  const batches = share.map(({ examples, index }): StepMicroBatch => {
    const source = answers[index]!;
    if (source === 'data' || !plan) return { examples, sourceIndices: examples.map((e) => (e as IndexedExample).sourceIndex), answers: 'data' };
    const model = source === 'student' ? plan.student : plan.teacher!;
    const completed = completeExamples(model, examples, plan.settings, { seed: plan.seed, step, micro: index });
    generation.tokens += completed.generatedTokens;
    generation.seconds += completed.seconds;
    return { examples: completed.examples, sourceIndices: [], answers: source };
  });
  return { batches, generation };
}

/** What a step's loss and metrics count, over the whole global step. */
export interface StepCounts {
  /** Target tokens: the loss is a mean over them. */
  targets: number;
  /** Targets with a reference answer (not on-policy): the CE term's. */
  ceTargets: number;
  inputTokens: number;
  generatedTokens: number;
  /** Seconds spent generating, summed over ranks. */
  generationSeconds: number;
}

const inputsOf = (examples: readonly EncodedExample[]) => examples.reduce((n, e) => n + e.inputIds.length, 0);

/**
 * The step's counts. Without completions every rank counts them from the whole step's examples
 * (each rank drew them all); completions exist only on the rank that made them: summed over ranks.
 */
export function stepCounts(
  stepExamples: readonly EncodedExample[],
  answers: readonly AnswerSource[],
  batches: readonly StepMicroBatch[],
  generation: GenerationStats,
  parallel: DataParallel,
): StepCounts {
  if (answers.every((a) => a === 'data')) {
    const targets = countTargets(stepExamples);
    return { targets, ceTargets: targets, inputTokens: inputsOf(stepExamples), generatedTokens: 0, generationSeconds: 0 };
  }
  return parallel.sumFields({
    targets: batches.reduce((n, b) => n + countTargets(b.examples), 0),
    ceTargets: batches.reduce((n, b) => n + (b.answers === 'student' ? 0 : countTargets(b.examples)), 0),
    inputTokens: batches.reduce((n, b) => n + inputsOf(b.examples), 0),
    generatedTokens: generation.tokens,
    generationSeconds: generation.seconds,
  });
}
