// Setting up a distillation run (torchtune's setup, before the training loop): the configuration
// logged, data prepared, a resume checked against the checkpoint, memory planned before any weight
// is loaded, the run folder made, the teacher (or its cache) and the student loaded, optimizer and
// schedule built, the data cursor and the metrics file positioned. What holds memory is released by
// the setup's dispose().
import { join } from 'node:path';
import { padBatch } from '../data/index.js';
import type { ScoredBatch } from '../eval/compare.js';
import type { CausalLM } from '../models/decoder/model.js';
import { loadCausalLM } from '../models/decoder/weights.js';
import { AdamW, decayParamGroups } from '../nn/index.js';
import { MetricsWriter } from '../report/metrics.js';
import { manualSeed, setRngState, type Tensor } from '../tensor/index.js';
import { BatchCursor, batchSizeFor } from './batches.js';
import { type LoadedCheckpoint, loadCheckpoint } from './checkpoint.js';
import { promptLength } from './completions.js';
import { ConfigError, type DistillConfig, OPTIONS, yamlKeyOf } from './config.js';
import { checkDiskSpace } from './disk-space.js';
import { checkRunFolder, openRunFolder } from './run-folder.js';
import { DataParallel } from './data-parallel.js';
import type { Divergence } from './divergences.js';
import type { LossSettings } from './loss.js';
import { planRun, precisionHint, type RunPlan } from './memory/run-plan.js';
import { StudentPrecision } from './precision.js';
import { type PreparedEnsemble, type PreparedRun, prepareRun } from './prepare.js';
import type { EnsembleMember, TeacherEnsemble } from './teacher-ensemble/ensemble.js';
import { mixtureWeights } from './teacher-ensemble/teacher-list.js';
import { attachAdapters, runLoraConfig } from './lora-student.js';
import type { LoraAdapter } from '../models/lora/index.js';
import type { ScheduleSettings } from './schedule.js';
import { TeacherCache } from './teacher-cache/reader.js';
import { OnlineTeacher } from './teacher.js';
import { ServedTeacher } from './teacher-service/served-teacher.js';
import { releaseVocabularyTensors } from './cross-tokenizer/signal.js';
import type { CompletionPlan } from './step-micro-batches.js';
import { readGenerationDefaults, stopTokenIds } from '../models/open-model.js';
import type { ProcessGroup } from '../distributed/process-group.js';
import type { DistillHooks } from './hooks.js';

export interface RunSetup {
  config: DistillConfig;
  parallel: DataParallel;
  /** Rank 0: it speaks for the run and writes its files. */
  main: boolean;
  log: (line: string) => void;
  prepared: PreparedRun;
  resumed: LoadedCheckpoint | null;
  plan: RunPlan;
  device: string;
  teacher: OnlineTeacher | null;
  cache: TeacherCache | null;
  /** A teacher served over HTTP (--teacher-url): each step's rows are fetched ahead (trainer.ts). */
  served: ServedTeacher | null;
  /** Several teachers (--teacher more than once): `teacher` is then the first local one (evaluation, completions). */
  ensemble: TeacherEnsemble | null;
  /** Every local teacher by name (each one's held-out KL is reported); with one teacher, empty. */
  localTeachers: { name: string; model: CausalLM }[];
  /** float32 master weights (what the optimizer updates and checkpoints hold); with LoRA, the frozen base carrying the adapters. */
  master: CausalLM;
  /** --lora-rank: the student's adapters (what the optimizer updates and checkpoints hold); else null. */
  adapter: LoraAdapter | null;
  /** The tensors training updates: every master weight, or the adapters'. */
  trainable: Tensor[];
  precision: StudentPrecision;
  optimizer: AdamW;
  microBatchesPerStep: number;
  /** Sequences per micro-batch: --batch-size, or every training example when there are fewer. */
  batchSize: number;
  stepsPerEpoch: number;
  totalSteps: number;
  schedule: ScheduleSettings;
  loss: LossSettings;
  /** Optimizer steps already done (a resumed run's checkpoint step, else 0). */
  startStep: number;
  cursor: BatchCursor;
  metrics: MetricsWriter | null;
  evalBatches: ScoredBatch[];
  /** How completions are made, when the run trains on any (on-policy or sequence-level KD); else null. */
  completion: CompletionPlan | null;
  /** Releases the models' memory and closes the teacher cache. */
  dispose(): void;
}

