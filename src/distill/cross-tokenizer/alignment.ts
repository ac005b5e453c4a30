// Which student tokens cover the same text as which teacher tokens. Both tokenizations are of one
// text, so they are aligned by byte offsets: a span closes wherever both sides have a token
// boundary at the same place (a two-pointer walk over cumulative end offsets, as TRL's GOLD
// `_align_by_byte_offsets`). The bytes may differ a little (a normalizer, a SentencePiece dummy-prefix
// space, U+FFFD for invalid UTF-8): boundaries then match by offset within the common prefix, by
// distance from the end within the common suffix, and never inside the differing middle.

import { concatBytes } from '../../tokenizer/token-bytes.js';

/** Token indices [start, end). */
export interface TokenRange {
  start: number;
  end: number;
}

/** The smallest pair of non-empty contiguous token runs, one per side, that cover the same bytes. */
export interface AlignedSpan {
  student: TokenRange;
  teacher: TokenRange;
}

/** Where a side's token boundary may match the other side's: its place in a shared, ordered coordinate. */
interface Boundary {
  /** The token this boundary ends (it ends at the token's last byte). */
  token: number;
  /** Position in the shared coordinate; `alsoAt` is a second one for a boundary that is both the prefix's end and the suffix's start. */
  at: number;
  alsoAt: number;
  /** False inside the differing middle: such a boundary never closes a span. */
  matchable: boolean;
}

function totalLength(parts: readonly Uint8Array[]): number {
  return parts.reduce((n, part) => n + part.length, 0);
}

/** Lengths of the common prefix and of the common suffix that does not overlap it. */
function commonEnds(a: Uint8Array, b: Uint8Array): { prefix: number; suffix: number } {
  const shorter = Math.min(a.length, b.length);
  let prefix = 0;
  while (prefix < shorter && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < shorter - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  return { prefix, suffix };
}

/**
 * The boundaries after each non-empty token, placed in a coordinate both sides share: offsets up to
 * the common prefix's end are themselves; offsets in the common suffix are `far` minus their
 * distance from the end (so equal distances meet); offsets in the middle sit between the two and
 * never match. A common suffix of zero bytes matches nothing: the ends then differ, and what
 * trails the last match stays unaligned.
 */
function boundaries(tokens: readonly Uint8Array[], prefix: number, suffix: number, far: number): Boundary[] {
  const length = totalLength(tokens);
  const out: Boundary[] = [];
  let offset = 0;
  tokens.forEach((token, index) => {
    if (token.length === 0) return;
    offset += token.length;
    const fromEnd = length - offset;
    const inPrefix = offset <= prefix;
    const inSuffix = suffix > 0 && fromEnd <= suffix;
    if (inPrefix && inSuffix) out.push({ token: index, at: offset, alsoAt: far - fromEnd, matchable: true });
    else if (inPrefix) out.push({ token: index, at: offset, alsoAt: offset, matchable: true });
    else if (inSuffix) out.push({ token: index, at: far - fromEnd, alsoAt: far - fromEnd, matchable: true });
    else out.push({ token: index, at: prefix + 0.5, alsoAt: prefix + 0.5, matchable: false });
  });
  return out;
}

function meet(a: Boundary, b: Boundary): boolean {
  return a.matchable && b.matchable && (a.at === b.at || a.at === b.alsoAt || a.alsoAt === b.at || a.alsoAt === b.alsoAt);
}

/** True when tokens [start, end) hold a zero-byte one (a BOS the text does not contain): such a span is dropped. */
function holdsEmpty(tokens: readonly Uint8Array[], start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (tokens[i]!.length === 0) return true;
  return false;
}

/**
 * The aligned spans of two tokenizations of one text, in order, given each token's bytes. Tokens
 * with no bytes are in no span (a span that would hold one is dropped); tokens after the last
 * boundary both sides share are in none either.
 */
export function alignTokens(studentBytes: readonly Uint8Array[], teacherBytes: readonly Uint8Array[]): AlignedSpan[] {
  const student = concatBytes(studentBytes);
  const teacher = concatBytes(teacherBytes);
  const { prefix, suffix } = commonEnds(student, teacher);
  const far = Math.max(student.length, teacher.length) + 1;
  const studentEnds = boundaries(studentBytes, prefix, suffix, far);
  const teacherEnds = boundaries(teacherBytes, prefix, suffix, far);

  const spans: AlignedSpan[] = [];
  // First token of the open span on each side: the first non-empty token after the last match.
  let studentStart = -1;
  let teacherStart = -1;
  let i = 0;
  let j = 0;
  while (i < studentEnds.length && j < teacherEnds.length) {
    const s = studentEnds[i]!;
    const t = teacherEnds[j]!;
    if (studentStart < 0) studentStart = s.token;
    if (teacherStart < 0) teacherStart = t.token;
    if (meet(s, t)) {
      const span = { student: { start: studentStart, end: s.token + 1 }, teacher: { start: teacherStart, end: t.token + 1 } };
      if (!holdsEmpty(studentBytes, span.student.start, span.student.end) && !holdsEmpty(teacherBytes, span.teacher.start, span.teacher.end)) spans.push(span);
      studentStart = -1;
      teacherStart = -1;
      i++;
      j++;
    } else {
      // Advance whichever boundary lies behind (by its furthest place); both when neither can match.
      const sAt = Math.max(s.at, s.alsoAt);
      const tAt = Math.max(t.at, t.alsoAt);
      if (sAt <= tAt) i++;
      if (tAt <= sAt) j++;
    }
  }
  return spans;
}
