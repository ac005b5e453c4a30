// The report's summary table, from summary.json: the end-of-run comparison the distill command
// prints, laid out as "before → after" where a value was measured before training too.
import { fixed, markdownTable, percent } from './markdown-table.js';
import type { SummaryFile } from './run-folder.js';

function beforeAfter(before: number | null, after: number | null, format: (v: number | null) => string): string | null {
  if (before === null && after === null) return null;
  return before === null ? format(after) : `${format(before)} → ${format(after)}`;
}

export function summaryMarkdown(s: SummaryFile | null): string {
  if (s === null) return '_summary.json not found (the run may not have finished): no summary table._';
  const ppl = (v: number | null) => fixed(v, 2);
  const klRange = beforeAfter(s.klTeacherStudentBefore, s.klTeacherStudent, (v) => fixed(v, 4));
  const rows: [string, string | null][] = [
    ['teacher perplexity', s.teacherPerplexity === null ? null : ppl(s.teacherPerplexity)],
    ['student perplexity (before → after)', beforeAfter(s.studentPerplexityBefore, s.studentPerplexityAfter, ppl)],
    ['gap to the teacher closed', s.gapClosed === null ? null : percent(s.gapClosed)],
    ['top-1 agreement with the teacher', beforeAfter(s.top1AgreementBefore, s.top1Agreement, percent)],
    ['KL(teacher ‖ student)', klRange === null ? null : `${klRange} nats/token`],
    ['held-out tokens scored', s.heldOutTokens === null ? null : String(s.heldOutTokens)],
    ['optimizer steps', s.steps === null ? null : String(s.steps)],
    ['training time', s.trainSeconds === null ? null : `${s.trainSeconds.toFixed(1)} s`],
  ];
  const present = rows.filter((r): r is [string, string] => r[1] !== null);
  const notes: string[] = [];
  if (s.teacherPerplexity === null) notes.push('_No teacher measurements in summary.json: teacher perplexity, gap closed, agreement and KL are not available._');
  else if (s.gapClosed !== null) {
    notes.push('_Gap closed = (student perplexity before − after) / (student perplexity before − teacher perplexity); 100 % means the student matches the teacher._');
  }
  return [markdownTable(['metric', 'value'], present), ...notes].join('\n\n');
}
