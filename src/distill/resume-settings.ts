// `--resume OUT` alone continues a run: its checkpoint holds the settings the run started with,
// which become the base under a --config file and the flags (checked against them at setup).
import { savedRunSettings } from './checkpoint.js';
import { type DistillConfig, resolveConfig, type ResolveOptions } from './config.js';
import { runFolderOf } from './run-folder.js';

/** resolveConfig, with a resumed run's own settings beneath the file and the flags. */
export function resolveRunConfig(flags: Record<string, unknown>, fileValues: Record<string, unknown> = {}, options: ResolveOptions = {}): DistillConfig {
  const resume = flags.resume ?? fileValues.resume;
  if (typeof resume !== 'string' || resume === '') return resolveConfig(flags, fileValues, options);
  const saved = savedRunSettings(resume);
  // The run continues in the folder the checkpoint is in, wherever that folder has moved since.
  return resolveConfig(flags, fileValues, { ...options, resumed: { ...saved, resume, out: runFolderOf(resume) } });
}
