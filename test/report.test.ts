// The run report on a fixed, hand-written run (test/fixtures/report-run): its Markdown, HTML and
// PNGs, what it does when parts of a run are missing, and the `report` command.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Command } from 'commander';
import { registerReport } from '../src/cli/commands/report.js';
import { markdownToHtmlBody } from '../src/report/markdown-html.js';
import { lineChartSvg } from '../src/report/plots.js';
import { lossChart, perplexityChart } from '../src/report/run-charts.js';
import { RunFolderError, readRunFolder } from '../src/report/run-folder.js';
import { writeRunReport } from '../src/report/run-report.js';
import { ema, seriesOf } from '../src/report/series.js';

const FIXTURE = 'test/fixtures/report-run';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const scratch = mkdtempSync(join(tmpdir(), 'distillery-report-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

let copies = 0;
/** A fresh copy of the fixture run, optionally with its files rewritten. */
function runCopy(edit?: (dir: string) => void): string {
  const dir = join(scratch, `run-${++copies}`);
  cpSync(FIXTURE, dir, { recursive: true });
  edit?.(dir);
  return dir;
}

const metricsLines = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const writeMetrics = (dir: string, records: object[]) => writeFileSync(join(dir, 'metrics.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
/** PNG width and height from the IHDR chunk, which always follows the 8-byte signature. */
const pngSize = (png: Buffer) => ({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) });

describe('run report on the fixture run', async () => {
  const dir = runCopy();
  const report = await writeRunReport(dir);

  test('report.md has the sections in order and the summary numbers formatted', () => {
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    assert.equal(md, report.markdown);
    const headings = md.split('\n').filter((l) => l.startsWith('#'));
    assert.deepEqual(headings, ['# Distillation report: run-1', '## Summary', '## Training curves', '## Configuration']);
    assert.match(md, /\| teacher perplexity \| 40\.00 \|/);
    assert.match(md, /\| student perplexity \(before → after\) \| 509\.00 → 95\.00 \|/);
    // By hand: (509 − 95) / (509 − 40) = 414 / 469 = 0.88273 → 88.3 %.
    assert.match(md, /\| gap to the teacher closed \| 88\.3 % \|/);
    assert.match(md, /\| top-1 agreement with the teacher \| 12\.5 % → 43\.8 % \|/);
    assert.match(md, /\| KL\(teacher ‖ student\) \| 2\.5000 → 0\.8750 nats\/token \|/);
    assert.match(md, /\| held-out tokens scored \| 72 \|/);
    assert.match(md, /\| optimizer steps \| 30 \|/);
    assert.match(md, /\| training time \| 12\.3 s \|/);
    assert.match(md, /Setup: teacher `fixtures\/teacher`, student `fixtures\/student`, .*α `0\.7`, τ `2`/);
    for (const png of ['loss.png', 'perplexity.png', 'lr.png']) assert.ok(md.includes(`](${png})`), png);
    assert.ok(md.includes(`\`\`\`yaml\n${readFileSync(join(FIXTURE, 'config.yaml'), 'utf8').trimEnd()}\n\`\`\``));
  });

  test('report.html is self-contained: tables, and the three PNGs inlined byte for byte', () => {
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.equal(html, report.html);
    assert.match(html, /^<!DOCTYPE html>/);
    assert.ok(html.includes('<table>') && html.split('<table>').length === html.split('</table>').length);
    assert.match(html, /<td>gap to the teacher closed<\/td><td>88\.3 %<\/td>/);
    const images = [...html.matchAll(/<img src="data:image\/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)">/g)];
    assert.deepEqual(images.map((m) => m[2]), ['Training loss', 'Held-out perplexity', 'Learning rate']);
    for (const [i, file] of ['loss.png', 'perplexity.png', 'lr.png'].entries()) {
      assert.ok(Buffer.from(images[i]![1]!, 'base64').equals(readFileSync(join(dir, file))), file);
    }
    assert.doesNotMatch(html, /src="(?!data:)/, 'every image is inlined');
    assert.match(html, /<pre><code class="language-yaml">teacher: fixtures\/teacher/);
  });

  test('the PNGs are PNGs, 900 pixels wide', () => {
    assert.deepEqual(report.pngs, ['loss.png', 'perplexity.png', 'lr.png'].map((f) => join(dir, f)));
    for (const path of report.pngs) {
      const png = readFileSync(path);
      assert.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), path);
      const { width, height } = pngSize(png);
      assert.equal(width, 900, path);
      assert.ok(height > 300 && height < 700, `${path}: height ${height}`);
    }
  });

  test('no temporary files are left behind', () => {
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), []);
  });
});

