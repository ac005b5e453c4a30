// The end-of-run comparison: teacher perplexity, student perplexity before and after, the share
// of the gap closed, top-1 agreement and held-out KL(teacher ‖ student).
import { type Comparison, gapClosed } from '../eval/compare.js';
import { camelCaseKeys, snakeCaseKeys } from '../report/key-case.js';
import { fixed, percent } from '../report/markdown-table.js';
import type { PeakRecord } from './memory/peaks.js';
import type { AlignmentShares } from './cross-tokenizer/alignment-totals.js';
import type { TruncationFigures } from './teacher-service/truncation.js';

/** The end-of-run comparison as distill() returns it; summary.json holds the same fields snake_cased (`gap_closed`). */
export interface RunSummary {
  heldOutTokens: number;
  teacherPerplexity: number | null;
  studentPerplexityBefore: number | null;
  studentPerplexityAfter: number;
  gapClosed: number | null;
  top1AgreementBefore: number | null;
  top1Agreement: number | null;
  klTeacherStudentBefore: number | null;
  klTeacherStudent: number | null;
  steps: number;
  trainSeconds: number;
  /** Memory (MiB): the plan's estimate and the measured peaks (`peak_rss_mb`, `cuda_max_allocated_mb` in metrics.jsonl), and the shape that ran. */
  estimatedPeakMb?: number | null;
  peakRssMb?: number | null;
  cudaMaxAllocatedMb?: number;
  microBatchSize?: number;
  gradientCheckpointing?: boolean;
  /** With a teacher of another tokenizer: the method and the shares of the run's targets by alignment (see TrainRecord). */
  crossTokenizer?: 'gold' | 'uld';
  alignedExact?: number;
  alignedInSpans?: number;
  unaligned?: number;
  /** With a served teacher: the mean probability outside its top-k, and the KL bound of truncation.ts. */
  teacherTailMass?: number;
  teacherTruncationKlBound?: number;
  /** Several teachers: the student's held-out KL to each local teacher at the end, by name (nats/token). */
  klByTeacher?: Record<string, number>;
  /** Several teachers: each served one's truncation figures, by name. */
  teacherTruncation?: Record<string, TruncationFigures>;
}

export interface RunMemory extends PeakRecord, Partial<AlignmentShares>, Partial<TruncationFigures> {
  kl_by_teacher?: Record<string, number>;
  teacher_truncation?: Record<string, TruncationFigures>;
  estimated_peak_mb: number | null;
  micro_batch_size: number;
  gradient_checkpointing: boolean;
  cross_tokenizer?: 'gold' | 'uld';
}

export function summarize(before: Comparison | null, after: Comparison, steps: number, trainSeconds: number, memory?: RunMemory): RunSummary {
  const teacher = after.teacher?.perplexity ?? null;
  const pplBefore = before?.student.perplexity ?? null;
  return {
    heldOutTokens: after.tokens,
    teacherPerplexity: teacher,
    studentPerplexityBefore: pplBefore,
    studentPerplexityAfter: after.student.perplexity,
    gapClosed: teacher !== null && pplBefore !== null ? gapClosed(pplBefore, after.student.perplexity, teacher) : null,
    top1AgreementBefore: before?.top1Agreement ?? null,
    top1Agreement: after.top1Agreement,
    klTeacherStudentBefore: before?.klTeacherStudent ?? null,
    klTeacherStudent: after.klTeacherStudent,
    steps,
    trainSeconds,
    ...(memory ? (camelCaseKeys(memory) as Partial<RunSummary>) : {}),
  };
}

/** summary.json's content: the summary with its keys snake_cased, as metrics.jsonl's are. */
export function summaryFile(s: RunSummary): Record<string, unknown> {
  return snakeCaseKeys(s);
}

export function formatSummary(s: RunSummary): string {
  const byTeacher = Object.entries(s.klByTeacher ?? {}).map(([name, kl]) => `  KL(${name} || student)${' '.repeat(Math.max(1, 19 - name.length))}${fixed(kl, 4)} nats/token`);
  return [
    `held-out comparison (${s.heldOutTokens} scored tokens)`,
    `  teacher perplexity            ${fixed(s.teacherPerplexity, 3)}`,
    `  student perplexity before     ${fixed(s.studentPerplexityBefore, 3)}`,
    `  student perplexity after      ${fixed(s.studentPerplexityAfter, 3)}`,
    `  gap closed                    ${percent(s.gapClosed)}`,
    `  top-1 agreement               ${percent(s.top1AgreementBefore)} -> ${percent(s.top1Agreement)}`,
    `  KL(teacher || student)        ${fixed(s.klTeacherStudentBefore, 4)} -> ${fixed(s.klTeacherStudent, 4)} nats/token`,
    ...byTeacher,
  ].join('\n');
}

/** Several teachers: the student's KL to each local one (the comparison's teacher first), by name. */
export function klByTeacher(c: Comparison, names: readonly string[]): Record<string, number> | null {
  if (names.length < 2 || c.klTeacherStudent === null) return null;
  return Object.fromEntries(names.map((name, i) => [name, i === 0 ? c.klTeacherStudent! : c.klOtherTeachers![i - 1]!]));
}

/** The eval record that metrics.jsonl stores for a comparison. */
export function evalRecord(step: number, c: Comparison): Record<string, number | null> {
  return {
    student_nll: c.student.nll,
    student_perplexity: c.student.perplexity,
    teacher_nll: c.teacher?.nll ?? null,
    teacher_perplexity: c.teacher?.perplexity ?? null,
    top1_agreement: c.top1Agreement,
    kl_teacher_student: c.klTeacherStudent,
    eval_tokens: c.tokens,
    step,
  };
}

/** An evaluation as the run reports it: the student's held-out perplexity and, with a teacher, how close it is. */
export function evalLine(step: number, c: Comparison): string {
  const vsTeacher = c.teacher ? `, teacher ppl ${c.teacher.perplexity.toFixed(3)}, top-1 agreement ${(100 * c.top1Agreement!).toFixed(1)} %, KL ${c.klTeacherStudent!.toFixed(4)}` : '';
  return `eval @ step ${step}: student ppl ${c.student.perplexity.toFixed(3)}${vsTeacher}`;
}

/** The comparison an eval record of metrics.jsonl holds (the inverse of evalRecord). */
export function comparisonFromRecord(r: Record<string, unknown>): Comparison {
  return {
    tokens: r.eval_tokens as number,
    student: { nll: r.student_nll as number, perplexity: r.student_perplexity as number },
    teacher: r.teacher_nll === null || r.teacher_nll === undefined ? null : { nll: r.teacher_nll as number, perplexity: r.teacher_perplexity as number },
    top1Agreement: (r.top1_agreement as number | null | undefined) ?? null,
    klTeacherStudent: (r.kl_teacher_student as number | null | undefined) ?? null,
  };
}
