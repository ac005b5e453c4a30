// `distillery generate-data` / generateData(): the teacher's answers in the data's own format,
// resumable to the byte after an interruption, and refusals that name what is wrong.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generateData } from '../src/api/generate-data.js';
import { resolveConfig } from '../src/distill/config.js';
import { runDistillation } from '../src/distill/trainer.js';
import { writeRandomModel } from '../src/demo/training.js';
import { generate } from '../src/models/decoder/generate.js';
import { loadCausalLM } from '../src/models/decoder/weights.js';
import { TextTokenizer, trainByteLevelBpe, writeTokenizerFolder } from '../src/tokenizer/index.js';
import { makeModel } from './tiny-run.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-generate-data-'));
const readJsonl = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const writeJsonl = (path: string, records: unknown[]) => writeFileSync(path, records.map((r) => `${JSON.stringify(r)}\n`).join(''));

// A small teacher with a real tokenizer (characters as tokens), and instruction records.
const problems = Array.from({ length: 10 }, (_, i) => ({ instruction: `What is ${i} + ${(i * 7) % 10}?`, response: String(i + ((i * 7) % 10)), id: i }));
const tokenizerDir = join(dir, 'tokenizer');
writeTokenizerFolder(tokenizerDir, trainByteLevelBpe(problems.map((p) => `Instruction: ${p.instruction}\nResponse: ${p.response}`), { vocabSize: 257 }), { modelMaxLength: 64 });
const tokenizer = TextTokenizer.fromFolder(tokenizerDir);
const teacher = join(dir, 'teacher');
writeRandomModel(teacher, { layers: 1, hidden: 32, heads: 2, kvHeads: 1, headDim: 16, intermediate: 64 }, tokenizer, 64, 5, tokenizerDir);
const instructions = join(dir, 'instructions.jsonl');
writeJsonl(instructions, problems);

