// The command line as a user runs it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { Command } from 'commander';
import { registerBenchDdp } from '../src/cli/commands/bench-ddp.js';
import { registerBenchKd } from '../src/cli/commands/bench-kd.js';
import { registerBenchModel } from '../src/cli/commands/bench-model.js';
import { registerBenchServe } from '../src/cli/commands/bench-serve.js';
import { registerCacheTeacher } from '../src/cli/commands/cache-teacher.js';
import { registerDemo } from '../src/cli/commands/demo.js';
import { registerDistill } from '../src/cli/commands/distill-options.js';
import { registerEval } from '../src/cli/commands/eval.js';
import { registerGenerate } from '../src/cli/commands/generate.js';
import { registerGenerateData } from '../src/cli/commands/generate-data.js';
import { registerInit } from '../src/cli/commands/init.js';
import { registerMergeLora } from '../src/cli/commands/merge-lora.js';
import { registerReport } from '../src/cli/commands/report.js';
import { registerServe } from '../src/cli/commands/serve.js';
import { registerSetup } from '../src/cli/commands/setup.js';

const run = (...args: string[]) => spawnSync(process.execPath, ['bin/distillery.mjs', ...args], { encoding: 'utf8', timeout: 120_000 });

describe('distillery CLI', () => {
  test('selfcheck trains and reports a falling loss and flat memory', () => {
    const result = run('selfcheck', '--steps', '150');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /libtorch \d/);
    assert.match(result.stdout, /selfcheck passed/);
    const [, before, after] = /loss ([\d.]+) -> ([\d.]+)/.exec(result.stdout) ?? [];
    assert.ok(Number(after) < Number(before) * 0.6, result.stdout);
  });

  test('bench ops --json prints one parseable record per measurement with thread settings', () => {
    const result = run('bench', 'ops', '--json', '--sizes', '64,128');
    assert.equal(result.status, 0, result.stderr);
    const records = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(records[0].bench, 'environment');
    assert.ok(records[0].intra_op_threads >= 1);
    const matmuls = records.filter((r) => r.bench === 'matmul');
    assert.deepEqual(matmuls.map((r) => r.n), [64, 128, 1024]);
    assert.ok(matmuls.every((r) => r.gflops > 0));
    assert.ok(records.some((r) => r.bench === 'mlp_fwd_bwd' && r.tokens_per_s > 0));
  });

  test('bad flag values give one clear line naming the flag, not a stack trace, and exit 2', () => {
    const steps = run('selfcheck', '--steps', 'many');
    assert.equal(steps.status, 2);
    assert.equal(steps.stderr, "distillery: error: --steps must be an integer in [1, 1000000], got 'many'\n");
    const device = run('selfcheck', '--device', 'gpu7');
    assert.equal(device.status, 2);
    assert.equal(device.stderr, "distillery: error: --device must be 'cpu' or 'cuda[:N]', got 'gpu7'\n");
  });

  test('usage errors are one line (with the suggestion) and where to look, not the help, and exit 2', () => {
    const cases: [string[], string, string][] = [
      [['distill', '--alpah', '0.5'], "unknown option '--alpah' (Did you mean --alpha?)", 'distillery distill'],
      [['distil', '--alpha', '0.5'], "unknown command 'distil' (Did you mean distill?)", 'distillery'],
      [['bench', 'kd', '--teacher', 't', '--student', 's', '--dtype', 'float64'], "option '--dtype <dtype>' argument 'float64' is invalid. Allowed choices are float32, bfloat16.", 'distillery bench kd'],
      [['eval', '--input-ids', '1,2'], "required option '--model <path|ORG/NAME>' not specified", 'distillery eval'],
      [['report'], "missing required argument 'run_dir'", 'distillery report'],
      [['init', '--out'], "option '--out <dir>' argument missing", 'distillery init'],
    ];
    for (const [args, message, command] of cases) {
      const result = run(...args);
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '', args.join(' '));
      assert.deepEqual(result.stderr.split('\n'), [`distillery: error: ${message}`, `see '${command} --help'`, ''], args.join(' '));
    }
  });

  test('--version prints the version of package.json', () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = run(flag);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stdout, `${version}\n`);
    }
  });

  test('distill --help shows each value name, the choices and the default as every command does', () => {
    const result = run('distill', '--help');
    assert.equal(result.status, 0, result.stderr);
    const help = result.stdout.replace(/\s+/g, ' '); // columns padded, descriptions wrapped
    assert.match(help, /--alpha <number> weight of the distillation term: loss = α·KD \+ \(1−α\)·CE \(default: 0\.7\)/);
    assert.match(help, /--batch-size <n> sequences per micro-batch \(default: 4\)/);
    assert.match(help, /--teacher <path\|ORG\/NAME> teacher model/);
    assert.match(help, /--loss <name> divergence of the KD term \(choices: "forward-kl", "reverse-kl", "jsd", "skew-kl", "tvd", default: "forward-kl"\)/);
    assert.match(help, /--response-only train only on response tokens .*\(default: true\)/);
    assert.doesNotMatch(help, /<value>/);
  });

  test('every option of every command names its value and shows a default one way', () => {
    const program = new Command();
    for (const register of [registerCacheTeacher, registerDemo, registerDistill, registerEval, registerGenerate, registerGenerateData, registerInit, registerMergeLora, registerReport, registerServe, registerSetup]) register(program);
    const bench = program.command('bench');
    for (const register of [registerBenchModel, registerBenchKd, registerBenchDdp, registerBenchServe]) register(bench);
    const commands = [...program.commands, ...bench.commands].filter((c) => c.name() !== 'bench');
    assert.equal(commands.length, 15);
    for (const command of commands) {
      const help = command.helpInformation();
      // Defaults read '(default: X)' (commander's own form) or, where computed, '(default: what)'.
      assert.doesNotMatch(help, /\(default [^:]/, command.name());
      for (const option of command.options) {
        if (option.negate || option.hidden) continue;
        // An option takes a named value unless it is a switch (no default, or a boolean one).
        if (!option.required && !option.optional) assert.ok(option.defaultValue === undefined || typeof option.defaultValue === 'boolean', `${command.name()} ${option.flags}`);
        else assert.match(option.flags, /<[^>]+>$/, `${command.name()} ${option.flags}`);
      }
    }
  });

  test('the modules --help loads leave out the tensor layer, models, data, reports and every package but commander', () => {
    const seen = staticImports('src/cli/main.ts');
    const heavy = [...seen].filter((m) =>
      (m.startsWith('src/') && /^src\/(tensor\/(?!dtype\.ts)|native\/|nn\/|tokenizer\/|data\/|report\/|demo\/|api\/|distributed\/|models\/qwen3\/(model|weights|init|generate)\.ts)/.test(m)) ||
      (!m.startsWith('src/') && !m.startsWith('node:') && m !== 'commander'),
    );
    assert.deepEqual(heavy, []);
    assert.ok(seen.has('src/cli/commands/distill-options.ts') && seen.has('src/distill/config.ts'), 'the walk follows the registrations');
  });
});

/** The modules a module loads before it runs, transitively: static imports and re-exports, not `import type` or import(). */
function staticImports(entry: string, seen = new Set<string>()): Set<string> {
  seen.add(entry);
  const source = readFileSync(entry, 'utf8');
  for (const [, typeOnly, clause, specifier] of source.matchAll(/^(?:import|export)\s+(?:(type\s+)?([\w$*{},\s]+?)\s+from\s+)?['"]([^'"]+)['"]/gm)) {
    if (typeOnly || /^\{\s*(type\s+\w+\s*,?\s*)+\}$/.test(clause ?? '')) continue;
    if (!specifier!.startsWith('.')) {
      seen.add(specifier!.startsWith('node:') ? specifier! : specifier!.split('/').slice(0, specifier!.startsWith('@') ? 2 : 1).join('/'));
      continue;
    }
    const target = join(dirname(entry), specifier!).replace(/\.js$/, '.ts');
    if (!seen.has(target)) staticImports(target, seen);
  }
  return seen;
}
