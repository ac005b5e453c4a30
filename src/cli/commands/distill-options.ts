// `distillery distill`'s flags: every option of the table in src/distill/config.ts is a flag (and a
// --config key). This module loads nothing heavy: the action, in distill.ts, is imported when the
// command runs, so `distillery distill --help` answers at once.
import { type Command, Option } from 'commander';
import { type DistillConfig, flagOf, OPTIONS } from '../../distill/config.js';

/** The value name a flag shows in --help, where its kind's (VALUE_OF_KIND) says too little. */
const VALUE_NAMES: Partial<Record<keyof DistillConfig, string>> = {
  teacher: 'path|ORG/NAME',
  student: 'path|ORG/NAME',
  data: 'path|ORG/NAME',
  evalData: 'path|ORG/NAME',
  out: 'dir',
  template: 'text',
  device: 'device',
  teacherDevice: 'device',
  teacherCache: 'dir',
  metrics: 'file',
  resume: 'dir',
  memoryLimit: 'GB',
  distTimeout: 'seconds',
  format: 'format',
  loss: 'name',
  lossImpl: 'impl',
  schedule: 'name',
  dtype: 'dtype',
  teacherDtype: 'dtype',
  distBackend: 'backend',
  gradientCheckpointing: 'mode',
  crossTokenizer: 'method',
  teacherUrl: 'url',
  teacherModel: 'name',
  teacherTimeout: 'seconds',
  teacherWeights: 'w,w,...',
  teacherRoute: 'field',
  loraTargets: 'names',
};
const VALUE_OF_KIND: Record<string, string> = { int: 'n', number: 'number', numbers: 'list', string: 'value', strings: 'value', enum: 'choice' };

export function registerDistill(program: Command): void {
  const command = program
    .command('distill')
    .description('distill a teacher into a student: loss = α·KD(τ) + (1−α)·CE, AdamW, evaluation, checkpoints')
    .option('--config <file>', 'YAML file of options (keys as the flags, with _ for -); flags override it')
    .option('--dry-run', 'print the memory plan (per component, before any weight is loaded) and exit')
    .option('--json', 'with --dry-run: the plan as one JSON line')
    .option('--show-config', 'print the resolved configuration (what OUT/config.yaml records) to stderr before the run');
  for (const spec of OPTIONS) {
    const flag = flagOf(spec.key);
    const option = spec.kind === 'bool' ? new Option(flag, spec.help) : new Option(`${flag} <${VALUE_NAMES[spec.key] ?? VALUE_OF_KIND[spec.kind]}>`, spec.help);
    // Choices and defaults show as commander shows every other command's. Values are checked where
    // --config values are (resolveConfig), and the action takes only the flags given, so a --config
    // value is not overridden by a default.
    if (spec.choices) option.argChoices = [...spec.choices];
    // A repeated flag collects its values (several teachers).
    if (spec.kind === 'strings') option.argParser((value: string, previous: unknown) => (previous === undefined ? value : [previous, value].flat()));
    if (spec.default !== undefined && spec.default !== null) option.default(spec.default);
    command.addOption(option);
    if (spec.kind === 'bool') command.addOption(new Option(`--no-${flag.slice(2)}`, `turn ${flag} off`));
  }
  command.action(async (flags: Record<string, unknown>) => {
    const { distillAction } = await import('./distill.js');
    await distillAction(command)(flags);
  });
}
