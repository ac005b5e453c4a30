// The `distillery` command line.
import { Command } from 'commander';
import { runBenchOps } from './bench-ops.js';
import { checkDevice } from './device.js';
import { intOption, reportFatal } from './errors.js';
import { runSelfCheck } from './selfcheck.js';
import { registerBenchKd } from './commands/bench-kd.js';
import { registerBenchDdp } from './commands/bench-ddp.js';
import { registerBenchModel } from './commands/bench-model.js';
import { registerCacheTeacher } from './commands/cache-teacher.js';
import { registerDemo } from './commands/demo.js';
import { registerDistill } from './commands/distill.js';
import { registerEval } from './commands/eval.js';
import { registerGenerate } from './commands/generate.js';
import { registerGenerateData } from './commands/generate-data.js';
import { registerInit } from './commands/init.js';
import { registerReport } from './commands/report.js';
import { registerSetup } from './commands/setup.js';
import { warnIfSlowBlas } from '../tensor/index.js';

const NO_LIBTORCH = new Set(['setup', 'report']);

const program = new Command()
  .name('distillery')
  .description('Distill large causal language models into small ones (TypeScript over libtorch).')
  .showHelpAfterError()
  .exitOverride()
  // Commands that compute go through libtorch: say so up front when its BLAS is the slow one.
  // (setup and report never load the addon: setup builds it.)
  .hook('preAction', (_program, action) => {
    if (!NO_LIBTORCH.has(action.name())) warnIfSlowBlas();
  });

program
  .command('selfcheck')
  .description('build-and-train smoke test: trains a small character model and checks the loss falls and memory stays flat')
  .option('--steps <n>', 'training steps', intOption('--steps', 1, 1_000_000), 300)
  .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
  .option('--seed <n>', 'random seed', intOption('--seed', 0), 0)
  .action((opts: { steps: number; device: string; seed: number }) => {
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
registerReport(program);
registerSetup(program);

const bench = program.command('bench').description('benchmarks that print figures');
registerBenchModel(bench);
registerBenchKd(bench);
registerBenchDdp(bench);
bench
  .command('ops')
  .description('matmul GFLOP/s, MLP forward+backward throughput and binding overhead, with thread settings')
  .option('--device <device>', "'cpu' or 'cuda[:N]'", 'cpu')
  .option('--sizes <list>', 'square matmul sizes, comma-separated', '256,512,1024,2048')
  .option('--json', 'one JSON object per line')
  .action((opts: { device: string; sizes: string; json?: boolean }) => {
    const sizes = opts.sizes.split(',').map((s) => intOption('--sizes', 1, 16384)(s.trim()));
    runBenchOps({ device: checkDevice(opts.device), json: opts.json ?? false, sizes });
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // commander signals --help / --version and its own usage errors through exceptions here.
  const code = (error as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
  if (code?.startsWith('commander.')) process.exit((error as { exitCode?: number }).exitCode ?? 1);
  reportFatal(error);
}
