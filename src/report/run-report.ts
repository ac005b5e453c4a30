// A run folder's human-readable report: report.md, a self-contained report.html (the same
// Markdown rendered, PNGs inlined as data URIs) and the PNG charts, all written atomically into the
// run folder so a reader never sees a half-written file.
import { basename, join, resolve } from 'node:path';
import { writeAll, writeFileAtomic, writeTextAtomic } from '../io/atomic.js';
import { markdownToHtmlPage } from './markdown-html.js';
import { type Cell, markdownTable } from './markdown-table.js';
import { lineChartPng } from './plots.js';
import { type ChartPlan, type LabelledRun, learningRateChart, lossChart, perplexityChart } from './run-charts.js';
import { type RunFolder, readRunFolder } from './run-folder.js';
import { summaryMarkdown } from './summary-section.js';

export interface RunReportOptions {
  title?: string;
  /** Where report.md, report.html and the PNGs go (default: the run folder). */
  outDir?: string;
  /** The main run's name in charts that compare runs (default: the folder's name). */
  label?: string;
  /** Other runs drawn next to this one in the perplexity chart (e.g. a CE-only baseline). */
  extraRuns?: { label: string; dir: string }[];
  comparison?: { headers: string[]; rows: Cell[][] };
  sections?: { title: string; markdown: string }[];
}

export interface RunReport {
  markdown: string;
  html: string;
  /** Paths of the PNGs written. */
  pngs: string[];
  /** Paths of report.md and report.html. */
  markdownPath: string;
  htmlPath: string;
}

const inlineCode = (s: string) => `\`${s.replace(/`/g, "'")}\``;

/** One line naming what was distilled, from config.yaml when it is there. */
function setupLine(run: RunFolder): string {
  const c = run.config;
  if (!c) return '';
  const parts = [
    ['teacher', c.teacher],
    ['student', c.student],
    ['data', c.data],
    ['α', c.alpha],
    ['τ', c.temperature],
    ['loss', c.loss],
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  return parts.map(([k, v]) => `${k} ${inlineCode(String(v))}`).join(', ');
}

function chartMarkdown(plan: ChartPlan): string {
  return 'missing' in plan ? `_${plan.missing}_` : `![${plan.spec.title}](${plan.file})\n\n${plan.caption}`;
}

export async function writeRunReport(runDir: string, options: RunReportOptions = {}): Promise<RunReport> {
  const run = readRunFolder(runDir);
  const outDir = options.outDir ?? runDir;
  const label = options.label ?? basename(resolve(runDir));
  const runs: LabelledRun[] = [
    { label, records: run.records, teacherPerplexity: run.summary?.teacherPerplexity ?? null },
    ...(options.extraRuns ?? []).map((extra) => {
      const other = readRunFolder(extra.dir);
      return { label: extra.label, records: other.records, teacherPerplexity: other.summary?.teacherPerplexity ?? null };
    }),
  ];
  const plans = [lossChart(run.records), perplexityChart(runs), learningRateChart(run.records)];

  // Charts first, so the HTML can inline exactly the bytes that were written.
  const images = new Map<string, Buffer>();
  for (const plan of plans) {
    if ('missing' in plan) continue;
    const png = await lineChartPng(plan.spec);
    writeFileAtomic(join(outDir, plan.file), (fd) => writeAll(fd, png));
    images.set(plan.file, png);
  }

  const title = options.title ?? `Distillation report: ${label}`;
  const setup = setupLine(run);
  const blocks = [
    `# ${title}`,
    [`Run folder: ${inlineCode(resolve(runDir))}.`, setup ? `Setup: ${setup}.` : ''].filter(Boolean).join(' '),
    '## Summary',
    summaryMarkdown(run.summary),
    ...(options.comparison ? ['## Comparison', markdownTable(options.comparison.headers, options.comparison.rows)] : []),
    '## Training curves',
    ...plans.map(chartMarkdown),
    '## Configuration',
    run.configText === null ? '_config.yaml not found in the run folder._' : `\`\`\`yaml\n${run.configText.trimEnd()}\n\`\`\``,
    ...(options.sections ?? []).flatMap((s) => [`## ${s.title}`, s.markdown.trim()]),
  ];
  const markdown = `${blocks.join('\n\n')}\n`;
  const html = markdownToHtmlPage(markdown, {
    title,
    imageSrc: (path) => {
      const png = images.get(path);
      return png ? `data:image/png;base64,${png.toString('base64')}` : path;
    },
  });
  const markdownPath = join(outDir, 'report.md');
  const htmlPath = join(outDir, 'report.html');
  writeTextAtomic(markdownPath, markdown);
  writeTextAtomic(htmlPath, html);
  return { markdown, html, pngs: [...images.keys()].map((f) => join(outDir, f)), markdownPath, htmlPath };
}