function divergenceOf(config: DistillConfig): Divergence {
  if (config.loss === 'jsd') return { kind: 'jsd', beta: config.jsdBeta };
  if (config.loss === 'skew-kl') return { kind: 'skew-kl', lambda: config.skewLambda };
  return { kind: config.loss };
}

function scoredBatches(prepared: PreparedRun, batchSize: number): ScoredBatch[] {
  const out: ScoredBatch[] = [];
  for (let i = 0; i < prepared.heldOut.length; i += batchSize) out.push(padBatch(prepared.heldOut.slice(i, i + batchSize), prepared.padId));
  return out;
}

/**
 * Where the run trains on completions, what makes them: the student (on-policy) and the teacher
 * (sequence-level KD) stop at either model's eos ids or the tokenizer's, and choose only ids both
 * vocabularies share.
 */
function completionPlan(config: DistillConfig, prepared: PreparedRun, student: CausalLM, teacher: CausalLM | null, rowsPerPass: number): CompletionPlan | null {
  if (config.onPolicyFraction === 0 && !config.seqKd) return null;
  // A teacher with another tokenizer has stop ids of another vocabulary: only the student's count.
  const teacherDefaults = teacher && prepared.teacherFolder && !prepared.crossTokenizer ? [readGenerationDefaults(prepared.teacherFolder, teacher)] : [];
  const defaults = [readGenerationDefaults(prepared.studentFolder, student), ...teacherDefaults];
  return {
    onPolicyFraction: config.onPolicyFraction,
    seqKd: config.seqKd,
    seed: config.seed,
    student,
    teacher,
    settings: {
      maxNewTokens: config.maxNewTokens, temperature: config.generationTemperature, topP: config.generationTopP, maxLength: config.maxLength,
      eosTokenIds: stopTokenIds(defaults, prepared.eosId), padId: prepared.padId, vocabLimit: prepared.sharedVocab, rowsPerPass,
    },
  };
}

/**
 * Completions continue prompts: data where every token is a target (plain text, --no-response-only,
 * tokens records without labels or loss_mask) has none, and is refused before anything is loaded.
 */
function checkPrompts(config: DistillConfig, prepared: PreparedRun, log: (line: string) => void): void {
  const without = prepared.train.filter((e) => promptLength(e.labels) <= 1).length;
  const flag = config.onPolicyFraction > 0 ? '--on-policy-fraction' : '--seq-kd';
  if (without === prepared.train.length) {
    throw new ConfigError(
      `${flag} needs prompts to continue, but every token of --data ${config.data} is a target (plain text, --no-response-only, or tokens records without labels or loss_mask): nothing comes before an answer`,
    );
  }
  if (without > 0) log(`completions: ${without} of ${prepared.train.length} training examples have no prompt (their first token is followed by targets); they are continued from that one token`);
}

function completionNote(config: DistillConfig): string {
  const sampling = config.generationTemperature === 0 ? 'greedy' : `temperature ${config.generationTemperature}${config.generationTopP < 1 ? `, top-p ${config.generationTopP}` : ''}`;
  const parts = [
    ...(config.onPolicyFraction > 0 ? [`${config.onPolicyFraction === 1 ? 'every' : `${Math.round(config.onPolicyFraction * 100)} % of`} micro-batches on the student's own completions (KD term only)`] : []),
    ...(config.seqKd ? [`${config.onPolicyFraction > 0 ? 'the others' : 'every micro-batch'} on the teacher's completions (sequence-level KD)`] : []),
  ];
  return `completions: ${parts.join('; ')}; up to ${config.maxNewTokens} new tokens, ${sampling}`;
}