describe('generate-data', () => {
  test('instruction records keep their prompts and other fields; the response is the teacher\'s greedy answer', async () => {
    const out = join(dir, 'greedy.jsonl');
    const result = await generateData({ teacher, data: instructions, out, generationTemperature: 0, maxNewTokens: 4, batchSize: 3 });
    assert.equal(result.out, out);
    assert.deepEqual([result.records, result.regenerated, result.unchanged], [10, 10, 0]);
    const written = readJsonl(out);
    assert.deepEqual(written.map((r) => [r.instruction, r.id]), problems.map((p) => [p.instruction, p.id]));
    const model = loadCausalLM(teacher);
    const eos = tokenizer.eosTokenId!;
    for (const [i, record] of written.entries()) {
      const ids = generate(model, tokenizer.encode(`Instruction: ${problems[i]!.instruction}\nResponse: `), { maxNewTokens: 4, greedy: true, eosTokenIds: [eos] }).ids;
      assert.equal(record.response, tokenizer.decode(ids.filter((id) => id !== eos), { skipSpecialTokens: true }), `record ${i}`);
    }
    model.dispose();
    assert.ok(!existsSync(`${out}.partial`) && !existsSync(`${out}.partial.json`), 'no partial files left');
    // An existing output is never overwritten.
    await assert.rejects(generateData({ teacher, data: instructions, out }), /out .*greedy\.jsonl already exists/);
  });

  test('stopped after a batch and rerun, the output is byte for byte the uninterrupted one (sampled answers)', async () => {
    const settings = { teacher, data: instructions, maxNewTokens: 5, generationTemperature: 1.3, batchSize: 4, seed: 3 };
    const whole = join(dir, 'whole.jsonl');
    await generateData({ ...settings, out: whole });
    const split = join(dir, 'split.jsonl');
    const stop = new AbortController();
    const first = await generateData({ ...settings, out: split, signal: stop.signal, onBatch: () => stop.abort() });
    assert.equal(first.out, null);
    assert.equal(readFileSync(`${split}.partial`, 'utf8').trim().split('\n').length, 4);
    // A half-written line from a crash is dropped with the rest of its batch.
    writeFileSync(`${split}.partial`, `${readFileSync(`${split}.partial`, 'utf8')}{"instruction": "What is`);
    await assert.rejects(generateData({ ...settings, seed: 4, out: split }), /split\.jsonl\.partial is the unfinished output of a job with other settings \(seed: 3 then, 4 now\)/);
    const second = await generateData({ ...settings, out: split });
    assert.equal(second.resumedAt, 4);
    assert.equal(second.regenerated, 6);
    assert.ok(readFileSync(split).equals(readFileSync(whole)), 'resumed output differs from the uninterrupted one');
  });

  test('tokens records: prompt ids kept, labels -100 on the prompt and the answer\'s ids after; the result trains', async () => {
    const model = makeModel(dir, 'tiny', 1, 0.5);
    const data = join(dir, 'tokens.jsonl');
    writeJsonl(data, [
      { input_ids: [3, 14, 15, 9, 26, 5], labels: [-100, -100, -100, 9, 26, 5] },
      { input_ids: [7, 1, 8, 2, 8], labels: [-100, -100, 8, 2, 8] },
    ]);
    const out = join(dir, 'tokens-out.jsonl');
    await generateData({ teacher: model, data, out, generationTemperature: 0, maxNewTokens: 3 });
    const [a, b] = readJsonl(out);
    assert.deepEqual(a.input_ids.slice(0, 3), [3, 14, 15]);
    assert.deepEqual(a.labels.slice(0, 3), [-100, -100, -100]);
    assert.deepEqual(a.labels.slice(3), a.input_ids.slice(3));
    assert.equal(a.input_ids.length, 6);
    assert.deepEqual(b.labels.slice(0, 2), [-100, -100]);
    const run = await runDistillation(resolveConfig({ teacher: model, student: model, data: out, out: join(dir, 'tokens-run'), maxSteps: 1, evalRatio: 0 }), { log: () => {} });
    assert.ok(run.studentDir);
    // Records without labels or loss_mask have no prompt: copied unchanged; when none has one, refused and nothing left behind.
    const mixed = join(dir, 'mixed.jsonl');
    writeJsonl(mixed, [{ input_ids: [3, 4, 5, 6] }, { input_ids: [3, 14, 15, 9], labels: [-100, -100, 15, 9] }]);
    const mixedOut = join(dir, 'mixed-out.jsonl');
    const mixedResult = await generateData({ teacher: model, data: mixed, out: mixedOut, generationTemperature: 0, maxNewTokens: 2 });
    assert.deepEqual([mixedResult.regenerated, mixedResult.unchanged], [1, 1]);
    assert.deepEqual(readJsonl(mixedOut)[0], { input_ids: [3, 4, 5, 6] });
    const bare = join(dir, 'bare.jsonl');
    writeJsonl(bare, [{ input_ids: [3, 4, 5, 6] }]);
    const bareOut = join(dir, 'bare-out.jsonl');
    await assert.rejects(generateData({ teacher: model, data: bare, out: bareOut }), /data .*bare\.jsonl: no record has a prompt to answer/);
    assert.ok(!existsSync(bareOut) && !existsSync(`${bareOut}.partial`) && !existsSync(`${bareOut}.partial.json`), 'nothing left behind');
  });

  test('the output is checked before the teacher loads: a missing folder, a file for a folder, an existing --out, another job\'s partial output', async () => {
    // A teacher folder whose weights cannot load: any refusal below that names the output came first.
    const unloadable = join(dir, 'unloadable-teacher');
    mkdirSync(unloadable);
    for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(teacher, file), join(unloadable, file));
    const outside = join(dir, 'no-such-folder', 'out.jsonl');
    await assert.rejects(generateData({ teacher: unloadable, data: instructions, out: outside }), (e: Error) => {
      assert.equal(e.message, `out ${outside}: the folder ${join(dir, 'no-such-folder')} does not exist; create it first or choose another path`);
      return true;
    });
    assert.ok(!existsSync(join(dir, 'no-such-folder')), 'nothing created');
    await assert.rejects(generateData({ teacher: unloadable, data: instructions, out: join(instructions, 'out.jsonl') }), /out .*instructions\.jsonl[/\\]out\.jsonl: .*instructions\.jsonl is not a folder/);
    const existing = join(dir, 'existing.jsonl');
    writeFileSync(existing, '');
    await assert.rejects(generateData({ teacher: unloadable, data: instructions, out: existing }), /^ResumableLinesError: out .*existing\.jsonl already exists; choose another path or delete it/);
    const other = join(dir, 'other-job.jsonl');
    writeFileSync(`${other}.partial`, '');
    writeFileSync(`${other}.partial.json`, JSON.stringify({ teacher: 'another' }));
    await assert.rejects(generateData({ teacher: unloadable, data: instructions, out: other }), /other-job\.jsonl\.partial is the unfinished output of a job with other settings/);
    // The premise: with a usable output, this teacher fails to load, and nothing is written.
    const fresh = join(dir, 'fresh.jsonl');
    await assert.rejects(generateData({ teacher: unloadable, data: instructions, out: fresh }), (e: Error) => !/^out /.test(e.message) && /safetensors/.test(e.message));
    assert.ok(!existsSync(`${fresh}.partial`) && !existsSync(`${fresh}.partial.json`), 'nothing written before the teacher loads');
    // The command line names the flag.
    const cli = spawnSync(process.execPath, ['bin/distillery.mjs', 'generate-data', '--teacher', unloadable, '--data', instructions, '--out', outside], { encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(cli.status, 0);
    assert.equal(cli.stderr, `distillery: error: --out ${outside}: the folder ${join(dir, 'no-such-folder')} does not exist; create it first or choose another path\n`);
  });

  test('refused: plain text (no prompt to keep), an output that is not .jsonl, bad generation flags', () => {
    const text = join(dir, 'plain.jsonl');
    writeJsonl(text, [{ text: 'no prompt here' }]);
    const cli = (args: string[]) => spawnSync(process.execPath, ['bin/distillery.mjs', 'generate-data', '--teacher', teacher, ...args], { encoding: 'utf8', timeout: 60_000 });
    const plain = cli(['--data', text, '--out', join(dir, 'p.jsonl')]);
    assert.equal(plain.status, 1);
    assert.match(plain.stderr, /the text format has no prompt and answer to tell apart/);
    const notJsonl = cli(['--data', instructions, '--out', join(dir, 'p.json')]);
    assert.match(notJsonl.stderr, /--out must name a \.jsonl file/);
    const badTokens = cli(['--data', instructions, '--out', join(dir, 'q.jsonl'), '--max-new-tokens', '0']);
    assert.equal(badTokens.status, 2);
    assert.match(badTokens.stderr, /--max-new-tokens must be >= 1, got "0"/);
    assert.ok(!existsSync(join(dir, 'q.jsonl.partial')), 'nothing written for a refused command');
    const ok = cli(['--data', instructions, '--out', join(dir, 'cli.jsonl'), '--generation-temperature', '0', '--max-new-tokens', '2']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /wrote .*cli\.jsonl: 10 records, 10 answered by the teacher/);
  });
});
