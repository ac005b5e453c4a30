// `distillery distill`: teacher → student distillation. Every option is a flag and a --config YAML
// key (flags win); see src/distill/config.ts for the table of options and their defaults.
import { type Command, Option } from 'commander';
import { flagOf, OPTIONS, readConfigFile, resolveConfig } from '../../distill/config.js';
import { distill } from '../../distill/trainer.js';
import { writeRunReport } from '../../report/run-report.js';
import { checkDevice } from '../device.js';
import { createProgress } from '../progress.js';


export function registerDistill(program: Command): void {
  const command = program
    .command('distill')
    .description('distill a teacher into a student: loss = α·KD(τ) + (1−α)·CE, AdamW, evaluation, checkpoints')
    .option('--config <file>', 'YAML file of options (keys as the flags, with _ for -); flags override it');
  for (const spec of OPTIONS) {
    const flag = flagOf(spec.key);
    const fallback = spec.default === undefined || spec.default === null ? '' : ` (default ${JSON.stringify(spec.default)})`;
    if (spec.kind === 'bool') {
      command.addOption(new Option(flag, `${spec.help}${fallback}`));
      command.addOption(new Option(`--no-${flag.slice(2)}`, `turn ${flag} off`));
    } else {
      const choices = spec.choices ? ` [${spec.choices.join('|')}]` : '';
      command.addOption(new Option(`${flag} <value>`, `${spec.help}${choices}${fallback}`));
    }
  }
  command.action(async (flags: Record<string, unknown>) => {
    const given: Record<string, unknown> = {};
    for (const spec of OPTIONS) if (command.getOptionValueSource(spec.key) === 'cli') given[spec.key] = flags[spec.key];
    const config = resolveConfig(given, typeof flags.config === 'string' ? readConfigFile(flags.config) : {});
    checkDevice(config.device);
    if (config.teacherDevice) checkDevice(config.teacherDevice);

    const progress = createProgress(config.logEvery);
    let stops = 0;
    const onSignal = () => {
      stops++;
      if (stops > 1) process.exit(130);
      progress.log('stopping after this step: saving a checkpoint (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      const result = await distill(config, { log: progress.log, onStep: progress.update, stopRequested: () => stops > 0 });
      progress.stop();
      if (result.interruptedAt !== null) process.exitCode = 130;
      else {
        const report = await writeRunReport(config.out);
        console.log(`done: student in ${result.studentDir}, metrics in ${config.metrics ?? `${config.out}/metrics.jsonl`}, report in ${report.htmlPath}`);
      }
    } finally {
      progress.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}
