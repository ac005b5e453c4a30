// A whole text's ids as transformers' tokenizer(text) gives them (what generate's raw prompts and
// evaluate's text use): Llama 3 and Gemma 3 put their BOS first, Qwen nothing, and a chat-rendered
// text that already starts with BOS does not get a second. Expected ids as published in
// EleutherAI/lm-evaluation-harness PRs #2781 (Llama 3: "hello" → [128000, 15339]) and #3206 (Gemma 3:
// "hello" → [2, 23391]); Qwen2's "hello" is id 14990 in llama.cpp's qwen2 vocabulary test vectors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeText } from '../src/data/segments.js';
import { TextTokenizer } from '../src/tokenizer/index.js';

const folder = (name: string) => `node_modules/@lenml/tokenizer-${name}/models`;

describe('encodeText', () => {
  for (const [name, expected] of [['llama3_1', [128000, 15339]], ['gemma3', [2, 23391]], ['qwen3', [14990]]] as const) {
    test(`${name}: "hello" → ${JSON.stringify(expected)}, and no second BOS after a chat template`, () => {
      const tokenizer = TextTokenizer.fromFolder(folder(name));
      assert.deepEqual(encodeText(tokenizer, 'hello'), expected);
      const bos = tokenizer.bosTokenId === null ? '' : tokenizer.idToToken(tokenizer.bosTokenId)!;
      const rendered = encodeText(tokenizer, `${bos}hello`);
      assert.deepEqual(rendered, name === 'qwen3' ? expected : [expected[0], ...tokenizer.encode('hello')]);
    });
  }
});
