// Every `distillery distill` option: one table gives its flag, its YAML key, its type, its default
// (the reference setup) and its validation, so flags and --config files resolve the same way and
// every error names the flag or key at fault.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DIVERGENCE_NAMES } from './divergence-names.js';
import { SCHEDULE_NAMES } from './schedule.js';
import { isAdapterFolder } from '../models/lora/config.js';

// The YAML parser loads when a --config file or a run's config.yaml is read or written: the table
// below also makes `distillery distill --help`, which should not wait for it.
const yaml = () => createRequire(import.meta.url)('yaml') as typeof import('yaml');

/** `strings`: one value or several (a repeated flag, a YAML list); `numbers`: a comma-separated list of numbers. */
type Kind = 'string' | 'strings' | 'number' | 'numbers' | 'int' | 'bool' | 'enum';

interface OptionSpec {
  key: keyof DistillConfig;
  kind: Kind;
  help: string;
  default: unknown;
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** Exclusive lower bound for numbers (e.g. temperature > 0). */
  above?: number;
  /**
   * May differ when resuming (where files go, devices, logging, memory tactics): it does not change
   * the result. Every other option must be as the checkpoint recorded it.
   */
  resumable?: true;
}

export interface DistillConfig {
  /**
   * The teacher: a model folder or Hugging Face repo id; several (a list: local folders, teacher
   * caches and http(s) URLs of served teachers, of one tokenizer; `NAME=` before one names it) are
   * mixed (`teacherWeights`) or routed (`teacherRoute`). null only through the API (plain
   * language-model training with α = 0, e.g. a demo's teacher).
   */
  teacher: string | string[] | null;
  student: string;
  data: string;
  out: string;
  evalData: string | null;
  evalRatio: number;
  maxEvalExamples: number;
  maxExamples: number | null;
  format: string;
  template: string;
  responseOnly: boolean;
  maxLength: number;
  alpha: number;
  temperature: number;
  loss: (typeof DIVERGENCE_NAMES)[number];
  lossImpl: 'chunked' | 'naive';
  lossChunkSize: number;
  jsdBeta: number;
  skewLambda: number;
  lr: number;
  weightDecay: number;
  warmupSteps: number;
  warmupRatio: number;
  schedule: (typeof SCHEDULE_NAMES)[number];
  epochs: number;
  maxSteps: number | null;
  batchSize: number;
  gradAccum: number;
  maxGradNorm: number;
  seed: number;
  dtype: 'float32' | 'bfloat16';
  teacherDtype: 'float32' | 'bfloat16' | 'float16';
  device: string;
  teacherDevice: string | null;
  teacherCache: string | null;
  evalEvery: number;
  saveEvery: number;
  keepCheckpoints: number;
  logEvery: number;
  evalBatchSize: number;
  metrics: string | null;
  resume: string | null;
  /** Replace the run already in `out` (its checkpoints, student, metrics, summary): without it such a folder is refused. */
  overwrite: boolean;
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  distBackend: 'auto' | 'gloo' | 'nccl';
  distTimeout: number;
  memoryLimit: number | null;
  gradientCheckpointing: 'auto' | 'on' | 'off';
  /** Probability that a micro-batch is replaced by the student's own completions of its prompts (on-policy KD, as GKD's λ). */
  onPolicyFraction: number;
  /** Sequence-level KD: the teacher's completions replace the reference answers of every micro-batch. */
  seqKd: boolean;
  /** New tokens per completion at most (on-policy and sequence-level KD). */
  maxNewTokens: number;
  /** Sampling temperature of completions; 0 is greedy. */
  generationTemperature: number;
  /** Nucleus (top-p) filtering of completions; 1 is off. */
  generationTopP: number;
  /**
   * A teacher with another tokenizer: its tokens aligned with the student's by the bytes they cover,
   * one-token spans compared as usual and the rest by ULD (gold), or every span by ULD (uld). null: the
   * tokenizers must be the same.
   */
  crossTokenizer: 'gold' | 'uld' | null;
  /** A teacher served over HTTP (vLLM's OpenAI-compatible API, or `distillery serve`): its top-k at the data's tokens. */
  teacherUrl: string | null;
  /** The served model to ask for (default: the server's only, or first, model). */
  teacherModel: string | null;
  /** Log-probabilities per position asked of a served teacher; the KD term is over these k and the tail. */
  teacherTopK: number;
  /** Seconds a served teacher may keep failing (retried with backoff) before the run stops with a checkpoint. */
  teacherTimeout: number;
  /** Several teachers: the weight of each in the mixture Σ w_i·softmax(z_i/τ) (normalised to sum 1); null: equal. */
  teacherWeights: number[] | null;
  /** Several teachers: the record field that names each example's teacher (its NAME=, or its folder's or URL's last part). */
  teacherRoute: string | null;
  /** LoRA: the adapters' rank r; 0 trains every weight of the student (full fine-tuning). */
  loraRank: number;
  /** LoRA: lora_alpha (the update is scaled by α/r, or α/√r with useRslora); null: 2r. */
  loraAlpha: number | null;
  /** LoRA: dropout on each adapter's input (training only). */
  loraDropout: number;
  /** LoRA: PEFT's target_modules — module names (a list, or one comma-separated string), 'all-linear', or one regular expression; null: every linear layer of the decoder. */
  loraTargets: string | string[] | null;
  /** LoRA: rank-stabilised scaling α/√r. */
  useRslora: boolean;
  /** LoRA: also write OUT/student-merged, the student with W + scale·B·A folded in (a full Hugging Face folder). */
  mergeLora: boolean;
}

