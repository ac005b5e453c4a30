// `distillery demo --task arithmetic`: synthetic instruction data in the reference format
// ("Instruction: What is 48 + 25?\nResponse: 73"), a teacher trained on many problems, a student on
// few, CE-only versus distillation off-policy (on the data's answers) and on-policy (partly on the
// student's own sampled answers, scored by the teacher), scored by exact-match accuracy of greedy
// answers at the same number of optimizer steps, with each run's wall time.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../data/index.js';
import { resolveConfig } from '../distill/config.js';
import { runDistillation } from '../distill/trainer.js';
import { writeTextAtomic } from '../io/atomic.js';
import { generate } from '../models/decoder/generate.js';
import { loadCausalLM } from '../models/decoder/weights.js';
import { TextTokenizer, trainByteLevelBpe, writeTokenizerFolder } from '../tokenizer/index.js';
import { cachedFolder, cacheKey, distilleryCacheDir } from './cache.js';
import type { ModelShape, TrainingBudget } from './settings.js';
import { readMetrics } from '../report/metrics.js';
import { type DemoHooks, runHooks, timedDistill, trainStudentPair, writeRandomModel } from './training.js';

export interface ArithmeticSettings {
  seed: number;
  digits: number;
  teacherProblems: number;
  studentProblems: number;
  testProblems: number;
  teacher: ModelShape & TrainingBudget;
  student: ModelShape & TrainingBudget;
  alpha: number;
  temperature: number;
  /** Share of the on-policy run's micro-batches trained on the student's own answers (GKD's λ). */
  onPolicyFraction: number;
}

export const DEFAULT_ARITHMETIC: ArithmeticSettings = {
  seed: 11,
  digits: 2,
  teacherProblems: 20_000,
  studentProblems: 1_500,
  testProblems: 300,
  teacher: { layers: 4, hidden: 128, heads: 4, kvHeads: 2, headDim: 32, intermediate: 384, steps: 1200, batchSize: 64, lr: 2e-3 },
  student: { layers: 2, hidden: 64, heads: 4, kvHeads: 2, headDim: 16, intermediate: 192, steps: 600, batchSize: 32, lr: 2e-3 },
  alpha: 0.7,
  temperature: 1,
  onPolicyFraction: 0.5,
};

export const QUICK_ARITHMETIC: ArithmeticSettings = {
  ...DEFAULT_ARITHMETIC,
  digits: 1,
  teacherProblems: 100,
  studentProblems: 40,
  testProblems: 10,
  teacher: { layers: 1, hidden: 32, heads: 2, kvHeads: 1, headDim: 16, intermediate: 64, steps: 10, batchSize: 16, lr: 3e-3 },
  student: { layers: 1, hidden: 16, heads: 2, kvHeads: 1, headDim: 8, intermediate: 32, steps: 6, batchSize: 8, lr: 3e-3 },
};

interface Problem {
  a: number;
  b: number;
}

function problems(count: number, digits: number, seed: number): Problem[] {
  const random = mulberry32(seed);
  const limit = 10 ** digits;
  return Array.from({ length: count }, () => ({ a: Math.floor(random() * limit), b: Math.floor(random() * limit) }));
}

const record = (p: Problem) => ({ instruction: `What is ${p.a} + ${p.b}?`, response: String(p.a + p.b) });
const prompt = (p: Problem) => `Instruction: What is ${p.a} + ${p.b}?\nResponse: `;

function writeProblems(path: string, list: Problem[]): void {
  writeTextAtomic(path, list.map((p) => `${JSON.stringify(record(p))}\n`).join(''));
}

export interface ArithmeticResult {
  accuracy: Record<string, number>;
  examples: { problem: string; expected: string; answers: Record<string, string> }[];
  runs: { ceOnly: string; kd: string; onPolicy: string };
  /** Wall time of each student run (same steps), seconds. */
  seconds: Record<string, number>;
  /** The on-policy run: generation's share of its step time, and its generated tokens per second. */
  generation: { share: number; tokensPerSecond: number };
}

const CE_ONLY = 'student, CE only';
const OFF_POLICY = 'student, KD';
const ON_POLICY = 'student, on-policy KD';

/** Generation's share of a run's step time, and its rate, from metrics.jsonl. */
function generationOf(runDir: string): { share: number; tokensPerSecond: number } {
  const steps = readMetrics(join(runDir, 'metrics.jsonl')).filter((r) => r.type === 'train');
  const total = (field: string) => steps.reduce((n, r) => n + (typeof r[field] === 'number' ? (r[field] as number) : 0), 0);
  const seconds = total('generation_seconds');
  return { share: seconds / Math.max(1e-9, total('step_seconds')), tokensPerSecond: total('generated_tokens') / Math.max(1e-9, seconds) };
}

