// Reading what `distillery distill --out DIR` leaves behind: metrics.jsonl (required), summary.json
// and config.yaml (optional: a report of a crashed or interrupted run is still useful).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { camelCaseKeys } from './key-case.js';
import { type MetricsRecord, readMetrics } from './metrics.js';

/** The folder is not a run folder, or one of its files is unreadable; the message names the path. */
export class RunFolderError extends Error {
  override name = 'RunFolderError';
}

/** summary.json as the report reads it (its snake_case keys camelCased): every field may be absent or null. */
export interface SummaryFile {
  heldOutTokens: number | null;
  teacherPerplexity: number | null;
  studentPerplexityBefore: number | null;
  studentPerplexityAfter: number | null;
  gapClosed: number | null;
  top1AgreementBefore: number | null;
  top1Agreement: number | null;
  klTeacherStudentBefore: number | null;
  klTeacherStudent: number | null;
  steps: number | null;
  trainSeconds: number | null;
}

const SUMMARY_FIELDS: (keyof SummaryFile)[] = [
  'heldOutTokens', 'teacherPerplexity', 'studentPerplexityBefore', 'studentPerplexityAfter', 'gapClosed',
  'top1AgreementBefore', 'top1Agreement', 'klTeacherStudentBefore', 'klTeacherStudent', 'steps', 'trainSeconds',
];

export interface RunFolder {
  dir: string;
  metricsPath: string;
  records: MetricsRecord[];
  summary: SummaryFile | null;
  /** config.yaml verbatim, and parsed (null when absent or not a YAML mapping). */
  configText: string | null;
  config: Record<string, unknown> | null;
}

function readConfig(dir: string): { text: string | null; config: Record<string, unknown> | null } {
  const path = join(dir, 'config.yaml');
  if (!existsSync(path)) return { text: null, config: null };
  const text = readFileSync(path, 'utf8');
  try {
    const doc: unknown = parseYaml(text);
    return { text, config: doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : null };
  } catch {
    return { text, config: null }; // still shown verbatim; only the header line loses its details
  }
}

function readSummary(dir: string): SummaryFile | null {
  const path = join(dir, 'summary.json');
  if (!existsSync(path)) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new RunFolderError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new RunFolderError(`${path}: expected a JSON object`);
  // snake_case keys (gap_closed), and the camelCase ones (gapClosed) that earlier versions wrote.
  const fields = camelCaseKeys(doc);
  const value = (k: keyof SummaryFile) => {
    const v = fields[k];
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  };
  return Object.fromEntries(SUMMARY_FIELDS.map((k) => [k, value(k)])) as unknown as SummaryFile;
}

export function readRunFolder(dir: string): RunFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new RunFolderError(`${dir} is not a folder (expected a run folder written by \`distillery distill --out\`)`);
  const { text: configText, config } = readConfig(dir);
  // A run may have sent its metrics elsewhere with --metrics; config.yaml records where.
  const configured = typeof config?.metrics === 'string' ? config.metrics : null;
  const local = join(dir, 'metrics.jsonl');
  const metricsPath = existsSync(local) || configured === null ? local : isAbsolute(configured) ? configured : resolve(configured);
  if (!existsSync(metricsPath)) {
    throw new RunFolderError(`${metricsPath} not found: ${dir} is not a run folder (expected metrics.jsonl from \`distillery distill --out\`)`);
  }
  let all: MetricsRecord[];
  try {
    all = readMetrics(metricsPath);
  } catch (error) {
    throw new RunFolderError((error as Error).message); // already names the file and line
  }
  const records = all.filter((r) => r !== null && typeof r === 'object' && (r.type === 'train' || r.type === 'eval'));
  if (records.length === 0) throw new RunFolderError(`${metricsPath} has no training or evaluation records`);
  return { dir, metricsPath, records, summary: readSummary(dir), configText, config };
}
