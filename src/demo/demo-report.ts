// The demos' reports: the comparison table, what was done and why, sample generations, and the
// training curves of the students (written by the report layer next to the demo's runs).
import { join } from 'node:path';
import { writeRunReport } from '../report/run-report.js';
import type { ArithmeticResult } from './arithmetic-demo.js';
import type { CrossTokenizerDemoResult } from './cross-tokenizer-demo.js';
import type { CrossTokenizerDemoSettings } from './cross-tokenizer-settings.js';
import type { LanguageDemoResult } from './language-demo.js';
import type { LanguageDemoSettings } from './settings.js';

const pct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(1)} %`);
const num = (v: number | null, d = 3) => (v === null ? '—' : v.toFixed(d));
const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

export function languageTable(result: LanguageDemoResult): { headers: string[]; rows: (string | number | null)[][] } {
  return {
    headers: ['model', 'parameters', 'held-out perplexity', 'gap closed', 'top-1 agreement with teacher', 'KL(teacher ‖ model), nats/token'],
    rows: result.rows.map((r) => [r.model, `${(r.parameters / 1e6).toFixed(2)}M`, num(r.perplexity, 2), r.model === 'teacher' ? '—' : pct(r.gapClosed), pct(r.top1Agreement), num(r.klTeacherStudent, 4)]),
  };
}

export async function writeLanguageReport(outDir: string, result: LanguageDemoResult, settings: LanguageDemoSettings): Promise<string> {
  const s = settings;
  const explanation = [
    `A Qwen3-architecture **teacher** (${s.teacher.layers} layers, width ${s.teacher.hidden}) learned Moby-Dick: every chapter except each tenth, which is held out.`,
    `A smaller Qwen3 **student** (${s.student.layers} layers, width ${s.student.hidden}) was then trained twice on a **transfer set** of only ${s.transferBytes / 1000} KB of the book,`,
    `with the same ${s.student.steps} steps, batch size, learning-rate schedule, data order and seed: once with cross-entropy only, and once with`,
    `\`distillery distill\`'s loss, α·τ²·KL(teacher ‖ student) + (1−α)·CE with α = ${s.alpha}, τ = ${s.temperature}.`,
    '',
    'Why this regime: when the student sees as much text as the teacher, the teacher adds little. With a transfer set much smaller than the',
    'teacher\'s data — the classic distillation setting — cross-entropy on one-hot next tokens overfits the few examples it has, while the',
    'teacher\'s full next-token distributions carry what it learned from the rest of the book: which continuations are plausible, not only',
    'which one happened. The held-out chapters measure how much of that reaches the student. Temperatures above 1, which suit classifiers,',
    'tend to hurt language-model distillation at this scale, so the demo uses τ = 1 (the `distill` default stays at the reference\'s τ = 5).',
    '',
    result.ceOnlyBest
      ? `The CE-only student's best held-out perplexity during training was ${result.ceOnlyBest.perplexity.toFixed(2)} (step ${result.ceOnlyBest.step}); after that it overfit the small transfer set. The comparison below is at the end of training for both, with identical budgets; the perplexity chart shows the whole course of both runs.`
      : '',
    '',
    `Gap closed = (perplexity at init − perplexity after) / (perplexity at init − teacher perplexity). Held-out tokens scored: ${result.heldOutTokens}.`,
  ].join('\n');
  const tokenizer = [
    `A byte-level BPE tokenizer with ${s.vocabSize} tokens, trained on the teacher's text and written as a standard \`tokenizer.json\`.`,
    'Qwen3\'s own 151,936-token vocabulary would make the embedding and LM head (151,936 × width) many times larger than the rest of',
    'models this small, so almost all compute would go to the output layer; a small vocabulary keeps the demo about the transformer and',
    'inside a few minutes on two cores. Byte-level BPE is still lossless on any text.',
  ].join('\n');
  const samples = result.samples
    .map((sample) => {
      const lines = Object.entries(sample.outputs).map(([model, text]) => `| ${model} | ${oneLine(text).replace(/\|/g, '\\|')} |`);
      return [`Prompt: \`${oneLine(sample.prompt)}\``, '', '| model | greedy continuation (32 tokens) |', '|---|---|', ...lines].join('\n');
    })
    .join('\n\n');
  const report = await writeRunReport(result.runs.kd, {
    title: 'Distillery demo: distilling a Qwen3 teacher into a smaller student',
    label: 'KD student',
    outDir,
    extraRuns: [{ label: 'CE-only student', dir: result.runs.ceOnly }],
    comparison: languageTable(result),
    sections: [
      { title: 'What was done', markdown: explanation },
      { title: 'Tokenizer', markdown: tokenizer },
      { title: 'Samples on held-out chapters', markdown: samples },
      { title: 'Runs', markdown: `CE-only student: \`${result.runs.ceOnly}\` · KD student: \`${result.runs.kd}\` (each with metrics.jsonl, config.yaml, summary.json and the student folder).` },
    ],
  });
  return report.htmlPath;
}

