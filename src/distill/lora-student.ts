// A LoRA student (--lora-rank R): the student's weights frozen in its compute dtype, adapters on its
// linear layers the only trainable tensors (PEFT's initialisation: B = 0, so step 0 is the base
// model exactly). Checkpoints and OUT/student hold the adapter as a PEFT folder; --merge-lora adds
// OUT/student-merged, the base with the adapters folded in.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildFolderAtomic } from '../io/atomic.js';
import type { DecoderConfig } from '../models/decoder/config.js';
import type { CausalLM } from '../models/decoder/model.js';
import { applyLora, type LoraAdapter, type LoraConfig, loadLoraAdapter, loraConfig, mergeLoraFolders, saveLoraAdapter } from '../models/lora/index.js';
import type { DistillConfig } from './config.js';
import type { PreparedRun } from './prepare.js';

/** Characters that make a --lora-targets value a regular expression rather than a module name ('.' alone does not: self_attn.q_proj is a name). */
const REGEX = /[\\^$*+?()[\]{}|]/;

/**
 * The adapters' settings, or null for full fine-tuning. --lora-targets takes PEFT's target_modules:
 * names (comma-separated or repeated), 'all-linear', or one regular expression over module paths.
 */
export function studentLoraConfig(config: Pick<DistillConfig, 'loraRank' | 'loraAlpha' | 'loraDropout' | 'loraTargets' | 'useRslora'>): LoraConfig | null {
  if (config.loraRank === 0) return null;
  const given = config.loraTargets === null ? null : [config.loraTargets].flat().flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
  const targets = given === null ? undefined : given.length === 1 && (given[0] === 'all-linear' || REGEX.test(given[0]!)) ? given[0]! : given;
  return loraConfig({ rank: config.loraRank, alpha: config.loraAlpha ?? 2 * config.loraRank, dropout: config.loraDropout, useRslora: config.useRslora, targetModules: targets });
}

/** The run's adapter settings: a --student adapter folder's own, else the --lora-* options' (null: full fine-tuning). */
export function runLoraConfig(config: DistillConfig, prepared: Pick<PreparedRun, 'studentAdapter'>): LoraConfig | null {
  return prepared.studentAdapter?.config ?? studentLoraConfig(config);
}

/** The base the run's adapter goes on, as adapter_config.json names it. */
export function runLoraBase(config: DistillConfig, prepared: Pick<PreparedRun, 'studentAdapter'>): string {
  return prepared.studentAdapter?.baseName ?? baseModelName(config.student);
}

/**
 * Adapters on `student` (which they freeze): new ones (A drawn from the global generator, seeded by
 * the run), or a checkpoint's `resumeFrom` adapter folder.
 */
export function attachAdapters(student: CausalLM, lora: LoraConfig, resumeFrom: string | null): LoraAdapter {
  return resumeFrom ? loadLoraAdapter(student, resumeFrom) : applyLora(student, lora, { source: '--lora-rank/--lora-targets' });
}

/** The adapter's size on a decoder, for the memory plan (before any weight is loaded). */
export interface AdapterSize {
  /** Trainable parameters: r·(in + out) per adapted layer. */
  parameters: number;
  /** Per token and decoder layer, the input features of the adapted layers (each adapter keeps its input for A's gradient). */
  inputFeaturesPerLayer: number;
}

/**
 * The adapted layers of one decoder layer by their PEFT names: every one for 'all-linear' or a
 * regular expression (counted as the default would: an upper bound), else those named.
 */
export function adapterSize(c: DecoderConfig, lora: LoraConfig): AdapterSize {
  const q = c.numAttentionHeads * c.headDim;
  const kv = c.numKeyValueHeads * c.headDim;
  const h = c.hiddenSize;
  const layers: Record<string, [number, number]> = {
    q_proj: [h, q], k_proj: [h, kv], v_proj: [h, kv], o_proj: [q, h], gate_proj: [h, c.intermediateSize], up_proj: [h, c.intermediateSize], down_proj: [c.intermediateSize, h],
  };
  const named = Array.isArray(lora.targetModules) ? Object.entries(layers).filter(([name]) => (lora.targetModules as readonly string[]).some((t) => t === name || t.endsWith(`.${name}`))) : Object.entries(layers);
  const perLayer = named.reduce((n, [, [inF, outF]]) => n + lora.rank * (inF + outF), 0);
  return { parameters: perLayer * c.numHiddenLayers, inputFeaturesPerLayer: named.reduce((n, [, [inF]]) => n + inF, 0) };
}

/** What adapter_config.json names as the base: a local folder as an absolute path (the run's cwd is not the reader's), else the repo id. */
export function baseModelName(student: string): string {
  return existsSync(student) ? resolve(student) : student;
}

/** The run's student: the adapter as a PEFT folder naming its base. */
export function writeAdapterStudent(adapter: LoraAdapter, studentDir: string, base: string, log: (line: string) => void): void {
  saveAdapterFolder(adapter, studentDir, base);
  log(`student written to ${studentDir} (a PEFT LoRA adapter of ${base})`);
}

/**
 * --merge-lora: the base with the adapter folded in, merged from the base's own file in its dtype
 * (not from the run's frozen copy, which may be bf16).
 */
export function mergeStudent(baseFolder: string, studentDir: string, merged: string, log: (line: string) => void): void {
  mergeLoraFolders(baseFolder, studentDir, merged);
  log(`merged student written to ${merged} (W + scale·B·A)`);
}

/** The adapter as a PEFT folder at `dir`, built beside it and renamed into place. */
export function saveAdapterFolder(adapter: LoraAdapter, dir: string, baseName: string): void {
  buildFolderAtomic(dir, (temporary) => saveLoraAdapter(adapter, temporary, { baseModelNameOrPath: baseName }));
}
