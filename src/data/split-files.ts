// Which files of a folder (or a Hugging Face dataset snapshot) make up a split. The keywords and
// the rule that they must stand between delimiters are those of the `datasets` library's
// `data_files` patterns, so `openassistant_best_replies_train.jsonl`, `data/train-00000-of-00001.parquet`
// and `test/0000.parquet` are found, while `constraint.jsonl` is not mistaken for a train file.
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { DataError, MissingSplitError } from './errors.js';
import { DATA_EXTENSIONS, isDataFileName } from './read-file.js';

export type Split = 'train' | 'test' | 'validation';

const SPLIT_KEYWORDS: Record<Split, readonly string[]> = {
  train: ['train', 'training'],
  validation: ['validation', 'valid', 'dev', 'val'],
  test: ['test', 'testing', 'eval', 'evaluation'],
};

// Repository metadata that shares an extension with data files.
const NOT_DATA = /^(readme|license|licence|notice|citation|requirements|dataset_infos?\.json$|dataset_dict\.json$|state\.json$)/i;

/** Every data file under `dir` (following symlinks, as a hub snapshot's files are), as sorted relative paths. */
export function listDataFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (folder: string) => {
    for (const name of readdirSync(folder).sort()) {
      if (name.startsWith('.')) continue; // .git, .cache, .gitattributes
      const path = join(folder, name);
      const stat = statSync(path, { throwIfNoEntry: false });
      if (stat?.isDirectory()) walk(path);
      else if (stat?.isFile() && isDataFileName(name) && !NOT_DATA.test(name)) found.push(relative(dir, path).split(sep).join('/'));
    }
  };
  walk(dir);
  return found;
}

function namedFor(file: string, split: Split): boolean {
  const lower = file.toLowerCase();
  return SPLIT_KEYWORDS[split].some((word) => new RegExp(`(^|[-._ 0-9/])${word}($|[-._ 0-9/])`).test(lower));
}

/**
 * The files of `split`: those named for it; for a held-out split ('test' or 'validation') the other
 * held-out split's files when it has none (datasets name their held-out files eval, test or
 * validation interchangeably); else the files named for no split (all of them when none is named).
 * Files named only for other splits are never substituted: training on the test file, or
 * evaluating on the training file, would be silent leakage.
 */
export function selectSplitFiles(files: readonly string[], split: Split, where: string): string[] {
  if (files.length === 0) throw new DataError(`${where}: no data files (${DATA_EXTENSIONS.join(', ')}) found`);
  const named = files.filter((f) => namedFor(f, split));
  if (named.length > 0) return named;
  if (split !== 'train') {
    const otherHeldOut = files.filter((f) => namedFor(f, split === 'test' ? 'validation' : 'test'));
    if (otherHeldOut.length > 0) return otherHeldOut;
  }
  const unnamed = files.filter((f) => !(Object.keys(SPLIT_KEYWORDS) as Split[]).some((s) => namedFor(f, s)));
  if (unnamed.length > 0) return unnamed;
  const words = (Object.entries(SPLIT_KEYWORDS) as [Split, readonly string[]][]).map(([s, w]) => `${s}: ${w.join('/')}`).join('; ');
  throw new MissingSplitError(
    `${where}: no files for the '${split}' split among ${files.join(', ')} (a file belongs to a split when its path names it — ${words}); ` +
      `pick another split, or hold out part of the training data instead`,
    split,
    files,
  );
}