const N = Number.MAX_SAFE_INTEGER;

/** Defaults reproduce the reference setup: α 0.7, τ 5, AdamW lr 5e-5 constant, 3 epochs, batch 4. */
const TABLE = [
  { key: 'teacher', kind: 'strings', default: undefined, help: 'teacher model folder or Hugging Face repo id (e.g. Qwen/Qwen3-4B); repeat it for several teachers of one tokenizer (folders, teacher caches, http(s) URLs of served teachers; NAME=... names one), mixed by --teacher-weights or routed by --teacher-route' },
  { key: 'student', kind: 'string', default: undefined, help: 'student model folder or repo id to start from (e.g. Qwen/Qwen3-0.6B)' },
  { key: 'data', kind: 'string', default: undefined, help: 'training data: .jsonl/.json/.parquet/.txt file, folder, or dataset repo id' },
  { key: 'out', resumable: true, kind: 'string', default: undefined, help: 'run folder: student/, metrics.jsonl, config.yaml, summary.json, checkpoints/' },
  { key: 'evalData', kind: 'string', default: null, help: 'held-out data (default: the dataset’s eval/test split, else --eval-ratio of --data)' },
  { key: 'evalRatio', kind: 'number', default: 0.1, min: 0, max: 0.9, help: 'fraction of --data held out when there is no eval split' },
  { key: 'maxEvalExamples', kind: 'int', default: 100, min: 1, max: N, help: 'held-out examples used for evaluation' },
  { key: 'maxExamples', kind: 'int', default: null, min: 1, max: N, help: 'use only the first N training examples (the reference used 500)' },
  { key: 'format', kind: 'enum', default: 'auto', choices: ['auto', 'guanaco', 'instruction', 'chat', 'text', 'tokens'], help: 'data format (auto: detected from the fields)' },
  { key: 'template', kind: 'string', default: 'Instruction: {instruction}\nResponse: {response}', help: 'prompt template of the instruction format' },
  { key: 'responseOnly', kind: 'bool', default: true, help: 'train only on response tokens (guanaco, instruction, chat formats)' },
  { key: 'maxLength', kind: 'int', default: 512, min: 2, max: N, help: 'truncate examples to this many tokens' },
  { key: 'alpha', kind: 'number', default: 0.7, min: 0, max: 1, help: 'weight of the distillation term: loss = α·KD + (1−α)·CE' },
  { key: 'temperature', kind: 'number', default: 5.0, above: 0, max: 1000, help: 'softmax temperature τ of the KD term (τ = 1–2 often suits language models better)' },
  { key: 'loss', kind: 'enum', default: 'forward-kl', choices: DIVERGENCE_NAMES, help: 'divergence of the KD term' },
  { key: 'lossImpl', kind: 'enum', default: 'chunked', choices: ['chunked', 'naive'], help: 'chunked: LM heads and loss fused over row chunks (no full tokens × vocabulary tensor); naive: whole logits matrices' },
  { key: 'lossChunkSize', kind: 'int', default: 0, min: 0, max: N, help: 'target rows per chunk of the chunked loss (0: about 40 MiB of logits per chunk, 64 rows at a 151,936-token vocabulary)' },
  { key: 'jsdBeta', kind: 'number', default: 0.5, min: 0, max: 1, help: 'β of --loss jsd' },
  { key: 'skewLambda', kind: 'number', default: 0.1, min: 0, max: 0.999, help: 'λ of --loss skew-kl' },
  { key: 'lr', kind: 'number', default: 5e-5, min: 0, max: 10, help: 'AdamW learning rate (0 allowed)' },
  { key: 'weightDecay', kind: 'number', default: 0.01, min: 0, max: 10, help: 'AdamW decoupled weight decay (not applied to norms and biases)' },
  { key: 'warmupSteps', kind: 'int', default: 0, min: 0, max: N, help: 'linear warm-up steps' },
  { key: 'warmupRatio', kind: 'number', default: 0, min: 0, max: 1, help: 'warm-up as a fraction of all steps (used when --warmup-steps is 0)' },
  { key: 'schedule', kind: 'enum', default: 'constant', choices: SCHEDULE_NAMES, help: 'learning-rate schedule after warm-up' },
  { key: 'epochs', kind: 'number', default: 3, above: 0, max: N, help: 'passes over the training data (fractions allowed)' },
  { key: 'maxSteps', kind: 'int', default: null, min: 1, max: N, help: 'optimizer steps (overrides --epochs)' },
  { key: 'batchSize', kind: 'int', default: 4, min: 1, max: N, help: 'sequences per micro-batch' },
  { key: 'gradAccum', kind: 'int', default: 1, min: 1, max: N, help: 'micro-batches per optimizer step' },
  { key: 'maxGradNorm', kind: 'number', default: 1.0, min: 0, max: N, help: 'clip the global gradient norm (0: off)' },
  { key: 'seed', kind: 'int', default: 42, min: 0, max: 2 ** 31 - 1, help: 'seed of data order and random state' },
  { key: 'dtype', kind: 'enum', default: 'float32', choices: ['float32', 'bfloat16'], help: 'student compute dtype (bfloat16 keeps float32 master weights and loss math)' },
  { key: 'teacherDtype', kind: 'enum', default: 'float32', choices: ['float32', 'bfloat16', 'float16'], help: 'teacher dtype' },
  { key: 'device', resumable: true, kind: 'string', default: 'cpu', help: "student device: 'cpu' or 'cuda[:N]'" },
  { key: 'teacherDevice', resumable: true, kind: 'string', default: null, help: 'teacher device (default: --device)' },
  { key: 'teacherCache', kind: 'string', default: null, help: 'train from an offline teacher cache (distillery cache-teacher) instead of running the teacher' },
  { key: 'teacherUrl', resumable: true, kind: 'string', default: null, help: "a served teacher instead of a local one: the base URL of vLLM's OpenAI-compatible server or of distillery serve (e.g. http://gpu-box:8000/v1)" },
  { key: 'teacherModel', kind: 'string', default: null, help: "the served model to ask for (--teacher-url; default: the server's only model)" },
  { key: 'teacherTopK', kind: 'int', default: 20, min: 1, max: N, help: "top-k log-probabilities per token asked of a served teacher (vLLM's default limit is 20); the KD term is over these and the tail" },
  { key: 'teacherTimeout', resumable: true, kind: 'number', default: 300, above: 0, max: 86400, help: 'seconds a served teacher may keep failing (retried with backoff) before the run stops with a checkpoint' },
  { key: 'teacherWeights', kind: 'numbers', default: null, above: 0, max: N, help: 'several teachers: their weights in the mixture of tempered distributions, in --teacher order (e.g. 0.7,0.3; normalised; default equal)' },
  { key: 'teacherRoute', kind: 'string', default: null, help: "several teachers: the record field naming each example's teacher (a --teacher NAME=, or the last part of its folder or URL); its KD is against that teacher alone" },
  { key: 'loraRank', kind: 'int', default: 0, min: 0, max: 65536, help: 'train LoRA adapters of this rank instead of every weight (0: full fine-tuning); OUT/student is then a PEFT adapter folder' },
  { key: 'loraAlpha', kind: 'number', default: null, above: 0, max: N, help: 'LoRA alpha: the update is scaled by alpha/r (2r when not given)' },
  { key: 'loraDropout', kind: 'number', default: 0, min: 0, max: 0.99, help: "dropout on each LoRA adapter's input (training only)" },
  { key: 'loraTargets', kind: 'strings', default: null, help: "PEFT target_modules: module names, comma-separated (e.g. q_proj,v_proj), 'all-linear', or a regular expression (default: every linear layer of the decoder)" },
  { key: 'useRslora', kind: 'bool', default: false, help: 'rank-stabilised LoRA: scale alpha/sqrt(r) instead of alpha/r' },
  { key: 'mergeLora', resumable: true, kind: 'bool', default: false, help: 'with --lora-rank: also write OUT/student-merged, the student with the adapters folded in (a full Hugging Face folder)' },
  { key: 'crossTokenizer', kind: 'enum', default: null, choices: ['gold', 'uld'], help: "teacher with another tokenizer: gold (one-token spans by --loss over the shared vocabulary, other spans by ULD) or uld (every span by ULD); both align the tokenizations by the bytes each token covers" },
  { key: 'evalEvery', resumable: true, kind: 'int', default: 0, min: 0, max: N, help: 'evaluate every N steps (0: at each epoch end)' },
  { key: 'saveEvery', resumable: true, kind: 'int', default: 0, min: 0, max: N, help: 'checkpoint every N steps (0: only at the end)' },
  { key: 'keepCheckpoints', resumable: true, kind: 'int', default: 2, min: 1, max: N, help: 'checkpoints kept (oldest deleted)' },
  { key: 'logEvery', resumable: true, kind: 'int', default: 10, min: 1, max: N, help: 'print a progress line every N steps when not on a terminal' },
  { key: 'evalBatchSize', resumable: true, kind: 'int', default: 8, min: 1, max: N, help: 'sequences per evaluation batch' },
  { key: 'metrics', resumable: true, kind: 'string', default: null, help: 'metrics file (default: OUT/metrics.jsonl)' },
  { key: 'resume', resumable: true, kind: 'string', default: null, help: 'continue from a checkpoint folder, or the latest checkpoint of a run folder' },
  { key: 'overwrite', resumable: true, kind: 'bool', default: false, help: 'replace the run already in --out (its checkpoints, student, metrics and summary); without it such a folder is refused' },
  { key: 'nprocPerNode', resumable: true, kind: 'int', default: 1, min: 1, max: 1024, help: 'data-parallel worker processes to start on this machine (--batch-size is per process)' },
  { key: 'nnodes', resumable: true, kind: 'int', default: 1, min: 1, max: 65536, help: 'machines in a multi-node run started with --nproc-per-node (each needs MASTER_ADDR/MASTER_PORT of node 0)' },
  { key: 'nodeRank', resumable: true, kind: 'int', default: 0, min: 0, max: 65535, help: 'this machine’s index in a multi-node run, 0 … nnodes−1' },
  { key: 'distBackend', resumable: true, kind: 'enum', default: 'auto', choices: ['auto', 'gloo', 'nccl'], help: 'c10d backend (auto: NCCL on CUDA devices, Gloo on CPU)' },
  { key: 'memoryLimit', resumable: true, kind: 'number', default: null, min: 0, max: N, help: 'memory budget in GB of the student\'s device (default: what is free at start, less a margin); the run is fitted into it or refused before loading' },
  { key: 'gradientCheckpointing', resumable: true, kind: 'enum', default: 'auto', choices: ['auto', 'on', 'off'], help: 'recompute the student\'s decoder layers during backward (auto: only when the memory plan needs it)' },
  { key: 'distTimeout', resumable: true, kind: 'number', default: 600, above: 0, max: 86400, help: 'seconds a rank waits for the others (rendezvous, collectives) before naming the one that is missing' },
  { key: 'onPolicyFraction', kind: 'number', default: 0, min: 0, max: 1, help: "probability that a micro-batch is replaced by the student's own completions of its prompts, trained with the KD term alone (on-policy distillation, GKD's λ)" },
  { key: 'seqKd', kind: 'bool', default: false, help: "sequence-level KD: the teacher's completions replace the reference answers (see also distillery generate-data)" },
  { key: 'maxNewTokens', kind: 'int', default: 128, min: 1, max: N, help: 'new tokens per completion at most (on-policy and sequence-level KD; prompt + completion stay within --max-length)' },
  { key: 'generationTemperature', kind: 'number', default: 1.0, min: 0, max: 100, help: 'sampling temperature of completions (0: greedy)' },
  { key: 'generationTopP', kind: 'number', default: 1.0, above: 0, max: 1, help: 'top-p (nucleus) filtering of completions (1: off)' },
] as const satisfies readonly OptionSpec[];