function checkResumable(saved: Record<string, unknown>, config: DistillConfig): void {
  // An option the checkpoint predates was at its default then.
  const savedValue = (o: (typeof OPTIONS)[number]) => (o.key in saved ? saved[o.key] : o.default);
  const changed = OPTIONS.filter((o) => !o.resumable && JSON.stringify(savedValue(o)) !== JSON.stringify(config[o.key]));
  if (changed.length > 0) {
    throw new Error(
      `--resume: the checkpoint was made with different settings (${changed.map((o) => `${yamlKeyOf(o.key)}: ${JSON.stringify(savedValue(o))} then, ${JSON.stringify(config[o.key])} now`).join('; ')}); ` +
        'resume with the original settings to continue the same run',
    );
  }
}

/** What the run will do with its data, in its real numbers (a --batch-size beyond the data takes the whole set). */
function trainingLine(config: DistillConfig, examples: number, shape: { batchSize: number; microBatchesPerStep: number; stepsPerEpoch: number; totalSteps: number }): string {
  const { batchSize, microBatchesPerStep, stepsPerEpoch, totalSteps } = shape;
  const perStep = batchSize * microBatchesPerStep;
  const clamped = batchSize < config.batchSize ? `; --batch-size ${config.batchSize} is more than the ${examples} training examples, so each batch is all ${examples}` : '';
  const spans = perStep > examples ? `; a step takes ${perStep} examples, more than one pass over the data` : '';
  return `training: ${totalSteps} steps (${stepsPerEpoch} per epoch, ${perStep} examples per step${microBatchesPerStep > 1 ? `: ${microBatchesPerStep} micro-batches of ${batchSize}` : ''})${clamped}${spans}`;
}

async function openServedTeacher(config: DistillConfig, url: string, prepared: PreparedRun, log: (line: string) => void): Promise<ServedTeacher> {
  const tokenizer = prepared.studentTokenizer;
  const served = await ServedTeacher.open({
    url, topK: config.teacherTopK, timeoutSeconds: config.teacherTimeout, model: config.teacherModel, tokenizer,
    vocabSize: prepared.studentConfig.vocabSize, log,
  });
  log(`teacher service ${url}: ${served.model}, top-${config.teacherTopK} log-probabilities per token${tokenizer ? ', tokenizes as the student' : ''}`);
  return served;
}

/** What a LoRA run trains: the adapters' size against the student's. */
function adapterLine(adapter: LoraAdapter, student: CausalLM): string {
  const count = (ts: Tensor[]) => ts.reduce((n, t) => n + t.numel, 0);
  const trained = count(adapter.parameters());
  const all = count(student.parameters());
  const { rank, alpha, useRslora } = adapter.config;
  return `LoRA: r ${rank}, alpha ${alpha}${useRslora ? ' (rslora)' : ''} on ${adapter.layers.size} linear layers; ${(trained / 1e6).toFixed(2)}M trainable parameters (${((100 * trained) / (all - trained)).toFixed(2)} % of the student's ${((all - trained) / 1e6).toFixed(0)}M)`;
}

/** Several teachers: each local one loaded, each cache opened, each service connected; what was opened is released on a failure. */
async function openEnsemble(
  config: DistillConfig,
  prepared: PreparedRun,
  plan: PreparedEnsemble,
  device: string,
  log: (line: string) => void,
): Promise<{ ensemble: TeacherEnsemble; locals: { name: string; teacher: OnlineTeacher }[] }> {
  const members: EnsembleMember[] = [];
  const locals: { name: string; teacher: OnlineTeacher }[] = [];
  try {
    for (const entry of plan.entries) {
      if (entry.kind === 'model') {
        log(`loading teacher ${entry.name}: ${entry.folder} (${config.teacherDtype}, ${device})`);
        const teacher = new OnlineTeacher(loadCausalLM(entry.folder!, { dtype: config.teacherDtype, device }));
        locals.push({ name: entry.name, teacher });
        members.push({ name: entry.name, kind: 'logits', teacher });
      } else if (entry.kind === 'cache') {
        const cache = TeacherCache.open(entry.ref, prepared.fingerprint);
        log(`teacher ${entry.name}: cache ${entry.ref}, top-${cache.manifest.topK} of ${cache.manifest.teacher}`);
        members.push({ name: entry.name, kind: 'top-k', rows: cache });
      } else {
        members.push({ name: entry.name, kind: 'top-k', rows: null, served: await openServedTeacher(config, entry.ref, prepared, log) });
      }
    }
  } catch (error) {
    releaseMembers(members);
    throw error;
  }
  const combination = plan.teacherOf ? { kind: 'route' as const, teacherOf: plan.teacherOf } : { kind: 'mixture' as const, weights: mixtureWeights(config, members.length) };
  return { ensemble: { members, combination }, locals };
}

