// Resumable checkpoints: OUT/checkpoints/step-00000120/ holds the student (a Hugging Face folder),
// optimizer.safetensors (AdamW moments and step counts) and trainer_state.json (step, data
// position, RNG state, configuration). A checkpoint is written into a temporary folder and renamed
// into place, so a crash never leaves a half checkpoint; only the newest `keep` are kept.
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildFolderAtomic, writeTextAtomic } from '../io/atomic.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors/index.js';
import type { CausalLM } from '../models/decoder/model.js';
import { saveCausalLM } from '../models/decoder/weights.js';
import type { AdamW, AdamWStateDict } from '../nn/index.js';
import { fromBytes, getRngState, type Tensor } from '../tensor/index.js';
import { readJsonFile } from '../io/json-file.js';
import { type LoraAdapter, saveLoraAdapter } from '../models/lora/index.js';

export interface TrainerState {
  /** Optimizer steps completed. */
  step: number;
  totalSteps: number;
  /** Data position: the epoch in progress and how many of its examples were consumed. */
  epoch: number;
  offset: number;
  /** Training examples per epoch (a resumed run must see the same data). */
  examples: number;
  /** Processes of a data-parallel run (absent in checkpoints from before data parallelism: 1). */
  worldSize?: number;
  /** The configuration the run was started with (resume checks the settings that shape the result). */
  config: Record<string, unknown>;
  /** Global RNG state, base64. */
  rng: string;
  /**
   * The held-out comparison before training (an eval record, as metrics.jsonl writes it): the
   * summary's "before" numbers, which a resumed run cannot recompute. Absent in older checkpoints
   * and when there is no held-out data.
   */
  before?: Record<string, number | null> | null;
}

const STEP_DIR = /^step-(\d{8})$/;

export function checkpointDir(runDir: string, step: number): string {
  return join(runDir, 'checkpoints', `step-${String(step).padStart(8, '0')}`);
}

export function saveCheckpoint(
  runDir: string,
  parts: {
    student: CausalLM;
    /** A LoRA student: the checkpoint's student/ is its adapter (PEFT's folder) over `base` (as adapter_config.json names it). */
    adapter?: { adapter: LoraAdapter; base: string } | null;
    optimizer: AdamW;
    state: Omit<TrainerState, 'rng'>;
    tokenizerFrom: string | null;
  },
  keep: number,
): string {
  const target = checkpointDir(runDir, parts.state.step);
  mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
  // Saving a step again (on Ctrl-C) replaces its checkpoint; a complete one exists at every moment.
  buildFolderAtomic(target, (temporary) => {
    if (parts.adapter) saveLoraAdapter(parts.adapter.adapter, join(temporary, 'student'), { baseModelNameOrPath: parts.adapter.base });
    else saveCausalLM(parts.student, join(temporary, 'student'), { dtype: 'float32', copyFrom: parts.tokenizerFrom });
    const optimizer = parts.optimizer.stateDict();
    writeSafetensors(join(temporary, 'optimizer.safetensors'), optimizer.tensors, { steps: JSON.stringify(optimizer.steps), lrs: JSON.stringify(optimizer.lrs) });
    for (const t of optimizer.tensors.values()) t.dispose();
    const rng = getRngState();
    const bytes = rng.toBytes();
    const state: TrainerState = { ...parts.state, rng: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
    rng.dispose();
    writeTextAtomic(join(temporary, 'trainer_state.json'), `${JSON.stringify(state, null, 2)}\n`);
  });
  pruneCheckpoints(runDir, keep);
  return target;
}

export function listCheckpoints(runDir: string): string[] {
  const dir = join(runDir, 'checkpoints');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => STEP_DIR.test(name) && existsSync(join(dir, name, 'trainer_state.json')))
    .sort()
    .map((name) => join(dir, name));
}

function pruneCheckpoints(runDir: string, keep: number): void {
  const all = listCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) rmSync(old, { recursive: true, force: true });
}

export interface LoadedCheckpoint {
  dir: string;
  studentFolder: string;
  state: TrainerState;
  optimizer: AdamWStateDict;
  rngState: Tensor;
}

/** The checkpoint folder `path` names: itself, or a run folder's newest checkpoint. */
function checkpointFolderOf(path: string): string {
  const dir = STEP_DIR.test(basename(path)) ? path : listCheckpoints(path).at(-1);
  if (!dir || !existsSync(join(dir, 'trainer_state.json'))) {
    const started = existsSync(join(path, 'config.yaml')) ? ' (this run stopped before its first checkpoint: start it again with --overwrite)' : '';
    throw new Error(`--resume ${path}: no checkpoint there (expected a run folder with checkpoints/step-NNNNNNNN/ or such a folder itself)${started}`);
  }
  return dir;
}

/**
 * The settings a checkpoint's run was started with (its trainer_state.json), which `--resume PATH`
 * alone continues: the base under a --config file and flags.
 */
export function savedRunSettings(path: string): Record<string, unknown> {
  return (readJsonFile(join(checkpointFolderOf(path), 'trainer_state.json')) as TrainerState).config;
}

/** `path` is a checkpoint folder or a run folder (its newest checkpoint is used). */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const dir = checkpointFolderOf(path);
  const state = readJsonFile(join(dir, 'trainer_state.json')) as TrainerState;
  const file = SafetensorsFile.open(join(dir, 'optimizer.safetensors'));
  const tensors = new Map(file.names().map((name) => [name, file.tensor(name)] as [string, Tensor]));
  const optimizer: AdamWStateDict = { tensors, steps: JSON.parse(file.metadata.steps ?? '[]'), lrs: JSON.parse(file.metadata.lrs ?? '[]') };
  file.close();
  const bytes = Buffer.from(state.rng, 'base64');
  return { dir, studentFolder: join(dir, 'student'), state, optimizer, rngState: fromBytes(bytes, 'uint8', [bytes.length]) };
}
