// metrics.jsonl: one JSON object per line — a record per optimizer step (type "train") and per
// evaluation (type "eval"). Lines are appended as they happen so a crashed run keeps its history.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeTextAtomic } from '../io/atomic.js';

export type MetricsRecord = { type: 'train' | 'eval'; step: number } & Record<string, unknown>;

export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as MetricsRecord;
      } catch (error) {
        throw new Error(`${path}:${i + 1}: not valid JSON (${(error as Error).message})`);
      }
    });
}

export class MetricsWriter {
  /** `onAppend` sees each record once it is on disk (the API's progress callbacks). */
  constructor(
    readonly path: string,
    private readonly onAppend: (record: MetricsRecord) => void = () => {},
  ) {
    mkdirSync(dirname(path), { recursive: true });
  }

  /** Starts fresh, or — when resuming at `step` — keeps only the records up to that step. */
  start(resumeStep: number | null): void {
    const kept = resumeStep === null ? [] : readMetrics(this.path).filter((r) => r.step <= resumeStep);
    writeTextAtomic(this.path, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }

  append(record: MetricsRecord): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
    this.onAppend(record);
  }
}
