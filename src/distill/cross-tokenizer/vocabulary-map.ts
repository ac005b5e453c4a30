// The ids two vocabularies share: tokens that stand for identical bytes. Comparing bytes rather
// than token strings makes byte-level "Ġthe" and SentencePiece "▁the" the same token (" the"),
// and a byte-fallback "<0x0A>" the same as byte-level "Ċ" ("\n").
import { TokenBytes } from '../../tokenizer/token-bytes.js';
import type { TextTokenizer } from '../../tokenizer/tokenizer.js';

/** Pairs of ids, one per side, that stand for the same bytes: same length, sorted by student id. */
export interface VocabularyMap {
  studentIds: number[];
  teacherIds: number[];
}

/** Same token → id everywhere and the same decoder: the two tokenizers read and write text alike. */
function sameVocabulary(a: TextTokenizer, b: TextTokenizer): boolean {
  if (a === b) return true;
  if (a.vocabSize !== b.vocabSize || a.byteFallback !== b.byteFallback) return false;
  if (JSON.stringify(a.decoderConfig) !== JSON.stringify(b.decoderConfig)) return false;
  const left = a.vocabulary();
  const right = b.vocabulary();
  if (left.size !== right.size) return false;
  for (const [token, id] of left) if (right.get(token) !== id) return false;
  return true;
}

/**
 * Byte string (as latin1, one char per byte) → the one id that stands for it among ids < rows.
 * Where several do (Gemma's "\n" and "<0x0A>"), the one encoding would give wins: not a
 * byte-fallback token (spelled only where no token covers a byte), then not a special token, then the lowest id.
 */
function idsByBytes(tokenizer: TextTokenizer, rows: number): Map<string, number> {
  const table = TokenBytes.of(tokenizer);
  const special = tokenizer.specialTokenIds;
  const rank = (id: number) => (table.isByteFallback(id) ? 2 : special.has(id) ? 1 : 0);
  const byBytes = new Map<string, number>();
  const end = Math.min(rows, tokenizer.vocabSize);
  for (let id = 0; id < end; id++) {
    const bytes = table.bytesOf(id);
    if (bytes.length === 0) continue;
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
    const held = byBytes.get(key);
    // Ids rise, so on equal rank the held (lower) id stays.
    if (held === undefined || rank(id) < rank(held)) byBytes.set(key, id);
  }
  return byBytes;
}

/**
 * The student and teacher ids (below each model's rows) whose tokens stand for identical bytes, one
 * pair per byte string. The same vocabulary on both sides gives the identity over every id below
 * the smaller rows, padded rows included, so that the cross-tokenizer path compares exactly the
 * columns the ordinary loss compares.
 */
export function vocabularyMap(student: TextTokenizer, teacher: TextTokenizer, studentRows: number, teacherRows: number): VocabularyMap {
  if (sameVocabulary(student, teacher)) {
    const ids = Array.from({ length: Math.min(studentRows, teacherRows) }, (_, id) => id);
    return { studentIds: ids, teacherIds: [...ids] };
  }
  const teacherIdOf = idsByBytes(teacher, teacherRows);
  const pairs: [number, number][] = [];
  for (const [key, studentId] of idsByBytes(student, studentRows)) {
    const teacherId = teacherIdOf.get(key);
    if (teacherId !== undefined) pairs.push([studentId, teacherId]);
  }
  pairs.sort((x, y) => x[0] - y[0]);
  return { studentIds: pairs.map((p) => p[0]), teacherIds: pairs.map((p) => p[1]) };
}