export const OPTIONS: readonly OptionSpec[] = TABLE;

// DistillConfig stays a documented interface (its TSDoc is what API users see per option); the
// table must cover it exactly: a key without an option, or an option without a key, fails to compile.
type KeysWithoutOption = Exclude<keyof DistillConfig, (typeof TABLE)[number]['key']>;
const everyKeyHasAnOption: [KeysWithoutOption] extends [never] ? true : KeysWithoutOption = true;
void everyKeyHasAnOption;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
export const yamlKeyOf = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const REQUIRED: (keyof DistillConfig)[] = ['teacher', 'student', 'data', 'out'];

function coerce(spec: OptionSpec, raw: unknown, where: string): unknown {
  if (raw === null) {
    if (spec.default === null) return null;
    throw new ConfigError(`${where} cannot be null`);
  }
  const fail = (expected: string): never => {
    throw new ConfigError(`${where} must be ${expected}, got ${JSON.stringify(raw)}`);
  };
  switch (spec.kind) {
    case 'string':
      return typeof raw === 'string' && raw !== '' ? raw : fail('a non-empty string');
    case 'strings': {
      const list = Array.isArray(raw) ? raw : [raw];
      if (list.length === 0 || !list.every((v) => typeof v === 'string' && v !== '')) fail('a non-empty string, or a list of them');
      return list.length === 1 ? list[0] : list;
    }
    case 'numbers': {
      const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : [raw];
      return list.map((v, i) => coerce({ ...spec, kind: 'number' }, v, `${where} (value ${i + 1})`));
    }
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === 'false') return raw === 'true';
      return fail('true or false');
    case 'enum':
      return typeof raw === 'string' && spec.choices!.includes(raw) ? raw : fail(`one of ${spec.choices!.join(', ')}`);
    case 'int':
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      const range = `${spec.above !== undefined ? `> ${spec.above}` : `>= ${spec.min}`}${spec.max !== undefined && spec.max < N ? ` and <= ${spec.max}` : ''}`;
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) fail(`${spec.kind === 'int' ? 'an integer' : 'a number'} ${range}`);
      if ((spec.min !== undefined && n < spec.min) || (spec.above !== undefined && n <= spec.above) || (spec.max !== undefined && n > spec.max)) fail(`${range}`);
      return n;
    }
  }
}