export async function writeArithmeticReport(outDir: string, result: ArithmeticResult): Promise<string> {
  const table = {
    headers: ['model', 'exact-match accuracy', 'training wall time'],
    rows: Object.entries(result.accuracy).map(([model, accuracy]) => [model, pct(accuracy), model in result.seconds ? `${result.seconds[model]!.toFixed(0)} s` : '–']),
  };
  const examples = [
    '| problem | expected | ' + Object.keys(result.accuracy).join(' | ') + ' |',
    '|---|---|' + Object.keys(result.accuracy).map(() => '---|').join(''),
    ...result.examples.map((e) => `| ${e.problem} | ${e.expected} | ${Object.values(e.answers).map((a) => a || '(nothing)').join(' | ')} |`),
  ].join('\n');
  const report = await writeRunReport(result.runs.kd, {
    title: 'Distillery demo: arithmetic — exact-match accuracy of greedy answers',
    label: 'KD student',
    outDir,
    extraRuns: [
      { label: 'CE-only student', dir: result.runs.ceOnly },
      { label: 'on-policy KD student', dir: result.runs.onPolicy },
    ],
    comparison: table,
    sections: [
      { title: 'Task', markdown: 'Instruction data in the reference format, e.g. `Instruction: What is 48 + 25?\\nResponse: 73`; the loss counts the response tokens only. The teacher saw many problems, the students few; answers are generated greedily and must match exactly.' },
      {
        title: 'On-policy distillation',
        markdown:
          "The on-policy student trains part of its micro-batches on its own sampled answers to the prompts, with the teacher's distributions over them as the only signal (the KD term), the rest on the data's answers as the KD student does; all three students take the same number of optimizer steps. " +
          `Generating the answers took ${pct(result.generation.share)} of its step time (${result.generation.tokensPerSecond.toFixed(0)} generated tokens/s).`,
      },
      { title: 'Examples', markdown: examples },
    ],
  });
  return report.htmlPath;
}

export function crossTokenizerTable(result: CrossTokenizerDemoResult): { headers: string[]; rows: (string | number | null)[][] } {
  return {
    headers: ['model', 'vocabulary', 'parameters', 'held-out perplexity (own tokens)', 'bits per byte'],
    rows: result.rows.map((r) => [r.model, r.vocabulary, `${(r.parameters / 1e6).toFixed(2)}M`, num(r.perplexity, 2), num(r.bitsPerByte, 4)]),
  };
}

/** One line per KD run: the shares of its student targets by how they aligned with the teacher's tokens. */
export function alignmentLines(result: CrossTokenizerDemoResult): string[] {
  return Object.entries(result.alignment).map(
    ([method, a]) => `${method}: ${pct(a.aligned_exact)} one-token spans, ${pct(a.aligned_in_spans)} in longer spans, ${pct(a.unaligned)} unaligned`,
  );
}

export async function writeCrossTokenizerReport(outDir: string, result: CrossTokenizerDemoResult, settings: CrossTokenizerDemoSettings): Promise<string> {
  const s = settings;
  const [teacher, ...students] = result.rows;
  const explanation = [
    `The **teacher** is the text demo's (${s.teacher.layers} layers, width ${s.teacher.hidden}, a ${teacher!.vocabulary}-token byte-level BPE vocabulary learned from its own text;`,
    'the two demos share one cached teacher). The **student** has a vocabulary of its own: a',
    `${students[0]!.vocabulary}-token byte-level BPE learned from the back half of the teacher's chapters, so both its size and its merges differ.`,
    `It (${s.student.layers} layers, width ${s.student.hidden}) was trained three times on the same ${s.transferBytes / 1000} KB transfer set, with the same`,
    `${s.student.steps} steps, batch size, learning-rate schedule, data order and seed: with cross-entropy only (no teacher), and with`,
    `\`--cross-tokenizer gold\` and \`--cross-tokenizer uld\`, both with α = ${s.alpha}, τ = ${s.temperature} (the text demo's values).`,
    'The data are text records (the student\'s windows of ' + `${s.context} tokens decoded to text), so that each tokenizer reads the same text.`,
    '',
    'Cross-tokenizer distillation aligns the two tokenizations of each example by the bytes their tokens cover. A span of one token on',
    'each side is the same string in both vocabularies; `gold` compares those with the ordinary KD divergence over the tokens both',
    'vocabularies share, and longer spans by ULD (the L1 distance between the sorted probabilities of the span\'s merged distributions);',
    '`uld` scores every span by ULD. Targets no span covers get cross-entropy only.',
    '',
    'Perplexity counts per token, so it compares models of one vocabulary only. **Bits per byte** — the total negative log-likelihood',
    'of the held-out text over its tokens, in bits, divided by the UTF-8 bytes those tokens stand for — compares all four: each model reads',
    `the same ${(result.heldOutBytes / 1000).toFixed(1)} KB of held-out chapters through its own tokenizer, in windows of ${s.context} tokens`,
    '(the first token of each window, which nothing predicts, counts neither its NLL nor its bytes).',
  ].join('\n');
  const alignment = [
    'Shares of the student\'s target tokens over each run, from its summary.json (`aligned_exact`, `aligned_in_spans`, `unaligned`):',
    '',
    ...alignmentLines(result).map((line) => `- ${line}`),
  ].join('\n');
  const seconds = `Training wall time (${s.student.steps} steps and the evaluations): CE only ${result.seconds.ceOnly.toFixed(0)} s, gold ${result.seconds.gold.toFixed(0)} s, uld ${result.seconds.uld.toFixed(0)} s.`;
  const report = await writeRunReport(result.runs.gold, {
    title: 'Distillery demo: distilling across tokenizers',
    label: 'KD gold student',
    outDir,
    extraRuns: [
      { label: 'KD uld student', dir: result.runs.uld },
      { label: 'CE-only student', dir: result.runs.ceOnly },
    ],
    comparison: crossTokenizerTable(result),
    sections: [
      { title: 'What was done', markdown: explanation },
      { title: 'Alignment', markdown: alignment },
      { title: 'Runs', markdown: `${seconds} CE-only student: \`${result.runs.ceOnly}\` · gold: \`${result.runs.gold}\` · uld: \`${result.runs.uld}\` (each with metrics.jsonl, config.yaml, summary.json and the student folder).` },
    ],
  });
  return report.htmlPath;
}

export const reportPaths = (outDir: string) => ({ html: join(outDir, 'report.html'), markdown: join(outDir, 'report.md') });
