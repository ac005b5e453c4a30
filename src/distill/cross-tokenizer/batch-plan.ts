// A micro-batch seen through the teacher's tokenizer: each example's text (the student's tokens,
// byte for byte) encoded as transformers' teacher tokenizer(text) would, the two tokenizations
// aligned into spans, and the student's target rows grouped into chunks that never split a span,
// with, per chunk, the rows of either model each span reads. Built on the host from token ids
// alone, so on-policy completions (the student's own ids) are re-encoded the same way.
import { missingLeadingIds, predictedPositions } from '../../data/segments.js';
import { concatBytes, TokenBytes } from '../../tokenizer/token-bytes.js';
import type { TextTokenizer } from '../../tokenizer/index.js';
import { type AlignedSpan, alignTokens } from './alignment.js';
import type { CrossTokenizerMethod } from './loss.js';

/** How the student's target positions were matched with the teacher's tokens. */
export interface AlignmentCounts {
  /** Targets in a span of one token on each side (the same string in both vocabularies). */
  exact: number;
  /** Targets inside a span of several tokens on either side. */
  spans: number;
  /** Targets no span covers (no teacher prediction for them): cross-entropy only. */
  unaligned: number;
}

/** Per side of a chunk's multi-token spans (see SpanSide in loss.ts), as host numbers. */
export interface SpanSidePlan {
  lastRows: number[];
  prefixRows: number[];
  prefixTokens: number[];
  prefixSpans: number[];
}

export interface CrossChunkPlan {
  /** The chunk's student target rows: [studentStart, studentStart + studentCount). */
  studentStart: number;
  studentCount: number;
  /** Its rows of the teacher's gathered predictions: [teacherStart, teacherStart + teacherCount). */
  teacherStart: number;
  teacherCount: number;
  /** One-token spans compared over the shared vocabulary (gold): local student and teacher rows. */
  exact: { studentRows: number[]; teacherRows: number[] };
  spanCount: number;
  student: SpanSidePlan;
  teacher: SpanSidePlan;
}

export interface CrossBatchPlan {
  /** The teacher's input: its ids per example, right-padded, and the attention mask. */
  teacherIds: number[][];
  teacherMask: number[][];
  /** Flat teacher predictor positions (b · (T_T − 1) + t) whose predictions the chunks read, in chunk order. */
  teacherIndex: number[];
  chunks: CrossChunkPlan[];
  counts: AlignmentCounts;
}

export interface CrossTokenizerPair {
  method: CrossTokenizerMethod;
  student: TextTokenizer;
  teacher: TextTokenizer;
  /** The id that pads the teacher's batches (never attended to). */
  teacherPadId: number;
}

/**
 * The teacher's ids for an example's student ids, and the bytes each token on either side covers.
 * The student's ordinary tokens are text: each run of them is decoded to its bytes and encoded by
 * the teacher as transformers' tokenizer would encode that text. The student's special tokens are
 * not text to another tokenizer (a Llama teacher reading "<|im_end|>" as six characters learns
 * nothing, and its BPE would merge them with the text before): each becomes the teacher's token of
 * the same name where the teacher has one, else its end-of-sequence token where it is the
 * student's, else nothing (its target is then unaligned). A special pair is given the student
 * token's bytes on both sides, so the alignment pairs them one to one. The student's BOS is what its
 * tokenizer adds before text; the teacher adds its own as tokenizer(text) does.
 */
export function teacherIdsFor(studentIds: readonly number[], pair: CrossTokenizerPair): { teacherIds: number[]; studentBytes: Uint8Array[]; teacherBytes: Uint8Array[] } {
  const studentTable = TokenBytes.of(pair.student);
  const teacherTable = TokenBytes.of(pair.teacher);
  const studentBytes: Uint8Array[] = [];
  const teacherIds: number[] = [];
  const teacherBytes: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  const flushText = () => {
    if (run.length === 0) return;
    for (const id of pair.teacher.encode(UTF8.decode(concatBytes(run)))) {
      teacherIds.push(id);
      teacherBytes.push(teacherTable.bytesOf(id));
    }
    run = [];
  };
  for (const id of studentIds) {
    const bytes = studentTable.bytesOf(id);
    if (id === pair.student.bosTokenId) {
      studentBytes.push(EMPTY);
    } else if (pair.student.specialTokenIds.has(id)) {
      flushText();
      const counterpart = teacherCounterpart(id, pair);
      studentBytes.push(counterpart === null ? EMPTY : bytes);
      if (counterpart !== null) {
        teacherIds.push(counterpart);
        teacherBytes.push(bytes);
      }
    } else {
      studentBytes.push(bytes);
      run.push(bytes);
    }
  }
  flushText();
  const leading = missingLeadingIds(pair.teacher, teacherIds);
  return { teacherIds: [...leading, ...teacherIds], studentBytes, teacherBytes: [...leading.map(() => EMPTY), ...teacherBytes] };
}

const EMPTY = new Uint8Array(0);
/** Invalid UTF-8 (a character cut by truncation) becomes U+FFFD, which the alignment's prefix/suffix rule absorbs. */
const UTF8 = new TextDecoder('utf-8');

/** The teacher's token for a student special token: the same name, else end for end, else none. */
export function teacherCounterpart(studentId: number, pair: CrossTokenizerPair): number | null {
  const name = pair.student.idToToken(studentId);
  const same = name === null ? null : pair.teacher.tokenToId(name);
  if (same !== null && pair.teacher.specialTokenIds.has(same)) return same;
  if (studentId === pair.student.eosTokenId) return pair.teacher.eosTokenId;
  return null;
}

