// Teacher versus student on the same held-out tokens: each model's perplexity, how often the
// student's top-1 token is the teacher's, and KL(teacher ‖ student) at temperature 1, all as
// token-weighted means over the scored positions.
import { padBatch } from '../data/pad-batch.js';
import type { Qwen3ForCausalLM } from '../models/qwen3/model.js';
import { crossEntropy, noGrad, type Tensor, tensor, tidy } from '../tensor/index.js';
import { rowsAt, targetRows } from './targets.js';
import { batchInput } from '../models/qwen3/batch-input.js';

export interface ScoredBatch {
  inputIds: number[][];
  attentionMask: number[][];
  labels: number[][];
}

export interface ModelScore {
  nll: number;
  perplexity: number;
}

export interface Comparison {
  tokens: number;
  student: ModelScore;
  teacher: ModelScore | null;
  /** Fraction of scored positions where argmax student = argmax teacher. */
  top1Agreement: number | null;
  /** Mean KL(p_teacher ‖ p_student) per scored token, in nats. */
  klTeacherStudent: number | null;
}

export interface CompareOptions {
  /** Compare only the first `sharedVocab` logits of the two models. */
  sharedVocab?: number;
  /** Logits of the teacher for a batch (default: run `teacher` itself). */
  teacherLogits?: (batch: ScoredBatch) => Tensor;
}

function logitsOf(model: Qwen3ForCausalLM, batch: ScoredBatch): Tensor {
  const input = batchInput(batch.inputIds, batch.attentionMask, model.device);
  return model.forward(input.ids, input.options);
}

/** Token-summed scores of some batches; sums of disjoint batch sets add (data-parallel evaluation). */
export interface ComparisonSums {
  tokens: number;
  studentNll: number;
  teacherNll: number;
  agree: number;
  kl: number;
}

export function compareModels(student: Qwen3ForCausalLM, teacher: Qwen3ForCausalLM | null, batches: ScoredBatch[], options: CompareOptions = {}): Comparison {
  const withTeacher = teacher !== null || options.teacherLogits !== undefined;
  return comparisonFromSums(comparisonSums(student, teacher, batches, options), withTeacher);
}

export function comparisonSums(student: Qwen3ForCausalLM, teacher: Qwen3ForCausalLM | null, batches: ScoredBatch[], options: CompareOptions = {}): ComparisonSums {
  const sums: ComparisonSums = { tokens: 0, studentNll: 0, teacherNll: 0, agree: 0, kl: 0 };
  const withTeacher = teacher !== null || options.teacherLogits !== undefined;
  noGrad(() => {
    for (const batch of batches) {
      tidy(() => {
        const labels = tensor(batch.labels, { dtype: 'int64', device: student.device });
        const { rows, targets, index } = targetRows(logitsOf(student, batch), labels);
        const s = rows.float();
        if (targets.numel === 0) return;
        sums.tokens += targets.numel;
        sums.studentNll += crossEntropy(s, targets, { reduction: 'sum' }).item();
        if (!withTeacher) return;
        const teacherLogits = options.teacherLogits ? options.teacherLogits(batch) : logitsOf(teacher!, batch);
        const t = rowsAt(teacherLogits.to({ device: student.device }), index).float();
        sums.teacherNll += crossEntropy(t, targets, { reduction: 'sum' }).item();
        const shared = options.sharedVocab ?? Math.min(s.size(-1), t.size(-1));
        const logS = s.slice(-1, 0, shared).logSoftmax(-1);
        const logT = t.slice(-1, 0, shared).logSoftmax(-1);
        sums.agree += logS.argmax(-1).eq(logT.argmax(-1)).sum().item();
        sums.kl += logT.exp().mul(logT.sub(logS)).sum().item();
      });
    }
  });
  return sums;
}

/** Token-weighted means from sums. */
export function comparisonFromSums(sums: ComparisonSums, withTeacher: boolean): Comparison {
  const { tokens } = sums;
  if (tokens === 0) throw new RangeError('no scored tokens in the evaluation data');
  const score = (nll: number): ModelScore => ({ nll: nll / tokens, perplexity: Math.exp(nll / tokens) });
  return {
    tokens,
    student: score(sums.studentNll),
    teacher: withTeacher ? score(sums.teacherNll) : null,
    top1Agreement: withTeacher ? sums.agree / tokens : null,
    klTeacherStudent: withTeacher ? sums.kl / tokens : null,
  };
}

/** Right-padded batches of token sequences in which every next token is scored. */
export function scoreEveryToken(sequences: number[][], batchSize: number): ScoredBatch[] {
  const out: ScoredBatch[] = [];
  for (let i = 0; i < sequences.length; i += batchSize) {
    out.push(padBatch(sequences.slice(i, i + batchSize).map((s) => ({ inputIds: s, labels: s })), 0));
  }
  return out;
}

/** (ppl_before − ppl_after) / (ppl_before − ppl_teacher): 1 means the student reached the teacher. */
export function gapClosed(before: number, after: number, teacher: number): number | null {
  const gap = before - teacher;
  return Math.abs(gap) < 1e-12 ? null : (before - after) / gap;
}
