// A merged model folder: the base's weights with each adapter added (W + scale·B·A, summed in
// float32 and written in the base's dtype), as PEFT's merge_and_unload followed by save_pretrained:
// a full Hugging Face folder that needs no PEFT to load.
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildFolderAtomic } from '../../io/atomic.js';
import { readModelConfig } from '../decoder/config.js';
import { loadCausalLM, saveCausalLM, TOKENIZER_FILES } from '../decoder/weights.js';
import { loadLoraAdapter } from './adapter-folder.js';

export interface MergedFolder {
  /** Layers whose weights changed. */
  mergedLayers: number;
  /** Parameters of the merged model. */
  parameters: number;
  dtype: string;
}

/** Whether writing to `out` could lose a user's files (it exists and is not an empty folder). */
export function holdsFiles(out: string): boolean {
  return existsSync(out) && (!isFolder(out) || readdirSync(out).length > 0);
}

function isFolder(path: string): boolean {
  try {
    readdirSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes base + adapter, merged, as the folder `out` (config, weights in the base's dtype,
 * generation_config.json and tokenizer files from the base; tokenizer files the adapter folder has
 * itself, as trainers often save them, win: they are what the adapter was trained with). `out` is built beside its final place and
 * renamed in, so a failure leaves nothing half-written; it must not hold files already.
 */
export function mergeLoraFolders(baseFolder: string, adapterFolder: string, out: string): MergedFolder {
  if (holdsFiles(out)) throw new Error(`${out} already exists and is not an empty folder; choose a new output folder (nothing is overwritten)`);
  // The base in its own dtype: every weight not adapted is copied bit for bit.
  const dtype = readModelConfig(join(baseFolder, 'config.json')).torchDtype;
  const model = loadCausalLM(baseFolder, { dtype });
  try {
    const adapter = loadLoraAdapter(model, adapterFolder);
    const mergedLayers = adapter.layers.size;
    adapter.merge();
    buildFolderAtomic(out, (dir) => {
      saveCausalLM(model, dir, { dtype, copyFrom: baseFolder });
      for (const file of TOKENIZER_FILES) if (existsSync(join(adapterFolder, file))) copyFileSync(join(adapterFolder, file), join(dir, file));
    });
    return { mergedLayers, parameters: model.numParameters(), dtype };
  } finally {
    model.dispose();
  }
}