/** Reads a --config YAML file into raw option values keyed by option key. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--config ${path}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let doc: unknown;
  try {
    doc = yaml().parse(text);
  } catch (error) {
    throw new ConfigError(`--config ${path}: not valid YAML (${(error as Error).message.split('\n')[0]})`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`--config ${path}: must be a mapping of option: value`);
  const out: Record<string, unknown> = {};
  const byYaml = new Map(OPTIONS.map((o) => [yamlKeyOf(o.key), o]));
  for (const [rawKey, value] of Object.entries(doc)) {
    const spec = byYaml.get(rawKey.replace(/-/g, '_'));
    if (!spec) throw new ConfigError(`--config ${path}: unknown key '${rawKey}'; valid keys: ${[...byYaml.keys()].join(', ')}`);
    out[spec.key] = coerce(spec, value, `--config ${path}: '${rawKey}'`);
  }
  return out;
}

export interface ResolveOptions {
  /** Plain language-model training (α = 0): no teacher. */
  withoutTeacher?: boolean;
  /**
   * How errors name an option: as a flag (`--max-steps`, the default) or, for the TypeScript API,
   * as its key (`maxSteps`).
   */
  naming?: 'flags' | 'keys';
  /**
   * The settings of the run being resumed (its checkpoint's): the base under the file and the flags,
   * so that `--resume OUT` alone continues the run as it was started.
   */
  resumed?: Record<string, unknown>;
}

