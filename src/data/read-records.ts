// `readRecords`: a data file, a folder of them, or a Hugging Face dataset id, to plain records.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hasRepoIdForm, type Env } from '../io/hub/cache.js';
import { DataError } from './errors.js';
import { cachedDatasetSnapshot } from './hub-dataset.js';
import { DATA_EXTENSIONS, isDataFileName, readDataFile } from './read-file.js';
import type { DataRecord } from './read-json.js';
import { listDataFiles, selectSplitFiles, type Split } from './split-files.js';

export interface ReadOptions {
  /** Environment for locating the hub cache (HF_HUB_CACHE, HF_HOME, ...); process.env by default. */
  env?: Env;
  /** Which files of a folder or hub dataset to read; 'train' by default. Ignored for a single file. */
  split?: Split;
}

export interface ReadResult {
  records: DataRecord[];
  /** What was read, for messages: the file, or the folder/dataset with its split and files. */
  source: string;
}

async function readFiles(root: string, label: string, split: Split): Promise<ReadResult> {
  const files = selectSplitFiles(listDataFiles(root), split, label);
  const records: DataRecord[] = [];
  for (const file of files) {
    // push(...) would overflow the stack on large files.
    for (const record of await readDataFile(join(root, file))) records.push(record);
  }
  // A sharded dataset can have hundreds of files: name a few, count the rest.
  const shown = files.length <= 4 ? files.join(', ') : `${files.slice(0, 3).join(', ')}, ... (${files.length} files)`;
  return { records, source: `${label} [${split}: ${shown}]` };
}

export async function readRecords(spec: string, options: ReadOptions = {}): Promise<ReadResult> {
  const split = options.split ?? 'train';
  let result: ReadResult;
  if (existsSync(spec)) {
    result = statSync(spec).isDirectory() ? await readFiles(spec, spec, split) : { records: await readDataFile(spec), source: spec };
  } else if (hasRepoIdForm(spec) && !isDataFileName(spec)) {
    result = await readFiles(cachedDatasetSnapshot(spec, options.env), spec, split);
  } else {
    throw new DataError(
      `${spec}: cannot read (ENOENT) — expected a data file (${DATA_EXTENSIONS.join(', ')}), a folder of them, or a Hugging Face dataset id ORG/NAME`,
    );
  }
  if (result.records.length === 0) throw new DataError(`${result.source}: the dataset has no records`);
  return result;
}
