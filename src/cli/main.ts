// The `distillery` command line. Registering a command (its name, description and options) loads no
// heavy module: each action imports what it runs when it runs, so `--help`, `--version` and usage
// errors answer in about the time Node and commander take to start.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { errorLine, intOption, reportFatal, USAGE_EXIT_CODE } from './errors.js';
import { registerBenchKd } from './commands/bench-kd.js';
import { registerBenchDdp } from './commands/bench-ddp.js';
import { registerBenchModel } from './commands/bench-model.js';
import { registerBenchServe } from './commands/bench-serve.js';
import { registerCacheTeacher } from './commands/cache-teacher.js';
import { registerDemo } from './commands/demo.js';
import { registerDistill } from './commands/distill-options.js';
import { registerEval } from './commands/eval.js';
import { registerGenerate } from './commands/generate.js';
import { registerGenerateData } from './commands/generate-data.js';
import { registerInit } from './commands/init.js';
import { registerMergeLora } from './commands/merge-lora.js';
import { registerReport } from './commands/report.js';
import { registerServe } from './commands/serve.js';
import { registerSetup } from './commands/setup.js';

const NO_LIBTORCH = new Set(['setup', 'report']);
/** package.json is two folders up from both src/cli/main.ts and dist/cli/main.js. */
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** commander's "error: unknown option '--alpah'\n(Did you mean --alpha?)" as one line of ours. */
function usageLine(message: string): string {
  return errorLine(message.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' '));
}

const program = new Command()
  .name('distillery')
  .description('Distill large causal language models into small ones (TypeScript over libtorch).')
  .version(version, '-V, --version', 'print the version')
  // Inherited by every command registered below; a usage error exits through the catch at the end.
  .configureOutput({ outputError: (message, write) => write(`${usageLine(message)}\n`) })
  .exitOverride()
  // Commands that compute go through libtorch: say so up front when its BLAS is the slow one.
  // (setup and report never load the addon: setup builds it.)
  .hook('preAction', async (_program, action) => {
    if (!NO_LIBTORCH.has(action.name())) (await import('../tensor/index.js')).warnIfSlowBlas();
  });

program
  .command('selfcheck')
  .description('build-and-train smoke test: trains a small character model and checks the loss falls and memory stays flat')
  .option('--steps <n>', 'training steps', intOption('--steps', 1, 1_000_000), 300)
  .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
  .option('--seed <n>', 'random seed', intOption('--seed', 0), 0)
  .action(async (opts: { steps: number; device: string; seed: number }) => {
    const [{ runSelfCheck }, { checkDevice }] = await Promise.all([import('./selfcheck.js'), import('./device.js')]);
    const result = runSelfCheck({ steps: opts.steps, device: checkDevice(opts.device), seed: opts.seed });
    if (!result.passed) process.exitCode = 1;
  });

registerCacheTeacher(program);
registerDemo(program);
registerDistill(program);
registerEval(program);
registerGenerate(program);
registerGenerateData(program);
registerInit(program);
registerMergeLora(program);
registerReport(program);
registerServe(program);
registerSetup(program);

const bench = program.command('bench').description('benchmarks that print figures');
registerBenchModel(bench);
registerBenchKd(bench);
registerBenchDdp(bench);
registerBenchServe(bench);
bench
  .command('ops')
  .description('matmul GFLOP/s, MLP forward+backward throughput and binding overhead, with thread settings')
  .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
  .option('--sizes <list>', 'square matmul sizes, comma-separated', '256,512,1024,2048')
  .option('--json', 'one JSON object per line')
  .action(async (opts: { device: string; sizes: string; json?: boolean }) => {
    const sizes = opts.sizes.split(',').map((s) => intOption('--sizes', 1, 16384)(s.trim()));
    const [{ runBenchOps }, { checkDevice }] = await Promise.all([import('./bench-ops.js'), import('./device.js')]);
    runBenchOps({ device: checkDevice(opts.device), json: opts.json ?? false, sizes });
  });

// A usage error is one line and where to look, not the whole help: each command names its own.
(function pointToHelp(command: Command, path: string): void {
  command.showHelpAfterError(`see '${path} --help'`);
  for (const sub of command.commands) pointToHelp(sub, `${path} ${sub.name()}`);
})(program, 'distillery');

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // commander signals --help and --version (exit code 0) and its usage errors through exceptions
  // here; so does a missing command, after printing the help to stderr.
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : USAGE_EXIT_CODE);
  reportFatal(error);
}