/**
 * Defaults, then the YAML file, then flags (flags win). `flags` holds only options given on the
 * command line, as strings or booleans (or, from the API, the options' values).
 */
export function resolveConfig(flags: Record<string, unknown>, fileValues: Record<string, unknown> = {}, options: ResolveOptions = {}): DistillConfig {
  const name = options.naming === 'keys' ? (key: string) => key : flagOf;
  const config: Record<string, unknown> = {};
  for (const spec of OPTIONS) {
    config[spec.key] = spec.default;
    // A checkpoint's settings were validated when its run started; an option it predates keeps its default.
    if (options.resumed?.[spec.key] !== undefined) config[spec.key] = options.resumed[spec.key];
    if (fileValues[spec.key] !== undefined) config[spec.key] = fileValues[spec.key];
    if (flags[spec.key] !== undefined) config[spec.key] = coerce(spec, flags[spec.key], name(spec.key));
  }
  if (options.withoutTeacher) config.teacher = null;
  // With a teacher cache or a served teacher no weights are loaded here, so --teacher is optional.
  const elsewhere = (config.teacherCache ?? null) !== null || (config.teacherUrl ?? null) !== null;
  if (config.teacher === undefined && elsewhere) config.teacher = null;
  const missing = REQUIRED.filter((k) => config[k] === undefined && !(k === 'teacher' && options.withoutTeacher));
  if (missing.length) {
    throw new ConfigError(`missing ${missing.map(name).join(', ')} ${options.naming === 'keys' ? '(required options; teacher may be replaced by teacherCache)' : '(give them as flags or in --config)'}`);
  }
  if (options.withoutTeacher && config.alpha !== 0) throw new ConfigError(`training without a teacher needs ${name('alpha')} 0 (cross-entropy only)`);
  checkGeneration(config as unknown as DistillConfig, name);
  checkServedTeacher(config as unknown as DistillConfig, name);
  checkSeveralTeachers(config as unknown as DistillConfig, name);
  checkLora(config as unknown as DistillConfig, name);
  if (typeof config.teacher === 'string' && config.teacherCache !== null) {
    throw new ConfigError(
      `${name('teacher')} ${config.teacher} and ${name('teacherCache')} ${config.teacherCache} were both given: the cache replaces the teacher (its weights are never loaded); give one of them`,
    );
  }
  if ((config.nodeRank as number) >= (config.nnodes as number)) {
    throw new ConfigError(`${name('nodeRank')} ${config.nodeRank} must be below ${name('nnodes')} ${config.nnodes} (nodes are numbered from 0)`);
  }
  return config as unknown as DistillConfig;
}

