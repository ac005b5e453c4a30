// `distillery report RUN_DIR`: report.md, report.html and PNG charts for a finished (or
// interrupted) distill run, written into the run folder.
import type { Command } from 'commander';
import { UsageError } from '../errors.js';

interface ReportFlags {
  title?: string;
  label?: string;
  compare?: { label: string; dir: string }[];
}

function compareRun(value: string, previous: { label: string; dir: string }[] = []): { label: string; dir: string }[] {
  const at = value.indexOf('=');
  if (at <= 0 || at === value.length - 1) throw new UsageError(`--compare must be LABEL=RUN_DIR (e.g. 'CE only=runs/ce'), got '${value}'`);
  return [...previous, { label: value.slice(0, at), dir: value.slice(at + 1) }];
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('write report.md, report.html (self-contained) and loss/perplexity/learning-rate PNGs into a run folder')
    .argument('<run_dir>', 'a run folder written by `distillery distill --out`')
    .option('--title <text>', 'report title (default: "Distillation report: <folder name>")')
    .option('--label <text>', "this run's name in the perplexity chart when runs are compared (default: the folder name)")
    .option('--compare <label=dir>', 'another run to draw in the perplexity chart; repeatable', compareRun)
    .action(async (runDir: string, flags: ReportFlags) => {
      const [{ RunFolderError }, { writeRunReport }] = await Promise.all([import('../../report/run-folder.js'), import('../../report/run-report.js')]);
      try {
        const report = await writeRunReport(runDir, { title: flags.title, label: flags.label, extraRuns: flags.compare });
        for (const path of [report.markdownPath, report.htmlPath, ...report.pngs]) console.log(path);
      } catch (error) {
        // A wrong folder is the user's to fix: one line, no stack trace.
        if (error instanceof RunFolderError) throw new UsageError(error.message);
        throw error;
      }
    });
}
