// writeReport(): a run folder's report (report.md and a self-contained report.html with loss,
// perplexity and throughput charts as PNGs): what `distillery distill` writes at the end.
import { type RunReport, type RunReportOptions, writeRunReport } from '../report/run-report.js';

export type ReportOptions = Pick<RunReportOptions, 'title' | 'outDir' | 'label' | 'extraRuns'>;
export type ReportResult = RunReport;

/** Writes the report of the run in `runDir` (a distill `out` folder); resolves with its paths and text. */
export async function writeReport(runDir: string, options: ReportOptions = {}): Promise<ReportResult> {
  return writeRunReport(runDir, options);
}
