// Prints two `bench kd --json` runs side by side: this machine's libtorch build and the libtorch 2.x
// lane's (scripts/test-libtorch2.sh --bench-kd). Usage: compare-bench-lanes.mjs A.jsonl B.jsonl A_VERSION B_VERSION
import { readFileSync } from 'node:fs';

const [fileA, fileB, versionA, versionB] = process.argv.slice(2);
const read = (file) => new Map(readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line)).map((r) => [r.mode, r]));
const [a, b] = [read(fileA), read(fileB)];
const cell = (value, width) => String(value ?? '—').padStart(width);
console.log(`${'mode'.padEnd(14)}${cell(`tok/s ${versionA}`, 16)}${cell(`tok/s ${versionB}`, 16)}${cell('ratio', 8)}${cell(`MB ${versionA}`, 13)}${cell(`MB ${versionB}`, 13)}`);
for (const [mode, x] of a) {
  const y = b.get(mode);
  const ratio = y ? (y.tokens_per_s / x.tokens_per_s).toFixed(2) : null;
  console.log(`${mode.padEnd(14)}${cell(x.tokens_per_s, 16)}${cell(y?.tokens_per_s, 16)}${cell(ratio, 8)}${cell(x.step_working_mb, 13)}${cell(y?.step_working_mb, 13)}`);
}
