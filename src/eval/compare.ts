// Teacher versus student on the same held-out tokens: each model's perplexity, how often the
// student's top-1 token is the teacher's, and KL(teacher ‖ student) at temperature 1, all as
// token-weighted means over the scored positions.
import { padBatch } from '../data/pad-batch.js';
import type { CausalLM } from '../models/decoder/model.js';
import { crossEntropy, noGrad, type Tensor, tidy } from '../tensor/index.js';
import { rowsAt, rowsPerLogitsChunk, targetIndexOf } from './targets.js';
import { batchInput } from '../models/decoder/batch-input.js';

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
  /** The same KL to each of the other teachers (CompareOptions.otherTeachers), in their order. */
  klOtherTeachers?: number[];
}

export interface CompareOptions {
  /** Compare only the first `sharedVocab` logits of the two models. */
  sharedVocab?: number;
  /** More teachers (a run with several): the student's KL to each is measured too. */
  otherTeachers?: readonly CausalLM[];
}

/** Final hidden states at the scored positions [K, H] and the K targets, on the student's device. */
function scoredRows(model: CausalLM, batch: ScoredBatch, index: Tensor): Tensor {
  const input = batchInput(batch.inputIds, batch.attentionMask, model.device);
  return rowsAt(model.hiddenStates(input.ids, input.options), index.to({ device: model.device }));
}

/** Token-summed scores of some batches; sums of disjoint batch sets add (data-parallel evaluation). */
export interface ComparisonSums {
  tokens: number;
  studentNll: number;
  teacherNll: number;
  agree: number;
  kl: number;
  /** Σ KL to each of the other teachers. */
  klOthers: number[];
}

export function compareModels(student: CausalLM, teacher: CausalLM | null, batches: ScoredBatch[], options: CompareOptions = {}): Comparison {
  return comparisonFromSums(comparisonSums(student, teacher, batches, options), teacher !== null);
}

/**
 * The LM heads run on the scored rows only, a chunk of rows at a time (rowsPerLogitsChunk), so
 * evaluation needs no [B, T, V] logits: with Qwen3's vocabulary those would be gigabytes.
 */
export function comparisonSums(student: CausalLM, teacher: CausalLM | null, batches: ScoredBatch[], options: CompareOptions = {}): ComparisonSums {
  const others = options.otherTeachers ?? [];
  const sums: ComparisonSums = { tokens: 0, studentNll: 0, teacherNll: 0, agree: 0, kl: 0, klOthers: others.map(() => 0) };
  const rowsPerChunk = rowsPerLogitsChunk(Math.max(student.config.vocabSize, teacher?.config.vocabSize ?? 0));
  noGrad(() => {
    for (const batch of batches) {
      tidy(() => {
        const { index, targets } = targetIndexOf(batch.labels, student.device);
        if (targets.numel === 0) return;
        sums.tokens += targets.numel;
        const studentRows = scoredRows(student, batch, index);
        const teacherRows = teacher ? scoredRows(teacher, batch, index) : null;
        const otherRows = others.map((t) => scoredRows(t, batch, index));
        for (let start = 0; start < targets.numel; start += rowsPerChunk) {
          const count = Math.min(rowsPerChunk, targets.numel - start);
          tidy(() => {
            const y = targets.narrow(0, start, count);
            const s = student.logitsFrom(studentRows.narrow(0, start, count)).float();
            sums.studentNll += crossEntropy(s, y, { reduction: 'sum' }).item();
            others.forEach((other, i) => {
              const t = other.logitsFrom(otherRows[i]!.narrow(0, start, count)).to({ device: student.device }).float();
              const shared = options.sharedVocab ?? Math.min(s.size(-1), t.size(-1));
              sums.klOthers[i]! += klSum(t.slice(-1, 0, shared).logSoftmax(-1), s.slice(-1, 0, shared).logSoftmax(-1));
            });
            if (!teacher || !teacherRows) return;
            const t = teacher.logitsFrom(teacherRows.narrow(0, start, count)).to({ device: student.device }).float();
            sums.teacherNll += crossEntropy(t, y, { reduction: 'sum' }).item();
            const shared = options.sharedVocab ?? Math.min(s.size(-1), t.size(-1));
            const logS = s.slice(-1, 0, shared).logSoftmax(-1);
            const logT = t.slice(-1, 0, shared).logSoftmax(-1);
            sums.agree += logS.argmax(-1).eq(logT.argmax(-1)).sum().item();
            sums.kl += klSum(logT, logS);
          });
        }
      });
    }
  });
  return sums;
}

/**
 * Sums of disjoint batch sets added (`add`: adds records of numbers — over processes, or here):
 * the other teachers' KL sums travel as numbered fields.
 */
export function addComparisonSums(a: ComparisonSums, add: (record: Record<string, number>) => Record<string, number>): ComparisonSums {
  const { klOthers, ...scalars } = a;
  const added = add({ ...scalars, ...Object.fromEntries(klOthers.map((kl, i) => [`klOther${i}`, kl])) });
  return {
    tokens: added.tokens!, studentNll: added.studentNll!, teacherNll: added.teacherNll!, agree: added.agree!, kl: added.kl!,
    klOthers: klOthers.map((_, i) => added[`klOther${i}`]!),
  };
}

/** Σ over rows of KL(p ‖ q) from log-probabilities. */
function klSum(logP: Tensor, logQ: Tensor): number {
  return logP.exp().mul(logP.sub(logQ)).sum().item();
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
    ...(sums.klOthers.length > 0 ? { klOtherTeachers: sums.klOthers.map((kl) => kl / tokens) } : {}),
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
  // Only a teacher better than the student leaves a gap to close (random models often are not).
  const gap = before - teacher;
  return gap <= 1e-12 * Math.max(1, before) ? null : (before - after) / gap;
}
