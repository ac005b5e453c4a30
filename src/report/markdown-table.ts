// Markdown tables and the number formats the report uses, in one place so report.md, report.html
// and the tests agree on how a value is written.

export type Cell = string | number | null;

export const MISSING = '—';

export const fixed = (v: number | null, digits: number) => (v === null ? MISSING : v.toFixed(digits));
export const percent = (v: number | null) => (v === null ? MISSING : `${(100 * v).toFixed(1)} %`);

/** Numbers from callers: integers as they are, others to 4 significant digits (1 decimal from 1000 up). */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v) || Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 ? v.toFixed(1) : String(Number(v.toPrecision(4)));
}

const cellText = (c: Cell) => (c === null ? MISSING : typeof c === 'number' ? formatNumber(c) : c);
// A pipe would end the cell and a newline the row.
const escapeCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** A pipe table; columns after the first are right-aligned when every value in them is a number. */
export function markdownTable(headers: string[], rows: Cell[][]): string {
  const numeric = headers.map((_, k) => k > 0 && rows.length > 0 && rows.every((r) => typeof r[k] === 'number' || r[k] === null));
  return [
    `| ${headers.map(escapeCell).join(' | ')} |`,
    `|${numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => `| ${headers.map((_, k) => escapeCell(cellText(r[k] ?? null))).join(' | ')} |`),
  ].join('\n');
}