describe('comparing runs, tables and extra sections', () => {
  test('extraRuns add a labelled line per run to the perplexity chart', async () => {
    const kd = runCopy();
    const ce = runCopy((d) => writeMetrics(d, metricsLines(d).map((r) => (r.type === 'eval' ? { ...r, student_perplexity: r.student_perplexity * 1.3 } : r))));
    const runs = [kd, ce].map((d, i) => ({ label: ['KD student', 'CE-only student'][i]!, records: readRunFolder(d).records, teacherPerplexity: 40 }));
    const plan = perplexityChart(runs);
    assert.ok('spec' in plan);
    assert.deepEqual(plan.spec.series.map((s) => s.name), ['KD student', 'CE-only student']);
    assert.deepEqual(plan.spec.series[1]!.points.map((p) => p.y), [509 * 1.3, 210.5 * 1.3, 120.25 * 1.3, 95 * 1.3]);
    assert.deepEqual(plan.spec.referenceLines, [{ name: 'teacher: 40.00', y: 40 }], 'one teacher line when the runs share a teacher');
    const svg = await lineChartSvg(plan.spec);
    for (const label of ['KD student', 'CE-only student', 'teacher: 40.00']) assert.ok(svg.includes(`>${label}</text>`), label);
    assert.match(svg, /stroke-dasharray="7,5"/, 'the teacher line is dashed');

    const report = await writeRunReport(kd, { label: 'KD student', extraRuns: [{ label: 'CE-only student', dir: ce }] });
    assert.match(report.markdown, /Held-out student perplexity, one line per run\. Dashed: the teacher\./);
  });

  test('a single series has no legend; the chart title and axis titles are in the SVG', async () => {
    const svg = await lineChartSvg({ title: 'Learning rate', xTitle: 'optimizer step', yTitle: 'learning rate', series: [{ name: 'lr-series', points: [{ x: 1, y: 1e-3 }, { x: 2, y: 5e-4 }] }] });
    for (const text of ['Learning rate', 'optimizer step', 'learning rate']) assert.ok(svg.includes(`>${text}</text>`), text);
    assert.ok(!svg.includes('>lr-series</text>'), 'no legend entry');
  });

  test('comparison table, extra sections and a custom title; user text is escaped in the HTML', async () => {
    const dir = runCopy();
    const report = await writeRunReport(dir, {
      title: 'KD vs CE',
      comparison: { headers: ['run', 'perplexity', 'gap closed'], rows: [['KD | τ 2', 95, '88.3 %'], ['CE only', 123.456, null]] },
      sections: [{ title: 'Notes', markdown: 'Student is **better**; <script>alert(1)</script>\n\n- one\n- two' }],
    });
    const headings = report.markdown.split('\n').filter((l) => l.startsWith('#'));
    assert.deepEqual(headings, ['# KD vs CE', '## Summary', '## Comparison', '## Training curves', '## Configuration', '## Notes']);
    assert.match(report.markdown, /\| run \| perplexity \| gap closed \|\n\| --- \| ---: \| --- \|\n\| KD \\\| τ 2 \| 95 \| 88\.3 % \|\n\| CE only \| 123\.5 \| — \|/);
    assert.match(report.html, /<td>KD \| τ 2<\/td><td style="text-align:right">95<\/td>/);
    assert.match(report.html, /Student is <strong>better<\/strong>; &lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(report.html, /<ul>\n<li>one<\/li>\n<li>two<\/li>\n<\/ul>/);
    assert.match(report.html, /<title>KD vs CE<\/title>/);
  });
});

describe('runs with parts missing', () => {
  test('a folder without metrics.jsonl is an error naming the file', async () => {
    const dir = runCopy((d) => rmSync(join(d, 'metrics.jsonl')));
    await assert.rejects(writeRunReport(dir), (e: Error) => e instanceof RunFolderError && e.message.includes(join(dir, 'metrics.jsonl')) && /not found/.test(e.message));
    assert.ok(!existsSync(join(dir, 'report.md')));
  });

  test('an empty metrics.jsonl, a missing folder and bad JSON are errors naming the file', async () => {
    const empty = runCopy((d) => writeFileSync(join(d, 'metrics.jsonl'), '\n'));
    await assert.rejects(writeRunReport(empty), new RegExp(`${join(empty, 'metrics.jsonl')} has no training or evaluation records`));
    await assert.rejects(writeRunReport(join(scratch, 'nowhere')), /nowhere is not a folder/);
    const broken = runCopy((d) => writeFileSync(join(d, 'summary.json'), '{"steps": 3'));
    await assert.rejects(writeRunReport(broken), new RegExp(`${join(broken, 'summary.json')}: not valid JSON`));
    const badLine = runCopy((d) => writeFileSync(join(d, 'metrics.jsonl'), '{"type":"train","step":1,"loss":2}\n{oops\n'));
    await assert.rejects(writeRunReport(badLine), new RegExp(`${join(badLine, 'metrics.jsonl')}:2: not valid JSON`));
  });

  test('no eval records and no summary: loss and lr charts only, and the report says what is missing', async () => {
    const dir = runCopy((d) => {
      writeMetrics(d, metricsLines(d).filter((r) => r.type === 'train'));
      rmSync(join(d, 'summary.json'));
    });
    const report = await writeRunReport(dir);
    assert.deepEqual(report.pngs, [join(dir, 'loss.png'), join(dir, 'lr.png')]);
    assert.match(report.markdown, /_No evaluation records in metrics\.jsonl: the perplexity chart is skipped/);
    assert.match(report.html, /<p><em>No evaluation records in metrics\.jsonl: the perplexity chart is skipped/);
    assert.match(report.markdown, /_summary\.json not found/);
    assert.equal((report.html.match(/<img /g) ?? []).length, 2);
  });

  test('no teacher fields: the student line without a teacher line, and the summary says why', async () => {
    const dir = runCopy((d) => {
      writeMetrics(d, metricsLines(d).map((r) => (r.type === 'eval' ? { ...r, teacher_nll: null, teacher_perplexity: null, top1_agreement: null, kl_teacher_student: null } : r)));
      const summary = JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8'));
      for (const k of ['teacher_perplexity', 'gap_closed', 'top1_agreement_before', 'top1_agreement', 'kl_teacher_student_before', 'kl_teacher_student']) summary[k] = null;
      writeFileSync(join(d, 'summary.json'), JSON.stringify(summary));
      rmSync(join(d, 'config.yaml'));
    });
    const report = await writeRunReport(dir);
    assert.equal(report.pngs.length, 3);
    assert.match(report.markdown, /No teacher perplexity was recorded, so there is no teacher line/);
    assert.match(report.markdown, /_No teacher measurements in summary\.json/);
    assert.match(report.markdown, /\| student perplexity \(before → after\) \| 509\.00 → 95\.00 \|/);
    assert.doesNotMatch(report.markdown, /teacher perplexity \|/);
    assert.match(report.markdown, /_config\.yaml not found in the run folder\._/);
  });
});

describe('series helpers', () => {
  test('seriesOf keeps one value per step (the last record wins) in step order, skipping nulls', () => {
    const records = [
      { type: 'eval' as const, step: 10, student_perplexity: 7 },
      { type: 'eval' as const, step: 0, student_perplexity: 9 },
      { type: 'eval' as const, step: 10, student_perplexity: 6 },
      { type: 'eval' as const, step: 20, student_perplexity: null },
      { type: 'train' as const, step: 5, student_perplexity: 1 },
    ];
    assert.deepEqual(seriesOf(records, 'eval', 'student_perplexity'), [{ x: 0, y: 9 }, { x: 10, y: 6 }]);
  });

  test('ema is bias-corrected: a constant stays constant, and steps are weighted by hand', () => {
    assert.deepEqual(ema([{ x: 1, y: 4 }, { x: 2, y: 4 }], 0.5).map((p) => p.y), [4, 4]);
    // weight 0.5 on [0, 4]: averages 0, 2; corrections 1/(1−0.5), 1/(1−0.25) → 0, 2/0.75.
    assert.deepEqual(ema([{ x: 1, y: 0 }, { x: 2, y: 4 }], 0.5).map((p) => p.y), [0, 2 / 0.75]);
  });

  test('the HTML converter keeps code spans literal and renders pipe tables', () => {
    const html = markdownToHtmlBody('Use `a | b <c>` here.\n\n| x | y |\n| --- | ---: |\n| 1 | 2 |', { title: 't' });
    assert.match(html, /<p>Use <code>a \| b &lt;c&gt;<\/code> here\.<\/p>/);
    assert.match(html, /<th>x<\/th><th style="text-align:right">y<\/th>/);
    assert.equal(markdownToHtmlBody('_a note about teacher_perplexity._ and *this*', { title: 't' }), '<p><em>a note about teacher_perplexity.</em> and <em>this</em></p>');
  });

  test('with α = 0 the loss chart draws the total once, not again as its CE term', () => {
    const records = [1, 2, 3].map((step) => ({ type: 'train' as const, step, loss: 5 - step, kd_loss: 0, ce_loss: 5 - step }));
    const plan = lossChart(records);
    assert.ok('spec' in plan);
    assert.deepEqual(plan.spec.series.map((s) => s.name), ['total (α·KD + (1−α)·CE; on-policy batches: KD)']);
  });
});

describe('distillery report', () => {
  test('the registered command writes the report and prints the paths', async () => {
    const dir = runCopy();
    const program = new Command().exitOverride();
    registerReport(program);
    const printed: string[] = [];
    const log = console.log;
    console.log = (line: string) => void printed.push(line);
    try {
      await program.parseAsync(['node', 'distillery', 'report', dir, '--title', 'Fixture run']);
    } finally {
      console.log = log;
    }
    assert.deepEqual(printed, ['report.md', 'report.html', 'loss.png', 'perplexity.png', 'lr.png'].map((f) => join(dir, f)));
    assert.match(readFileSync(join(dir, 'report.md'), 'utf8'), /^# Fixture run\n/);
  });

  test('a folder that is not a run folder is a usage error naming the file', async () => {
    const program = new Command().exitOverride();
    registerReport(program);
    await assert.rejects(program.parseAsync(['node', 'distillery', 'report', scratch]), (e: Error) => e.name === 'UsageError' && e.message.includes(join(scratch, 'metrics.jsonl')));
  });

  const wired = readFileSync('src/cli/main.ts', 'utf8').includes('registerReport');
  test('bin/distillery.mjs report RUN_DIR', { skip: wired ? false : 'registerReport is not wired into src/cli/main.ts yet' }, () => {
    const dir = runCopy();
    const ok = spawnSync(process.execPath, ['bin/distillery.mjs', 'report', dir], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(ok.stdout.trim().split('\n'), ['report.md', 'report.html', 'loss.png', 'perplexity.png', 'lr.png'].map((f) => join(dir, f)));
    const bad = spawnSync(process.execPath, ['bin/distillery.mjs', 'report', scratch], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /distillery: error: .*metrics\.jsonl not found/);
    assert.doesNotMatch(bad.stderr, /at .*\.ts:\d+/);
  });
});