/** A served teacher replaces the local one; this version scores the data's own text with it only. */
function checkServedTeacher(config: DistillConfig, name: (key: string) => string): void {
  if (config.teacherUrl === null) {
    if (config.teacherModel !== null) throw new ConfigError(`${name('teacherModel')} names a model of ${name('teacherUrl')}, which was not given`);
    return;
  }
  if (!/^https?:\/\/[^\s/]+/.test(config.teacherUrl)) throw new ConfigError(`${name('teacherUrl')} must be an http:// or https:// URL (e.g. http://gpu-box:8000/v1), got ${JSON.stringify(config.teacherUrl)}`);
  const clash = typeof config.teacher === 'string' ? name('teacher') : config.teacherCache !== null ? name('teacherCache')
    : config.crossTokenizer !== null ? name('crossTokenizer') : config.onPolicyFraction > 0 ? name('onPolicyFraction') : config.seqKd ? name('seqKd') : null;
  if (clash) {
    throw new ConfigError(
      `${name('teacherUrl')} cannot be used with ${clash}: a served teacher here scores the data's own text with the student's tokenizer (${name('teacherModel')} picks the served model)`,
    );
  }
}

/** LoRA's settings mean nothing without a rank. */
function checkLora(config: DistillConfig, name: (key: string) => string): void {
  const given = (keys: readonly (keyof DistillConfig)[]) => keys.find((k) => JSON.stringify(config[k]) !== JSON.stringify(OPTIONS.find((o) => o.key === k)!.default));
  // A --student adapter folder brings its own settings (adapter_config.json) and is trained further.
  if (typeof config.student === 'string' && isAdapterFolder(config.student)) {
    const clash = given(['loraRank', 'loraAlpha', 'loraTargets', 'useRslora', 'loraDropout']);
    if (clash) throw new ConfigError(`${name(clash)} cannot be used with ${name('student')} ${config.student}, a LoRA adapter folder: it is trained further with its own settings (adapter_config.json)`);
    return;
  }
  if (config.loraRank > 0) return;
  const clash = given(['loraAlpha', 'loraTargets', 'mergeLora', 'useRslora', 'loraDropout']);
  if (clash) throw new ConfigError(`${name(clash)} sets up LoRA adapters, but ${name('loraRank')} is 0 (full fine-tuning): give ${name('loraRank')} R (e.g. 16)`);
}

