// The run folder (--out) is the user's work: a run never writes into another run's folder, and a
// folder appears only once everything that could refuse the run has been checked (the models are
// loaded, the data prepared, the plan made), so a refused run leaves nothing behind to trip the next.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { writeTextAtomic } from '../io/atomic.js';
import { ConfigError, configToYaml, type DistillConfig } from './config.js';

/** What a run writes into its folder (and what --overwrite removes; anything else there is left alone). */
const RUN_OUTPUTS = ['checkpoints', 'student', 'student-merged', 'metrics.jsonl', 'summary.json', 'config.yaml', 'report.md', 'report.html', 'loss.png', 'perplexity.png', 'lr.png'];

/** The run folder a --resume path belongs to: the folder itself, or OUT for OUT/checkpoints/step-N (as written, not made absolute). */
export function runFolderOf(resumePath: string): string {
  const parent = dirname(resolve(resumePath));
  return /^step-\d{8}$/.test(basename(resolve(resumePath))) && basename(parent) === 'checkpoints' ? dirname(dirname(resumePath)) : resumePath;
}

/** The run resumes into its own folder (not a new --out that starts from its checkpoint). */
function resumesInPlace(config: DistillConfig): boolean {
  return config.resume !== null && resolve(runFolderOf(config.resume)) === resolve(config.out);
}

/**
 * Refuses an --out that would mix two runs: an existing folder with files in it, unless it is the
 * folder being resumed or --overwrite replaces it. Called before anything is read or loaded.
 */
export function checkRunFolder(config: DistillConfig): void {
  const out = config.out;
  if (!existsSync(out)) return;
  if (!statSync(out).isDirectory()) throw new ConfigError(`--out ${out} is a file; the run needs a folder (a new path, or an empty folder)`);
  if (resumesInPlace(config)) return;
  const entries = readdirSync(out);
  if (entries.length === 0 || config.overwrite) return;
  const isRun = entries.some((name) => RUN_OUTPUTS.includes(name));
  throw new ConfigError(
    `--out ${out} ${isRun ? 'holds a run already' : `already has files (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''})`}: ` +
      `${isRun ? `continue it with --resume ${out}, ` : ''}choose another folder, or pass --overwrite to replace ${isRun ? 'it' : "a run's files there"}`,
  );
}

/** Creates the run folder as training starts (replacing an old run's outputs under --overwrite) and writes config.yaml. */
export function openRunFolder(config: DistillConfig): void {
  if (config.overwrite && !resumesInPlace(config)) for (const name of RUN_OUTPUTS) rmSync(join(config.out, name), { recursive: true, force: true });
  mkdirSync(config.out, { recursive: true });
  writeTextAtomic(join(config.out, 'config.yaml'), configToYaml(config));
}
