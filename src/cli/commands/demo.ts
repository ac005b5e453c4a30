// `distillery demo`: the offline end-to-end demonstration (see src/demo/).
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { writeTextAtomic } from '../../io/atomic.js';
import { UsageError } from '../errors.js';

const MARKER = '.distillery-demo';
const TASKS = ['text', 'arithmetic', 'cross-tokenizer'];

interface DemoFlags {
  out: string;
  task: string;
  quick?: boolean;
}

/** The demo folder is replaced on each run — but only if it is a demo folder, never the user's files. */
function prepareOutDir(out: string): void {
  if (existsSync(out) && readdirSync(out).length > 0) {
    if (!existsSync(join(out, MARKER))) throw new UsageError(`--out ${out} has files that are not from a demo; choose another folder`);
    rmSync(out, { recursive: true, force: true });
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('offline end-to-end demo: a teacher, a smaller student trained with and without distillation, a report')
    .option('--out <dir>', 'demo folder (replaced on each run)', './distillery-demo')
    .option('--task <task>', "'text' (Moby-Dick perplexity), 'arithmetic' (exact-match accuracy) or 'cross-tokenizer' (a teacher with another vocabulary; bits per byte)", 'text')
    .option('--quick', 'a seconds-long smoke run with tiny models (the numbers mean nothing)')
    .action(async (flags: DemoFlags) => {
      if (!TASKS.includes(flags.task)) throw new UsageError(`--task must be 'text', 'arithmetic' or 'cross-tokenizer', got '${flags.task}'`);
      prepareOutDir(flags.out);
      // Loaded here, not at the top: `distillery --help` stays quick.
      const [
        { DEFAULT_ARITHMETIC, QUICK_ARITHMETIC, runArithmeticDemo },
        { alignmentLines, crossTokenizerTable, languageTable, reportPaths, writeArithmeticReport, writeCrossTokenizerReport, writeLanguageReport },
        { runLanguageDemo },
        { DEFAULT_LANGUAGE_DEMO, QUICK_LANGUAGE_DEMO },
        { runCrossTokenizerDemo },
        { DEFAULT_CROSS_TOKENIZER_DEMO, QUICK_CROSS_TOKENIZER_DEMO },
        { createProgress },
      ] = await Promise.all([
        import('../../demo/arithmetic-demo.js'),
        import('../../demo/demo-report.js'),
        import('../../demo/language-demo.js'),
        import('../../demo/settings.js'),
        import('../../demo/cross-tokenizer-demo.js'),
        import('../../demo/cross-tokenizer-settings.js'),
        import('../progress.js'),
      ]);
      const printTable = (table: { headers: string[]; rows: unknown[][] }) => console.log(`\n${table.headers.join(' | ')}\n${table.rows.map((r) => r.join(' | ')).join('\n')}`);
      const started = Date.now();
      const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
      const progress = createProgress(50);
      const hooks = {
        log: progress.log,
        stage: (name: string) => {
          progress.stop();
          progress.log(`[${elapsed()}] ${name}`);
        },
        onStep: progress.update,
      };
      // Mark the folder first, so a later run may replace it even if this one is interrupted.
      mkdirSync(flags.out, { recursive: true });
      writeTextAtomic(join(flags.out, MARKER), 'created by distillery demo\n');
      let html: string;
      if (flags.task === 'text') {
        const settings = flags.quick ? QUICK_LANGUAGE_DEMO : DEFAULT_LANGUAGE_DEMO;
        const result = await runLanguageDemo(flags.out, settings, hooks);
        progress.stop();
        html = await writeLanguageReport(flags.out, result, settings);
        printTable(languageTable(result));
      } else if (flags.task === 'cross-tokenizer') {
        const settings = flags.quick ? QUICK_CROSS_TOKENIZER_DEMO : DEFAULT_CROSS_TOKENIZER_DEMO;
        const result = await runCrossTokenizerDemo(flags.out, settings, hooks);
        progress.stop();
        html = await writeCrossTokenizerReport(flags.out, result, settings);
        printTable(crossTokenizerTable(result));
        console.log(`\nalignment of the student's targets with the teacher's tokens: ${alignmentLines(result).join('; ')}`);
        console.log(`training wall time: CE only ${result.seconds.ceOnly.toFixed(1)} s, gold ${result.seconds.gold.toFixed(1)} s, uld ${result.seconds.uld.toFixed(1)} s`);
      } else {
        const result = await runArithmeticDemo(flags.out, flags.quick ? QUICK_ARITHMETIC : DEFAULT_ARITHMETIC, hooks);
        progress.stop();
        html = await writeArithmeticReport(flags.out, result);
        console.log(`\nexact-match accuracy: ${Object.entries(result.accuracy).map(([m, a]) => `${m} ${(100 * a).toFixed(1)} %`).join(', ')}`);
        console.log(`training wall time: ${Object.entries(result.seconds).map(([m, s]) => `${m} ${s.toFixed(1)} s`).join(', ')}; generation ${(100 * result.generation.share).toFixed(1)} % of the on-policy run's step time`);
      }
      console.log(`\nreport: ${html} (also ${reportPaths(flags.out).markdown}); total ${elapsed()}`);
    });
}