/** Several teachers are all named by --teacher, mixed or routed; what needs one teacher refuses them. */
function checkSeveralTeachers(config: DistillConfig, name: (key: string) => string): void {
  const count = Array.isArray(config.teacher) ? config.teacher.length : 0;
  if (count === 0) {
    const alone = config.teacherWeights !== null ? name('teacherWeights') : config.teacherRoute !== null ? name('teacherRoute') : null;
    if (alone) throw new ConfigError(`${alone} combines several teachers: give ${name('teacher')} more than once`);
    return;
  }
  const clash = config.teacherCache !== null ? name('teacherCache') : config.teacherUrl !== null ? name('teacherUrl') : null;
  if (clash) throw new ConfigError(`with several teachers, give each as ${name('teacher')} (a model folder or repo id, a teacher cache folder, or an http(s) URL of a served teacher) instead of ${clash}`);
  const refused = config.crossTokenizer !== null ? [name('crossTokenizer'), 'several teachers must share the student\'s tokenizer']
    : config.seqKd ? [name('seqKd'), 'sequence-level KD trains on one teacher\'s completions; make them with distillery generate-data --teacher, then distill on that data']
    : config.teacherRoute !== null && config.onPolicyFraction > 0 ? [name('onPolicyFraction'), `${name('teacherRoute')} routes records, and the student's completions are not records`]
    : null;
  if (refused) throw new ConfigError(`${refused[0]} cannot be used with several teachers: ${refused[1]}`);
  if (config.teacherWeights !== null && config.teacherRoute !== null) {
    throw new ConfigError(`${name('teacherWeights')} and ${name('teacherRoute')} were both given: the teachers are either mixed or routed, give one of them`);
  }
  if (config.teacherWeights !== null && config.teacherWeights.length !== count) {
    throw new ConfigError(`${name('teacherWeights')} has ${config.teacherWeights.length} weight(s) for ${count} teachers: give one per ${name('teacher')}, in their order`);
  }
}

/** Completions need a live teacher: a cache only holds the teacher's view of text it has seen. */
function checkGeneration(config: DistillConfig, name: (key: string) => string): void {
  const onPolicy = config.onPolicyFraction > 0;
  if (config.teacherCache !== null && (onPolicy || config.seqKd)) {
    const what = onPolicy ? `${name('onPolicyFraction')} ${config.onPolicyFraction}` : name('seqKd');
    throw new ConfigError(
      `${name('teacherCache')} cannot be used with ${what}: the cache holds the teacher's predictions for the data's own text, and completions are new text; drop ${name('teacherCache')} to run the teacher online`,
    );
  }
  if (config.crossTokenizer !== null) {
    const clash = config.teacherCache !== null ? name('teacherCache') : config.seqKd ? name('seqKd') : null;
    if (clash) {
      const why = clash === name('seqKd')
        ? "the teacher's completions would be in its own tokens; distill the student on them with distillery generate-data, then train on that data"
        : "a cache holds the teacher's top-k at its own token positions, and the spans are found from both tokenizations of each batch; run the teacher online";
      throw new ConfigError(`${name('crossTokenizer')} cannot be used with ${clash}: ${why}`);
    }
  }
  if (config.teacher === null && (onPolicy || config.seqKd)) {
    throw new ConfigError(`${onPolicy ? name('onPolicyFraction') : name('seqKd')} needs a teacher: it scores (or writes) the completions`);
  }
}

/** The resolved configuration as YAML (what DIR/config.yaml holds and the run prints). */
export function configToYaml(config: DistillConfig): string {
  return yaml().stringify(Object.fromEntries(OPTIONS.map((o) => [yamlKeyOf(o.key), config[o.key]])));
}