export async function runArithmeticDemo(outDir: string, s: ArithmeticSettings, hooks: DemoHooks, cacheRoot = distilleryCacheDir()): Promise<ArithmeticResult> {
  mkdirSync(outDir, { recursive: true });
  const test = problems(s.testProblems, s.digits, s.seed + 2);
  const key = cacheKey({ v: 'arithmetic-demo-v1', digits: s.digits, n: s.teacherProblems, teacher: s.teacher, seed: s.seed });
  hooks.stage('teacher');
  const { dir: teacherDir, reused } = await cachedFolder(join(cacheRoot, 'demo-teachers'), key, async (dir) => {
    // Characters as tokens (no merges): digits stay digits, which is what column addition needs.
    const tokenizerDir = join(dir, 'tokenizer');
    const sample = problems(200, s.digits, s.seed).map((p) => `Instruction: ${record(p).instruction}\nResponse: ${record(p).response}`);
    writeTokenizerFolder(tokenizerDir, trainByteLevelBpe(sample, { vocabSize: 257 }), { modelMaxLength: 64 });
    const tokenizer = TextTokenizer.fromFolder(tokenizerDir);
    writeProblems(join(dir, 'teacher-train.jsonl'), problems(s.teacherProblems, s.digits, s.seed));
    const init = join(dir, 'teacher-init');
    writeRandomModel(init, s.teacher, tokenizer, 64, s.seed, tokenizerDir);
    hooks.log(`  training the teacher on ${s.teacherProblems} problems for ${s.teacher.steps} steps`);
    await runDistillation(
      resolveConfig(
        { student: init, data: join(dir, 'teacher-train.jsonl'), out: join(dir, 'teacher-run'), alpha: 0, lr: s.teacher.lr, schedule: 'cosine', warmupRatio: 0.05, maxSteps: s.teacher.steps, batchSize: s.teacher.batchSize, evalRatio: 0.01, maxEvalExamples: 64, seed: s.seed, weightDecay: 0.1, logEvery: 100 },
        {},
        { withoutTeacher: true },
      ),
      runHooks(hooks, s.teacher),
    );
  });
  hooks.log(reused ? `  reusing the cached teacher ${teacherDir}` : `  teacher cached in ${teacherDir}`);
  const teacherModel = join(teacherDir, 'teacher-run', 'student');
  const tokenizer = TextTokenizer.fromFolder(teacherModel);

  writeProblems(join(outDir, 'student-train.jsonl'), problems(s.studentProblems, s.digits, s.seed + 1));
  writeProblems(join(outDir, 'test.jsonl'), test);
  const studentInit = join(outDir, 'student-init');
  writeRandomModel(studentInit, s.student, tokenizer, 64, s.seed + 3, teacherModel);
  const common = {
    teacher: teacherModel, student: studentInit, data: join(outDir, 'student-train.jsonl'), evalData: join(outDir, 'test.jsonl'),
    lr: s.student.lr, schedule: 'cosine', warmupRatio: 0.05, maxSteps: s.student.steps, batchSize: s.student.batchSize, seed: s.seed,
    maxEvalExamples: 128, weightDecay: 0.1, logEvery: 100,
  };
  const pair = await trainStudentPair(outDir, common, s, hooks, s.student);
  const onPolicyDir = join(outDir, 'on-policy-kd');
  hooks.stage(`student, on-policy distillation (${Math.round(100 * s.onPolicyFraction)} % of micro-batches on its own sampled answers)`);
  // Answers are at most digits + 1 characters and the eos.
  const onPolicySeconds = await timedDistill(
    { ...common, out: onPolicyDir, alpha: s.alpha, temperature: s.temperature, onPolicyFraction: s.onPolicyFraction, maxNewTokens: s.digits + 2, generationTemperature: 1 },
    hooks,
    s.student,
  );
  const runs = { ceOnly: pair.ceOnly, kd: pair.kd, onPolicy: onPolicyDir };

  hooks.stage('exact-match accuracy');
  const models = { teacher: teacherModel, [CE_ONLY]: join(runs.ceOnly, 'student'), [OFF_POLICY]: join(runs.kd, 'student'), [ON_POLICY]: join(runs.onPolicy, 'student') };
  const accuracy: Record<string, number> = {};
  const answers: Record<string, string[]> = {};
  for (const [name, folder] of Object.entries(models)) {
    const model = loadCausalLM(folder);
    const eos = tokenizer.eosTokenId === null ? [] : [tokenizer.eosTokenId];
    answers[name] = test.map((p) => tokenizer.decode(generate(model, tokenizer.encode(prompt(p)), { maxNewTokens: s.digits + 3, greedy: true, eosTokenIds: eos }).ids, { skipSpecialTokens: true }).trim());
    accuracy[name] = answers[name]!.filter((a, i) => a === String(test[i]!.a + test[i]!.b)).length / test.length;
    model.dispose();
  }
  const examples = test.slice(0, 6).map((p, i) => ({
    problem: `${p.a} + ${p.b}`,
    expected: String(p.a + p.b),
    answers: Object.fromEntries(Object.keys(models).map((name) => [name, answers[name]![i]!])),
  }));
  const seconds = { [CE_ONLY]: pair.seconds.ceOnly, [OFF_POLICY]: pair.seconds.kd, [ON_POLICY]: onPolicySeconds };
  return { accuracy, examples, runs, seconds, generation: generationOf(runs.onPolicy) };
}
