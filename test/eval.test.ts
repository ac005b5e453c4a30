// `distillery eval` / evaluate() on held-out data is the comparison distill reports: the same
// examples, targets and batches, so a run's student on the run's held-out file gives the numbers of
// the run's summary.json; --all-tokens scores every token instead.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { evaluate } from '../src/api/evaluate.js';
import { resolveConfig } from '../src/distill/config.js';
import { runDistillation } from '../src/distill/trainer.js';
import { writeRandomModel } from '../src/demo/training.js';
import { TextTokenizer, trainByteLevelBpe, writeTokenizerFolder } from '../src/tokenizer/index.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-eval-'));
const TRAIN = 'fixtures/guanaco-tiny.jsonl';
// 12 guanaco records, one with two turns: two held-out batches of 8 and 4.
const HELD_OUT = 'fixtures/guanaco-tiny-eval.jsonl';

// A teacher and a student with a small byte-level BPE tokenizer of the guanaco texts.
const texts = readFileSync(TRAIN, 'utf8').trim().split('\n').map((l) => JSON.parse(l).text as string);
const tokenizerDir = join(dir, 'tokenizer');
writeTokenizerFolder(tokenizerDir, trainByteLevelBpe(texts, { vocabSize: 320 }), { modelMaxLength: 128 });
const tokenizer = TextTokenizer.fromFolder(tokenizerDir);
const teacher = join(dir, 'teacher');
const student = join(dir, 'student');
writeRandomModel(teacher, { layers: 2, hidden: 32, heads: 2, kvHeads: 1, headDim: 16, intermediate: 64 }, tokenizer, 128, 1, tokenizerDir);
writeRandomModel(student, { layers: 1, hidden: 32, heads: 2, kvHeads: 1, headDim: 16, intermediate: 64 }, tokenizer, 128, 2, tokenizerDir);

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(b), 1e-3), `${what}: eval ${a} vs summary ${b}`);

describe('eval on held-out data', () => {
  test("a run's student on the run's held-out file gives summary.json's after-numbers; --all-tokens scores more tokens", async () => {
    const out = join(dir, 'run');
    // maxLength 40 truncates the longer examples: eval must cut them where distill did.
    await runDistillation(resolveConfig({ teacher, student, data: TRAIN, evalData: HELD_OUT, out, maxSteps: 3, batchSize: 4, lr: 1e-2, maxLength: 40 }), { log: () => {} });
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    const lines: string[] = [];
    const r = await evaluate({ model: join(out, 'student'), teacher, data: HELD_OUT, maxLength: 40, log: (l) => lines.push(l) });
    assert.match(lines.join('\n'), /format guanaco/);
    assert.equal(r.format, 'guanaco');
    assert.equal(r.allTokens, false);
    assert.equal(r.tokens, summary.held_out_tokens);
    close(r.perplexity, summary.student_perplexity_after, 'student perplexity');
    close(r.teacherPerplexity!, summary.teacher_perplexity, 'teacher perplexity');
    close(r.top1Agreement!, summary.top1_agreement, 'top-1 agreement');
    close(r.klTeacherStudent!, summary.kl_teacher_student, 'KL(teacher‖student)');

    // Every token: the prompts count too.
    const all = await evaluate({ model: join(out, 'student'), teacher, data: HELD_OUT, allTokens: true });
    assert.equal(all.allTokens, true);
    assert.ok(all.tokens > 1.5 * r.tokens, `${all.tokens} tokens with allTokens vs ${r.tokens} response tokens`);

    // The command line prints the same numbers.
    const cli = spawnSync(process.execPath, ['bin/distillery.mjs', 'eval', '--model', join(out, 'student'), '--teacher', teacher, '--data', HELD_OUT, '--max-length', '40', '--json'], {
      encoding: 'utf8', timeout: 120_000,
    });
    assert.equal(cli.status, 0, cli.stderr);
    const printed = JSON.parse(cli.stdout);
    assert.equal(printed.tokens, summary.held_out_tokens);
    assert.equal(printed.all_tokens, false);
    close(printed.perplexity, summary.student_perplexity_after, 'CLI student perplexity');
    close(printed.kl_teacher_student, summary.kl_teacher_student, 'CLI KL');
  });

  test('data-only options are refused with text or token ids (every token is scored there)', async () => {
    await assert.rejects(evaluate({ model: student, inputIds: [1, 2, 3], allTokens: true }), /allTokens applies to data only/);
    await assert.rejects(evaluate({ model: student, text: 'hi', format: 'guanaco' }), /format applies to data only/);
    await assert.rejects(evaluate({ model: student, data: HELD_OUT, format: 'poetry' }), /format must be one of auto, guanaco/);
  });
});
