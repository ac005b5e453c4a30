// Type-checked by scripts/test-package.sh against the installed tarball in a project with neither
// @types/node nor (in a second pass) the DOM lib, and skipLibCheck off: the shipped declarations
// must not lean on types the consumer did not ask for. Uses no Node or DOM global itself.
import {
  AddonMissingError, ConfigError, DataError, DiskSpaceError, distill, distillRecords, type DistillOptions, DivergenceError, type EvalRecord, evaluate, FileWriteError,
  HubError, MemoryLimitError, MemoryPlanError, type MetricsRecord, MissingSplitError, ModelConfigError, NonFiniteLossError, OptionsError, ResumableLinesError,
  RunFolderError, type RunSummary, SafetensorsError, TokenizerError, type TrainRecord,
} from 'distillery';
import { type Tensor, tidy, zeros } from 'distillery/tensor';

/** What a caller does with the API's errors: each is its own class. */
export function describe(error: unknown): string {
  if (error instanceof OptionsError || error instanceof ConfigError) return `bad option: ${error.message}`;
  if (error instanceof MissingSplitError) return `no such split: ${error.message}`;
  if (error instanceof DataError || error instanceof TokenizerError) return `bad data: ${error.message}`;
  if (error instanceof ModelConfigError || error instanceof SafetensorsError || error instanceof HubError) return `bad model: ${error.message}`;
  if (error instanceof MemoryPlanError || error instanceof MemoryLimitError || error instanceof DiskSpaceError) return `does not fit: ${error.message}`;
  if (error instanceof FileWriteError) return `could not write: ${error.message}`;
  if (error instanceof NonFiniteLossError || error instanceof DivergenceError) return `diverged: ${error.message}`;
  if (error instanceof AddonMissingError) return 'run `npx distillery setup`';
  if (error instanceof ResumableLinesError || error instanceof RunFolderError) return error.message;
  return String(error);
}

/** camelCase everywhere in TypeScript: the summary and both kinds of records. */
export async function run(options: DistillOptions, out: string): Promise<string> {
  const lines: string[] = [];
  for await (const record of distillRecords({ ...options, out })) lines.push(line(record));
  const { summary } = await distill({ ...options, resume: out, onRecord: (r) => lines.push(line(r)) });
  const s: RunSummary | null = summary;
  const held = await evaluate({ model: `${out}/student`, data: 'heldout.jsonl' });
  return `${lines.join('\n')}\n${s?.gapClosed ?? '-'} ${s?.peakRssMb ?? '-'} ${held.perplexity}`;
}

function line(record: MetricsRecord): string {
  if (record.type === 'train') {
    const train: TrainRecord = record;
    return `${train.step} ${train.kdLoss} ${train.ceLoss ?? '-'} ${train.tokensPerS} ${train.peakRssMb ?? '-'}`;
  }
  const evaluation: EvalRecord = record;
  return `${evaluation.step} ${evaluation.studentPerplexity} ${evaluation.klTeacherStudent ?? '-'}`;
}

export const sum: number = tidy(() => zeros([2, 3]).add(1).sum().item());
export const bytes: Uint8Array = tidy((): Tensor => zeros([2])).toBytes();
