// From metrics.jsonl records to plottable series: one value per step (a resumed run may repeat a
// step; the last record wins, as it is the one the run continued from), light smoothing for noisy
// per-step training values, and the choice of a log axis when values span orders of magnitude.
import type { MetricsRecord } from './metrics.js';
import type { Point } from './plots.js';

/** The finite numeric `field` of each record of `type`, by step, the last record of a step winning. */
export function seriesOf(records: MetricsRecord[], type: 'train' | 'eval', field: string): Point[] {
  const byStep = new Map<number, number>();
  for (const r of records) {
    const y = r[field];
    if (r.type !== type || typeof r.step !== 'number' || typeof y !== 'number' || !Number.isFinite(y)) continue;
    byStep.set(r.step, y);
  }
  return [...byStep].map(([x, y]) => ({ x, y })).sort((a, b) => a.x - b.x);
}

/**
 * How strongly to smooth `n` per-step points: none for short runs (every point matters and the
 * curve is readable), rising towards 0.9 (an effective window of ~10 steps) for long ones.
 */
export function smoothingWeight(n: number): number {
  return n < 20 ? 0 : Math.min(0.9, 1 - 20 / n);
}

/** Exponential moving average with bias correction (as TensorBoard does), so early points are not dragged to 0. */
export function ema(points: Point[], weight: number): Point[] {
  if (weight <= 0) return points;
  let average = 0;
  return points.map((p, i) => {
    average = weight * average + (1 - weight) * p.y;
    return { x: p.x, y: average / (1 - weight ** (i + 1)) };
  });
}

/** A log axis when all values are positive and they span more than a factor `ratio`. */
export function wantsLogAxis(values: number[], ratio = 20): boolean {
  if (values.length === 0 || values.some((v) => !(v > 0))) return false;
  return Math.max(...values) / Math.min(...values) > ratio;
}

/** The last non-null number of `field` among the records of `type`, or null. */
export function lastValue(records: MetricsRecord[], type: 'train' | 'eval', field: string): number | null {
  const points = seriesOf(records, type, field);
  return points.length ? points[points.length - 1]!.y : null;
}