/** One unit of the chunking: a span scored as a whole, or a target row alone (exact or unaligned). */
interface RowUnit {
  rows: number;
  /** Student target row of the unit's first token (global). */
  firstRow: number;
  example: number;
  span: AlignedSpan | null;
  kind: 'exact' | 'span' | 'unaligned';
}

/**
 * The plan for a micro-batch of unpadded examples (ids and unshifted labels, as padBatch takes
 * them). Target rows follow targetIndexOf's order (example by example, position by position);
 * a chunk holds about `chunkRows` of them, more where a span would otherwise be split.
 */
export function planCrossBatch(examples: readonly { inputIds: readonly number[]; labels: readonly number[] }[], pair: CrossTokenizerPair, chunkRows: number): CrossBatchPlan {
  const counts: AlignmentCounts = { exact: 0, spans: 0, unaligned: 0 };
  const teacherSequences: number[][] = [];
  const units: RowUnit[] = [];
  let nextRow = 0;
  examples.forEach((example, b) => {
    const { teacherIds, studentBytes, teacherBytes } = teacherIdsFor(example.inputIds, pair);
    teacherSequences.push(teacherIds);
    // Target row of each predicted student token (position p ≥ 1 whose label is kept).
    const rowOf = new Map<number, number>();
    for (const p of predictedPositions(example.labels)) rowOf.set(p, nextRow++);
    const covered = new Set<number>();
    for (const span of alignTokens(studentBytes, teacherBytes)) {
      const { student, teacher } = span;
      const positions = range(student.start, student.end);
      // Scored only when every student token of the span is a target and both sides' first
      // token has a prediction before it (position ≥ 1).
      if (student.start < 1 || teacher.start < 1 || !positions.every((p) => rowOf.has(p))) continue;
      const oneToOne = student.end - student.start === 1 && teacher.end - teacher.start === 1;
      const kind = oneToOne && pair.method === 'gold' ? 'exact' : 'span';
      units.push({ rows: positions.length, firstRow: rowOf.get(student.start)!, example: b, span, kind });
      for (const p of positions) covered.add(p);
      if (oneToOne) counts.exact += 1;
      else counts.spans += positions.length;
    }
    for (const [p, row] of rowOf) {
      if (covered.has(p)) continue;
      units.push({ rows: 1, firstRow: row, example: b, span: null, kind: 'unaligned' });
      counts.unaligned += 1;
    }
  });
  units.sort((a, b) => a.firstRow - b.firstRow);

  const width = Math.max(...teacherSequences.map((ids) => ids.length));
  const teacherIds = teacherSequences.map((ids) => [...ids, ...new Array<number>(width - ids.length).fill(pair.teacherPadId)]);
  const teacherMask = teacherSequences.map((ids) => [...new Array<number>(ids.length).fill(1), ...new Array<number>(width - ids.length).fill(0)]);
  const teacherIndex: number[] = [];
  const teacherRow = (b: number, position: number) => {
    teacherIndex.push(b * (width - 1) + position);
    return teacherIndex.length - 1;
  };

  const chunks: CrossChunkPlan[] = [];
  let chunk: CrossChunkPlan | null = null;
  for (const unit of units) {
    if (!chunk || (chunk.studentCount > 0 && chunk.studentCount + unit.rows > chunkRows)) {
      chunk = emptyChunk(unit.firstRow, teacherIndex.length);
      chunks.push(chunk);
    }
    const local = unit.firstRow - chunk.studentStart;
    chunk.studentCount += unit.rows;
    if (unit.kind === 'exact') {
      chunk.exact.studentRows.push(local);
      chunk.exact.teacherRows.push(teacherRow(unit.example, unit.span!.teacher.start - 1) - chunk.teacherStart);
    } else if (unit.kind === 'span') {
      const { student, teacher } = unit.span!;
      const slot = chunk.spanCount++;
      addSpanSide(chunk.student, slot, range(student.start, student.end), (_, i) => local + i, examples[unit.example]!.inputIds);
      addSpanSide(chunk.teacher, slot, range(teacher.start, teacher.end), (p) => teacherRow(unit.example, p - 1) - chunk!.teacherStart, teacherSequences[unit.example]!);
    }
    chunk.teacherCount = teacherIndex.length - chunk.teacherStart;
  }
  return { teacherIds, teacherMask, teacherIndex, chunks, counts };
}

function emptyChunk(studentStart: number, teacherStart: number): CrossChunkPlan {
  const side = (): SpanSidePlan => ({ lastRows: [], prefixRows: [], prefixTokens: [], prefixSpans: [] });
  return { studentStart, studentCount: 0, teacherStart, teacherCount: 0, exact: { studentRows: [], teacherRows: [] }, spanCount: 0, student: side(), teacher: side() };
}

/** Adds one span's predicted tokens (positions) on one side: every row but the last is a prefix factor. */
function addSpanSide(side: SpanSidePlan, slot: number, positions: number[], rowOf: (position: number, i: number) => number, ids: readonly number[]): void {
  positions.forEach((p, i) => {
    const row = rowOf(p, i);
    if (i === positions.length - 1) {
      side.lastRows.push(row);
    } else {
      side.prefixRows.push(row);
      side.prefixTokens.push(ids[p]!);
      side.prefixSpans.push(slot);
    }
  });
}

const range = (start: number, end: number) => Array.from({ length: end - start }, (_, i) => start + i);
