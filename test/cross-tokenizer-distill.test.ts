// --cross-tokenizer end to end, through the typed API and the command line: a Llama-3-tokenizer
// teacher and a Qwen3-tokenizer student on guanaco records (refused without the flag, trained with
// gold and uld, on-policy, bf16, resumed), and one tokenizer on both sides through the cross path —
// where gold must be the ordinary run (1e-5) and uld the definition computed here in doubles from
// the two models' logits.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeExamples, readRecords } from '../src/data/index.js';
import { encodeText } from '../src/data/segments.js';
import { resolveConfig } from '../src/distill/config.js';
import { planInputOf } from '../src/distill/memory/run-plan.js';
import { prepareRun } from '../src/distill/prepare.js';
import { loadCausalLM, saveCausalLM } from '../src/models/decoder/weights.js';
import { distill, type DistillOptions, type DistillRunResult, initModel, type MetricsRecord, type TrainRecord } from '../src/index.js';
import * as T from '../src/tensor/index.js';
import { TextTokenizer } from '../src/tokenizer/index.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-cross-tokenizer-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const cli = resolve('bin/distillery.mjs');
const at = (name: string) => join(dir, name);

// Guanaco records with digits, accents, CJK and an emoji, so that tokenizations differ in places.
const QA = [
  ['What is 12345 + 1?', 'It is 12346.'], ['Name a color.', 'Blue, or 蓝色.'], ['How many legs does a cat have?', 'Four 🐱.'], ['Say hello.', 'Héllo!'],
  ['What is water?', 'A liquid: H2O.'], ['What is the capital of France?', 'Paris.'], ['Which planet is largest?', 'Jupiter.'], ['What is 1000 - 4?', '996.'],
];
const data = at('train.jsonl');
writeFileSync(data, QA.map(([q, a]) => `${JSON.stringify({ text: `### Human: ${q}### Assistant: ${a}` })}\n`).join(''));

const folders = { llamaTeacher: at('llama-teacher'), qwenTeacher: at('qwen-teacher-sharp'), qwenStudent: at('qwen-student') };
before(() => {
  initModel({ out: folders.llamaTeacher, preset: 'llama-tiny', seed: 1 });
  initModel({ out: at('qwen-teacher'), preset: 'qwen3-tiny', seed: 1 });
  initModel({ out: folders.qwenStudent, preset: 'qwen3-tiny', seed: 2 });
  // A freshly initialised model predicts nearly uniformly over 151,936 tokens, so two of them differ
  // by ~1e-4 (KL, ULD): float32 noise in the 5th digit. Scaling the teacher's (tied) embeddings
  // sharpens its predictions as training would, and the comparisons below measure the loss, not noise.
  const sharp = loadCausalLM(at('qwen-teacher'));
  T.noGrad(() => sharp.model.embed_tokens.weight.mul_(40));
  saveCausalLM(sharp, folders.qwenTeacher, { dtype: 'float32', copyFrom: at('qwen-teacher') });
  sharp.dispose();
});

// Every example in one batch: step 1 sees the whole data with the initial student.
const common = { data, batchSize: 8, maxLength: 64, lr: 1e-3, evalRatio: 0, temperature: 2, alpha: 0.7 } as const;

async function run(options: DistillOptions): Promise<{ result: DistillRunResult; steps: TrainRecord[]; lines: string[] }> {
  const steps: TrainRecord[] = [];
  const lines: string[] = [];
  const result = await distill({ ...options, log: (l: string) => lines.push(l), onRecord: (r: MetricsRecord) => r.type === 'train' && steps.push(r) } as DistillOptions);
  return { result, steps, lines };
}

const relativelyClose = (a: number, b: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tolerance * Math.max(Math.abs(b), 1e-12), `${what}: ${a} vs ${b} (relative tolerance ${tolerance})`);

function assertShares(step: TrainRecord, what: string): void {
  const shares = [step.alignedExact, step.alignedInSpans, step.unaligned];
  assert.ok(shares.every((s) => typeof s === 'number' && s >= 0 && s <= 1), `${what}: shares ${shares}`);
  relativelyClose(shares.reduce((a, b) => a! + b!, 0)!, 1, 1e-3, `${what}: shares add up`);
}

describe('a Llama 3 tokenizer teacher, a Qwen3 tokenizer student', () => {
  test('refused without the flag, naming it', async () => {
    await assert.rejects(run({ ...common, teacher: folders.llamaTeacher, student: folders.qwenStudent, out: at('refused'), maxSteps: 1 }), /different tokenizers.*--cross-tokenizer/s);
  });

  for (const method of ['gold', 'uld'] as const) {
    test(`--cross-tokenizer ${method}: finite losses, alignment shares per step and in summary.json`, async () => {
      const out = at(`llama-${method}`);
      const { steps, lines } = await run({ ...common, teacher: folders.llamaTeacher, student: folders.qwenStudent, out, maxSteps: 2, crossTokenizer: method, evalRatio: 0.25 });
      assert.equal(steps.length, 2);
      for (const s of steps) {
        assert.ok(Number.isFinite(s.loss) && s.kdLoss > 0, `step ${s.step}: loss ${s.loss}, kd ${s.kdLoss}`);
        assertShares(s, `step ${s.step}`);
        // English text: most tokens are the same on both sides; the digits and CJK are not.
        assert.ok(s.alignedExact! > 0.5 && s.alignedInSpans! > 0, `step ${s.step}: ${s.alignedExact} exact, ${s.alignedInSpans} in spans`);
      }
      assert.ok(lines.some((l) => l.includes(`cross-tokenizer (${method})`)), lines.join('\n'));
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      assert.equal(summary.cross_tokenizer, method);
      relativelyClose(summary.aligned_exact + summary.aligned_in_spans + summary.unaligned, 1, 1e-3, 'summary shares');
      // A teacher of other tokens has no perplexity on the student's: the student's alone.
      assert.equal(summary.teacher_perplexity, null);
      assert.ok(Number.isFinite(summary.student_perplexity_after));
    });
  }

  test('on-policy (every micro-batch the student\'s completions, re-encoded for the teacher) and bf16', async () => {
    const { steps } = await run({
      ...common, teacher: folders.llamaTeacher, student: folders.qwenStudent, out: at('llama-on-policy'), maxSteps: 2, crossTokenizer: 'gold',
      onPolicyFraction: 1, maxNewTokens: 8, dtype: 'bfloat16', teacherDtype: 'bfloat16',
    });
    assert.equal(steps.length, 2);
    for (const s of steps) {
      assert.equal(s.onPolicyFraction, 1);
      assert.ok(Number.isFinite(s.loss) && s.ceLoss === null, `step ${s.step}: loss ${s.loss}, ce ${s.ceLoss}`);
      assertShares(s, `on-policy step ${s.step}`);
    }
  });

  test('stopped at step 2, `distillery distill --resume OUT` ends as the uninterrupted run', async () => {
    const settings = { ...common, teacher: folders.llamaTeacher, student: folders.qwenStudent, batchSize: 4, maxSteps: 3, crossTokenizer: 'uld' } as const;
    const whole = await run({ ...settings, out: at('resume-whole') });
    const stop = new AbortController();
    const first = await run({ ...settings, out: at('resume-split'), saveEvery: 1, signal: stop.signal, onStep: (s: { step: number }) => s.step === 2 && stop.abort() } as DistillOptions);
    assert.equal(first.result.interruptedAt, 2);
    assert.ok(first.lines.some((l) => l.includes(`continue with --resume ${at('resume-split')}`)), first.lines.join('\n'));
    const resumed = spawnSync(process.execPath, [cli, 'distill', '--resume', at('resume-split')], { encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);
    const losses = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train').map((r) => r.loss);
    assert.deepEqual(losses(at('resume-split')), whole.steps.map((s) => s.loss));
  });

  test('distill --nproc-per-node 2 (batch 2 each): the steps of one process with batch 2 × 2 accumulation, alignment shares summed over ranks', async () => {
    const settings = { ...common, teacher: folders.llamaTeacher, student: folders.qwenStudent, maxSteps: 2, crossTokenizer: 'gold' } as const;
    const single = await run({ ...settings, batchSize: 2, gradAccum: 2, out: at('ddp-single') });
    const out = at('ddp');
    const launched = spawnSync(process.execPath, [
      cli, 'distill', '--teacher', folders.llamaTeacher, '--student', folders.qwenStudent, '--data', data, '--out', out, '--batch-size', '2', '--max-length', '64',
      '--lr', '1e-3', '--max-steps', '2', '--eval-ratio', '0', '--temperature', '2', '--alpha', '0.7', '--cross-tokenizer', 'gold', '--nproc-per-node', '2',
    ], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
    assert.equal(launched.status, 0, launched.stderr);
    const two = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train');
    two.forEach((r, i) => {
      const one = single.steps[i]!;
      relativelyClose(r.loss, one.loss, 1e-5, `step ${r.step} loss`);
      relativelyClose(r.grad_norm, one.gradNorm!, 1e-5, `step ${r.step} gradient norm`);
      assert.deepEqual([r.aligned_exact, r.aligned_in_spans, r.unaligned], [one.alignedExact, one.alignedInSpans, one.unaligned], `step ${r.step} shares`);
    });
  });

  test('the memory plan sizes the teacher\'s forward by its own tokens: <|begin_of_text|>, the text, its end token', async () => {
    const config = resolveConfig({ ...common, teacher: folders.llamaTeacher, student: folders.qwenStudent, out: at('plan'), crossTokenizer: 'gold' });
    const prepared = await prepareRun(config, () => {});
    const llama = TextTokenizer.fromFolder(folders.llamaTeacher);
    const longest = Math.max(...QA.map(([q, a]) => encodeText(llama, `### Human: ${q}### Assistant: ${a}`).length + 1));
    assert.equal(planInputOf(config, prepared).teacherSequenceLength, longest);
    assert.ok(longest !== Math.max(...prepared.train.map((e) => e.inputIds.length)), 'the two tokenizations differ in length');
  });

  test('a teacher cache or --seq-kd with --cross-tokenizer is refused, saying why', async () => {
    await assert.rejects(run({ ...common, teacherCache: at('no-cache'), student: folders.qwenStudent, out: at('x1'), crossTokenizer: 'gold' }), /crossTokenizer cannot be used with teacherCache/);
    await assert.rejects(run({ ...common, teacher: folders.llamaTeacher, student: folders.qwenStudent, out: at('x2'), crossTokenizer: 'uld', seqKd: true }), /crossTokenizer cannot be used with seqKd/);
  });
});

describe('one tokenizer on both sides, through the cross path', () => {
  test('gold is the ordinary KD loss (1e-5 relative), every target a one-token span', async () => {
    // The ordinary run takes the fused kernel (double accumulation); the cross path autograd in float64.
    for (const lossImpl of ['chunked'] as const) {
      const tolerance = 1e-5;
      const plain = await run({ ...common, teacher: folders.qwenTeacher, student: folders.qwenStudent, out: at(`same-plain-${lossImpl}`), maxSteps: 3, lossImpl });
      const gold = await run({ ...common, teacher: folders.qwenTeacher, student: folders.qwenStudent, out: at(`same-gold-${lossImpl}`), maxSteps: 3, lossImpl, crossTokenizer: 'gold' });
      gold.steps.forEach((s, i) => {
        relativelyClose(s.kdLoss, plain.steps[i]!.kdLoss, tolerance, `${lossImpl}: step ${s.step} kd`);
        relativelyClose(s.loss, plain.steps[i]!.loss, tolerance, `${lossImpl}: step ${s.step} loss`);
        assert.equal(s.alignedExact, 1, `${lossImpl}: step ${s.step}: every target 1:1`);
      });
    }
  });

  test('uld is Σ_t Σ_i |sort(p_T)_i − sort(p_S)_i| / N, computed in doubles from both models\' logits', async () => {
    const { steps } = await run({ ...common, teacher: folders.qwenTeacher, student: folders.qwenStudent, out: at('same-uld'), maxSteps: 1, crossTokenizer: 'uld' });
    const tokenizer = TextTokenizer.fromFolder(folders.qwenStudent);
    const { records } = await readRecords(data, { split: 'train' });
    const examples = encodeExamples(records, tokenizer, { format: 'guanaco', responseOnly: true, maxLength: 64, addEos: true }).examples;
    const teacher = loadCausalLM(folders.qwenTeacher);
    const student = loadCausalLM(folders.qwenStudent);
    const tau = common.temperature;
    const softmax = (row: number[]) => {
      const m = row.reduce((a, b) => Math.max(a, b), -Infinity);
      const e = row.map((v) => Math.exp((v - m) / tau));
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / z).sort((a, b) => b - a);
    };
    let sum = 0;
    let count = 0;
    for (const e of examples) {
      const logits = (model: typeof teacher) => T.tidy(() => model.forward(T.tensor([e.inputIds], { dtype: 'int64' })).squeeze(0).toArray());
      const vocab = teacher.config.vocabSize;
      const [lt, ls] = [logits(teacher), logits(student)];
      for (let t = 0; t + 1 < e.labels.length; t++) {
        if (e.labels[t + 1] === -100) continue;
        const pt = softmax(Array.from(lt.slice(t * vocab, (t + 1) * vocab)));
        const ps = softmax(Array.from(ls.slice(t * vocab, (t + 1) * vocab)));
        sum += pt.reduce((a, p, i) => a + Math.abs(p - ps[i]!), 0);
        count += 1;
      }
    }
    teacher.dispose();
    student.dispose();
    relativelyClose(steps[0]!.kdLoss, sum / count, 1e-5, 'step 1 kd (ULD)');
  });
});
