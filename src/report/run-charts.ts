// Which charts a run report draws and from which metrics: training loss with its KD and CE parts,
// held-out perplexity against the teacher (one line per run when runs are compared), learning rate.
// A chart whose data is missing becomes a note saying so instead of an empty picture.
import type { MetricsRecord } from './metrics.js';
import type { LineChartSpec, Series } from './plots.js';
import { ema, lastValue, seriesOf, smoothingWeight, wantsLogAxis } from './series.js';

export interface LabelledRun {
  label: string;
  records: MetricsRecord[];
  /** summary.json's teacher perplexity, used when eval records carry none. */
  teacherPerplexity: number | null;
}

export type ChartPlan = { file: string; caption: string; spec: LineChartSpec } | { file: string; caption: string; missing: string };

const values = (series: Series[]) => series.flatMap((s) => s.points.map((p) => p.y));
const nonZero = (s: Series) => s.points.some((p) => p.y !== 0);
const sameValues = (a: Series, b: Series) =>
  a.points.length === b.points.length && a.points.every((p, i) => p.x === b.points[i]!.x && Math.abs(p.y - b.points[i]!.y) <= 1e-9 * Math.max(1, Math.abs(p.y)));

export function lossChart(records: MetricsRecord[]): ChartPlan {
  const file = 'loss.png';
  const caption = 'Training loss per optimizer step, with its distillation (KD) and cross-entropy (CE) parts.';
  const parts: [string, string][] = [
    ['loss', 'total (α·KD + (1−α)·CE; on-policy batches: KD)'],
    ['kd_loss', 'KD term (τ²·divergence)'],
    ['ce_loss', 'CE term (cross-entropy)'],
  ];
  const [total, ...terms] = parts.map(([field, name]) => ({ name, points: seriesOf(records, 'train', field) })).filter((s) => s.points.length > 0 && nonZero(s));
  // With α = 0 or 1 one term is the total; drawing both would hide one line under the other.
  const raw = total ? [total, ...terms.filter((t) => !sameValues(t, total))] : terms;
  if (raw.length === 0) return { file, caption, missing: 'No training records with a loss in metrics.jsonl: the loss chart is skipped.' };
  const weight = smoothingWeight(Math.max(...raw.map((s) => s.points.length)));
  const series = raw.map((s) => (weight > 0 ? { name: s.name, points: ema(s.points, weight), raw: s.points } : s));
  return {
    file,
    caption,
    spec: {
      title: 'Training loss',
      subtitle: weight > 0 ? `lines: exponential moving average (weight ${weight.toFixed(2)}); faint: per-step values` : 'per-step values',
      xTitle: 'optimizer step',
      yTitle: 'loss (nats per target token)',
      series,
      // KD and CE often differ by orders of magnitude; a log axis keeps both readable.
      logY: wantsLogAxis(values(raw)),
    },
  };
}

export function perplexityChart(runs: LabelledRun[]): ChartPlan {
  const file = 'perplexity.png';
  const caption = runs.length > 1 ? 'Held-out student perplexity, one line per run.' : 'Held-out student perplexity.';
  const series = runs
    .map((r) => ({ name: runs.length > 1 ? r.label : 'student', points: seriesOf(r.records, 'eval', 'student_perplexity') }))
    .filter((s) => s.points.length > 0);
  if (series.length === 0) return { file, caption, missing: 'No evaluation records in metrics.jsonl: the perplexity chart is skipped (evaluate with --eval-every or a held-out set).' };
  // One teacher line when every run measured the same teacher (the usual comparison), else one per run.
  const teachers = runs
    .map((r) => ({ label: r.label, y: lastValue(r.records, 'eval', 'teacher_perplexity') ?? r.teacherPerplexity }))
    .filter((t): t is { label: string; y: number } => t.y !== null);
  const same = teachers.every((t) => Math.abs(t.y - teachers[0]!.y) <= 1e-9 * Math.abs(teachers[0]!.y));
  const referenceLines = (same ? teachers.slice(0, 1) : teachers).map((t) => ({
    name: `teacher${same ? '' : ` (${t.label})`}: ${t.y.toFixed(2)}`,
    y: t.y,
  }));
  const all = [...values(series), ...referenceLines.map((r) => r.y)];
  return {
    file,
    caption: `${caption} ${teachers.length ? 'Dashed: the teacher.' : 'No teacher perplexity was recorded, so there is no teacher line.'}`,
    spec: {
      title: 'Held-out perplexity',
      subtitle: 'lower is better; step 0 is the student before training',
      xTitle: 'optimizer step',
      yTitle: 'perplexity (e^(mean NLL per token))',
      series,
      referenceLines,
      logY: wantsLogAxis(all, 5),
    },
  };
}

export function learningRateChart(records: MetricsRecord[]): ChartPlan {
  const file = 'lr.png';
  const points = seriesOf(records, 'train', 'lr');
  const caption = 'Learning rate per optimizer step (the schedule as applied).';
  if (points.length === 0) return { file, caption, missing: 'No learning rates in metrics.jsonl: the learning-rate chart is skipped.' };
  return {
    file,
    caption,
    spec: { title: 'Learning rate', xTitle: 'optimizer step', yTitle: 'learning rate (AdamW step size)', series: [{ name: 'lr', points }], yFormat: '~e', yZero: true },
  };
}