/** What an ensemble holds: local teachers' weights, caches' open files. */
function releaseMembers(members: readonly EnsembleMember[]): void {
  for (const m of members) {
    if (m.kind === 'logits') m.teacher.dispose();
    else if (m.rows instanceof TeacherCache) m.rows.close();
  }
}

export async function setupRun(config: DistillConfig, hooks: DistillHooks, processGroup: ProcessGroup | null): Promise<RunSetup> {
  const parallel = new DataParallel(processGroup);
  // Rank 0 speaks for the run and writes its files; the other ranks train silently beside it.
  const main = parallel.isMain;
  const log = main ? hooks.log : () => {};
  // Before anything is read: a run never writes into another run's folder.
  if (main) checkRunFolder(config);
  if (parallel.group) log(`data parallel: ${parallel.worldSize} processes (${parallel.group.backend}), ${config.batchSize} × ${config.gradAccum} examples per rank per step`);
  manualSeed(config.seed);

  const prepared = await prepareRun(config, log);
  const resumed = config.resume === null ? null : loadCheckpoint(config.resume);
  if (resumed) {
    checkResumable(resumed.state.config, config);
    const savedWorld = resumed.state.worldSize ?? 1;
    if (savedWorld !== parallel.worldSize) {
      throw new Error(`--resume: the checkpoint was made by ${savedWorld} process(es), this run has ${parallel.worldSize}; resume with the same world size (--nproc-per-node / WORLD_SIZE) to continue the same run`);
    }
    if (resumed.state.examples !== prepared.train.length) {
      throw new Error(`--resume: the checkpoint saw ${resumed.state.examples} training examples per epoch, this data gives ${prepared.train.length}`);
    }
    log(`resuming from ${resumed.dir} at step ${resumed.state.step}`);
  }

  if (config.onPolicyFraction > 0 || config.seqKd) checkPrompts(config, prepared, log);
  // Planned before any weight is loaded: a run that cannot fit stops here, naming what would.
  const plan = planRun(config, prepared);
  log(plan.reason);
  const hint = precisionHint(config);
  if (hint) log(hint);
  if (main) checkDiskSpace(config, prepared);
  const device = config.device;
  const teacherDevice = config.teacherDevice ?? device;
  let teacher: OnlineTeacher | null = null;
  const cache = config.teacherCache === null ? null : TeacherCache.open(config.teacherCache, prepared.fingerprint);
  if (cache) log(`teacher cache ${config.teacherCache}: top-${cache.manifest.topK} of ${cache.manifest.teacher}, ${cache.manifest.bytesPerToken.toFixed(0)} bytes/token (no teacher loaded)`);
  const served = config.teacherUrl === null ? null : await openServedTeacher(config, config.teacherUrl, prepared, log);
  const opened = prepared.ensemble ? await openEnsemble(config, prepared, prepared.ensemble, teacherDevice, log) : null;
  const ensemble = opened?.ensemble ?? null;
  const localTeachers = (opened?.locals ?? []).map((l) => ({ name: l.name, model: l.teacher.model }));
  if (opened) teacher = opened.locals[0]?.teacher ?? null;
  else if (prepared.teacherFolder !== null && !cache) {
    log(`loading teacher ${prepared.teacherFolder} (${config.teacherDtype}, ${teacherDevice})`);
    teacher = new OnlineTeacher(loadCausalLM(prepared.teacherFolder, { dtype: config.teacherDtype, device: teacherDevice }));
  }
  const lora = runLoraConfig(config, prepared);
  // A LoRA student's base is the data's student, frozen in its compute dtype; a checkpoint holds its adapter.
  const studentSource = lora ? prepared.studentFolder : (resumed?.studentFolder ?? prepared.studentFolder);
  log(`loading student ${studentSource} (${lora ? `frozen, ${config.dtype}` : `float32 master weights${config.dtype === 'bfloat16' ? ', bfloat16 compute' : ''}`}, ${device})`);
  const master: CausalLM = loadCausalLM(studentSource, { dtype: lora ? config.dtype : 'float32', device });
  // A checkpoint's adapter, else a --student adapter folder's, else new adapters.
  const adapter = lora ? attachAdapters(master, lora, resumed?.studentFolder ?? prepared.studentAdapter?.folder ?? null) : null;
  if (adapter) log(adapterLine(adapter, master));
  master.train();
  const trainable = adapter ? adapter.parameters() : master.parameters();
  parallel.phase = 'the initial parameter broadcast';
  parallel.syncParameters(trainable);
  // Adapters are float32 whatever the base's dtype: no second copy of the student.
  const precision = new StudentPrecision(master, adapter ? 'float32' : config.dtype);
  // Frozen weights are in no parameter group: the optimizer keeps state for the adapters only.
  const optimizer = new AdamW(decayParamGroups(master.namedParameters(), config.weightDecay), { lr: config.lr });

  const microBatchesPerStep = config.gradAccum * parallel.worldSize;
  const batchSize = batchSizeFor(config.batchSize, prepared.train.length);
  const examplesPerStep = batchSize * microBatchesPerStep;
  const stepsPerEpoch = Math.ceil(prepared.train.length / examplesPerStep);
  const totalSteps = config.maxSteps ?? Math.max(1, Math.ceil(config.epochs * stepsPerEpoch));
  const warmupSteps = config.warmupSteps > 0 ? config.warmupSteps : Math.round(config.warmupRatio * totalSteps);
  const schedule = { lr: config.lr, schedule: config.schedule, warmupSteps, totalSteps };
  const loss: LossSettings = { alpha: config.alpha, temperature: config.temperature, divergence: divergenceOf(config), sharedVocab: prepared.sharedVocab };
  log(trainingLine(config, prepared.train.length, { batchSize, microBatchesPerStep, stepsPerEpoch, totalSteps }));

  let step = 0;
  const cursor = new BatchCursor(prepared.train, config.seed, resumed ? { epoch: resumed.state.epoch, offset: resumed.state.offset } : { epoch: 0, offset: 0 });
  if (resumed) {
    optimizer.loadStateDict(resumed.optimizer);
    setRngState(resumed.rngState);
    step = resumed.state.step;
  }

  // Everything that could refuse the run has been checked: now its folder appears.
  if (main) openRunFolder(config);
  const metrics = main ? new MetricsWriter(config.metrics ?? join(config.out, 'metrics.jsonl'), hooks.onRecord) : null;
  metrics?.start(resumed ? step : null);
  const evalBatches = scoredBatches(prepared, config.evalBatchSize);
  const completion = completionPlan(config, prepared, precision.compute, teacher?.model ?? null, plan.shape.microBatchSize);
  if (completion) log(completionNote(config));

  return {
    config, parallel, main, log, prepared, resumed, plan, device, teacher, cache, served, ensemble, localTeachers, master, adapter, trainable, precision, optimizer,
    microBatchesPerStep, batchSize, stepsPerEpoch, totalSteps, schedule, loss, startStep: step, cursor, metrics, evalBatches, completion,
    dispose: () => {
      precision.dispose();
      master.dispose();
      if (ensemble) releaseMembers(ensemble.members);
      else teacher?.dispose();
      cache?.close();
      if (prepared.crossTokenizer) releaseVocabularyTensors(prepared.crossTokenizer.vocabulary);
    },
  };
}
