// The distillation run, as a torchtune recipe: setup (run-setup.ts: data, resume, memory plan,
// models, optimizer), then here the student evaluated before training and optimizer steps of
//   loss = α·mean_t(kd_t) + (1−α)·mean_t(ce_t)
// over the valid tokens of each accumulated batch, with periodic evaluation and checkpoints; at
// the end the student folder, metrics and the teacher/student comparison.
import { join } from 'node:path';
import { addComparisonSums, type Comparison, comparisonFromSums, comparisonSums } from '../eval/compare.js';
import type { ProcessGroup } from '../distributed/process-group.js';
import { RankFailureError } from '../distributed/failure.js';
import { FileWriteError, writeTextAtomic } from '../io/atomic.js';
import { saveCausalLM } from '../models/decoder/weights.js';
import { mergeStudent, runLoraBase, writeAdapterStudent } from './lora-student.js';
import { readMetrics } from '../report/metrics.js';
import { saveCheckpoint, type TrainerState } from './checkpoint.js';
import type { DistillConfig } from './config.js';
import type { DistillHooks } from './hooks.js';
import { type StepContext, trainStep } from './step.js';
import type { AnswerSource } from './step-micro-batches.js';
import { RunPeaks } from './memory/peaks.js';
import { type RunSetup, setupRun } from './run-setup.js';
import { learningRateAt } from './schedule.js';
import { AlignmentTotals } from './cross-tokenizer/alignment-totals.js';
import { TeacherServiceError } from './teacher-service/http.js';
import type { TopKRowsSource } from './teacher-signal.js';
import { StepPrefetch } from './teacher-service/step-prefetch.js';
import type { DrawnBatch } from './batches.js';
import { servedEnsembleMembers, servedTruncation, withServedRows } from './teacher-ensemble/served-members.js';
import { comparisonFromRecord, evalLine, evalRecord, formatSummary, klByTeacher, type RunSummary, summarize, summaryFile } from './summary.js';

/** What a run leaves: its folder, the student, the held-out comparison, or where it stopped. */
export interface DistillRunResult {
  /** The run folder (`out`). */
  outDir: string;
  /** The trained student (a Hugging Face folder), or null when the run was stopped early (and on ranks other than 0). */
  studentDir: string | null;
  /** Held-out comparison: perplexities before/after, gap closed, top-1 agreement, KL(teacher‖student); null when stopped early. */
  summary: RunSummary | null;
  /** The step after which a stop request ended the run, or null. */
  interruptedAt: number | null;
  /** The last checkpoint written. */
  checkpoint: string | null;
}

/** The student's held-out loss is NaN or infinite: training diverged (or the student was broken from the start). */
export class DivergenceError extends Error {
  override name = 'DivergenceError';
}

/** A step's metrics fields about completions: how many micro-batches were on-policy, what generation made and how fast. */
function generationRecord(answers: readonly AnswerSource[], counted: { generatedTokens: number; generationSeconds: number }, worldSize: number): Record<string, number> {
  // Ranks generate side by side: the run's rate is all tokens over the ranks' mean time.
  const seconds = counted.generationSeconds / worldSize;
  return {
    on_policy_fraction: answers.filter((a) => a === 'student').length / answers.length,
    generated_tokens: counted.generatedTokens,
    generation_seconds: +seconds.toFixed(3),
    generation_tokens_per_s: +(seconds > 0 ? counted.generatedTokens / seconds : 0).toFixed(1),
  };
}

/**
 * Runs the distillation a resolved configuration describes: setup (run-setup.ts), the training
 * loop, and the release of the models. With a process group, this process is one rank of a
 * data-parallel run (src/distributed).
 */
export async function runDistillation(config: DistillConfig, hooks: DistillHooks, processGroup: ProcessGroup | null = null): Promise<DistillRunResult> {
  const run = await setupRun(config, hooks, processGroup);
  let result: DistillRunResult;
  try {
    result = await train(run, hooks);
  } finally {
    run.dispose();
  }
  // --merge-lora loads the base once more: only once the run's models are gone (a 4B teacher and a
  // 4B student would not leave room for it).
  if (result.studentDir !== null && run.adapter && config.mergeLora) mergeStudent(run.prepared.studentFolder, result.studentDir, join(config.out, 'student-merged'), hooks.log);
  return result;
}

/** Evaluation before training, optimizer steps with evaluations and checkpoints, then the student and its summary. */
async function train(run: RunSetup, hooks: DistillHooks): Promise<DistillRunResult> {
  const { config, parallel, main, log, prepared, resumed, plan, device, teacher, cache, served, ensemble, master, adapter, trainable, precision, optimizer } = run;
  const { microBatchesPerStep, batchSize, stepsPerEpoch, totalSteps, schedule, loss, cursor, metrics, evalBatches, completion } = run;
  const { microBatchSize, gradientCheckpointing } = plan.shape;
  const loraBase = runLoraBase(config, prepared);
  const stepContext: StepContext = {
    precision, trainable, optimizer, teacher, cache, loss, impl: config.lossImpl, chunkSize: plan.lossChunkRows, checkpointing: gradientCheckpointing, microBatchSize,
    maxGradNorm: config.maxGradNorm, padId: prepared.padId, device, parallel, completion, crossTokenizer: prepared.crossTokenizer, ensemble,
  };
  // A teacher with another tokenizer scores other tokens: held-out evaluation is the student's alone.
  const evalTeacher = prepared.crossTokenizer ? null : (teacher?.model ?? null);
  // Several teachers: the first local one is the comparison's (`teacher`); the student's KL to each other local one is reported too.
  const [, ...otherLocalTeachers] = run.localTeachers;
  const teacherNames = run.localTeachers.map((t) => t.name);
  const alignment = new AlignmentTotals();
  const ownExamples = (micro: readonly DrawnBatch[]) => parallel.shareOf(micro.map((m, index) => ({ examples: m.examples, index }))).flatMap((s) => s.examples);
  const servedRows = new StepPrefetch(served, ownExamples, microBatchesPerStep, batchSize, log);
  const servedMembers = ensemble ? servedEnsembleMembers(ensemble, ownExamples, microBatchesPerStep, batchSize, log) : [];
  let step = run.startStep;
  const evaluate = (): Comparison | null => {
    if (evalBatches.length === 0) return null;
    parallel.phase = `evaluation at step ${step}`;
    precision.compute.eval();
    // Each rank scores its share of the held-out batches; the token sums add up across ranks.
    const local = comparisonSums(precision.compute, evalTeacher, parallel.evalShareOf(evalBatches), { sharedVocab: prepared.sharedVocab, otherTeachers: otherLocalTeachers.map((t) => t.model) });
    const result = comparisonFromSums(addComparisonSums(local, (r) => parallel.sumFields(r)), evalTeacher !== null);
    precision.compute.train();
    // A perplexity past float range (a loss above ~709 nats/token) is divergence as surely as NaN.
    if (!Number.isFinite(result.student.perplexity)) {
      const loss = `the student's held-out loss is ${result.student.nll.toPrecision(4)} nats/token (perplexity ${result.student.perplexity})`;
      throw new DivergenceError(
        step === 0
          ? `${loss} before training: its weights (${prepared.studentFolder}) give no usable predictions`
          : `the run diverged: ${loss} at step ${step} (--lr ${config.lr}); no student or summary was written. Try a lower --lr, warm-up (--warmup-steps) or --max-grad-norm`,
      );
    }
    const byTeacher = klByTeacher(result, teacherNames);
    metrics?.append({ type: 'eval', ...evalRecord(step, result), ...(byTeacher ? { kl_by_teacher: byTeacher } : {}), step });
    log(`${evalLine(step, result)}${byTeacher ? `; KL by teacher: ${Object.entries(byTeacher).map(([n, kl]) => `${n} ${kl.toFixed(4)}`).join(', ')}` : ''}`);
    return result;
  };

  // The step-0 comparison travels in every checkpoint: a resumed run cannot recompute it, and the
  // metrics file may be another one. (Checkpoints from before it was kept: read metrics.jsonl.)
  let before: Comparison | null = null;
  if (resumed) {
    const saved = resumed.state.before ?? (metrics && readMetrics(metrics.path).find((r) => r.type === 'eval' && r.step === 0));
    if (saved) before = comparisonFromRecord(saved);
  } else {
    before = evaluate();
  }

  const checkpointNow = () =>
    main
      ? saveCheckpoint(
          config.out,
          {
            student: master,
            adapter: adapter && { adapter, base: loraBase },
            optimizer,
            state: {
              step, totalSteps, epoch: cursor.position.epoch, offset: cursor.position.offset, examples: prepared.train.length,
              worldSize: parallel.worldSize, config: { ...config }, before: before && evalRecord(0, before),
            },
            tokenizerFrom: prepared.studentFolder,
          },
          config.keepCheckpoints,
        )
      : null;

  const started = Date.now();
  const firstStep = step;
  const peaks = new RunPeaks(device);
  let interruptedAt: number | null = null;
  let checkpoint: string | null = null;
  let lastEpoch = Math.floor(step / stepsPerEpoch);
  try {
    while (step < totalSteps) {
      parallel.phase = `step ${step + 1}`;
      if (parallel.anyRank(hooks.stopRequested?.() ?? false)) {
        checkpoint = checkpointNow();
        interruptedAt = step;
        log(`interrupted: saved ${checkpoint}; continue with --resume ${config.out}`);
        break;
      }
      const stepStart = Date.now();
      // Every rank draws the whole global step (its examples' indices and token counts); each
      // pads and trains only its own share.
      const drawnFrom = cursor.position;
      const micro = Array.from({ length: microBatchesPerStep }, () => cursor.next(batchSize));
      let stepRows: TopKRowsSource | null = cache;
      let stepEnsemble = ensemble;
      if (served || servedMembers.length > 0) {
        try {
          if (served) stepRows = await servedRows.forStep(micro, step + 1 < totalSteps ? cursor.fork() : null);
          if (ensemble) stepEnsemble = await withServedRows(ensemble, servedMembers, micro, step + 1 < totalSteps ? cursor : null);
        } catch (error) {
          // Nothing of this step was trained: a checkpoint resumes right here.
          cursor.moveTo(drawnFrom);
          throw error;
        }
      }
      peaks.stepStarts(); // generation belongs to the step's memory too
      const lr = learningRateAt(step, schedule);
      const done = trainStep({ ...stepContext, cache: stepRows, ensemble: stepEnsemble }, step + 1, micro, lr);
      step++;

      const seconds = (Date.now() - stepStart) / 1000;
      const { counts } = done;
      const tokensPerSecond = counts.inputTokens / Math.max(seconds, 1e-6);
      metrics?.append({
        type: 'train', step, epoch: +(step / stepsPerEpoch).toFixed(4), loss: done.loss, kd_loss: done.kdLoss, ce_loss: done.ceLoss, lr,
        tokens: counts.targets, input_tokens: counts.inputTokens, tokens_per_s: +tokensPerSecond.toFixed(1), grad_norm: done.gradNorm, step_seconds: +seconds.toFixed(3),
        ...(completion ? generationRecord(done.answers, counts, parallel.worldSize) : {}),
        ...(parallel.worldSize > 1 ? { allreduce_seconds: +done.allreduceSeconds.toFixed(3) } : {}),
        ...(done.alignment ? alignment.add(done.alignment) : {}),
        ...peaks.step(),
      });
      const elapsed = (Date.now() - started) / 1000;
      if (main) hooks.onStep?.({
        step, totalSteps, epoch: step / stepsPerEpoch, loss: done.loss, kdLoss: done.kdLoss, ceLoss: done.ceLoss, lr, tokensPerSecond,
        etaSeconds: (elapsed / (step - firstStep)) * (totalSteps - step),
      });
      const epochNow = Math.floor(step / stepsPerEpoch);
      const evalDue = config.evalEvery > 0 ? step % config.evalEvery === 0 : epochNow !== lastEpoch;
      lastEpoch = epochNow;
      if (evalDue && step < totalSteps) evaluate();
      if (config.saveEvery > 0 && step % config.saveEvery === 0 && step < totalSteps) checkpoint = checkpointNow();
      // Let signal handlers (Ctrl-C) run between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }

    if (interruptedAt !== null) return { outDir: config.out, studentDir: null, summary: null, interruptedAt, checkpoint };
    checkpoint = checkpointNow();
    const after = evaluate();
    const studentDir = join(config.out, 'student');
    if (main) {
      if (adapter) writeAdapterStudent(adapter, studentDir, loraBase, log);
      else {
        saveCausalLM(master, studentDir, { dtype: 'float32', copyFrom: prepared.studentFolder });
        log(`student written to ${studentDir}`);
      }
    }
    let summary: RunSummary | null = null;
    if (after && main) {
      summary = summarize(before, after, step, (Date.now() - started) / 1000, {
        estimated_peak_mb: Math.round(plan.estimate.peakBytes / 2 ** 20),
        ...peaks.run(),
        micro_batch_size: microBatchSize,
        gradient_checkpointing: gradientCheckpointing,
        ...(prepared.crossTokenizer ? { cross_tokenizer: prepared.crossTokenizer.method, ...alignment.shares() } : {}),
        ...(served ? servedRows.truncation.figures() : {}),
        ...(servedMembers.length > 0 ? { teacher_truncation: servedTruncation(servedMembers) } : {}),
        ...(teacherNames.length > 1 ? { kl_by_teacher: klByTeacher(after, teacherNames)! } : {}),
      });
      writeTextAtomic(join(config.out, 'summary.json'), `${JSON.stringify(summaryFile(summary), null, 2)}\n`);
      log(formatSummary(summary));
    }
    // Every rank leaves together, after rank 0's files are complete (as destroy_process_group).
    parallel.phase = 'the final barrier';
    parallel.barrier();
    return { outDir: config.out, studentDir: main ? studentDir : null, summary, interruptedAt: null, checkpoint };
  } catch (error) {
    // What the user needs after a failure: where the run can continue from.
    const lastGood = checkpoint ?? run.resumed?.dir ?? null;
    if (error instanceof TeacherServiceError && main) {
      checkpoint = checkpointNow();
      error.message += `; the run stopped before step ${step + 1} with a checkpoint, ${checkpoint}: continue with --resume ${config.out} once the service answers`;
    }
    if ((error instanceof RankFailureError || error instanceof FileWriteError) && main) {
      const fix = error instanceof FileWriteError ? 'free space and continue' : 'continue';
      error.message += lastGood ? `; the last checkpoint, ${lastGood}, is intact: ${fix} with --resume ${config.out}` : '; no checkpoint had been written yet';
    }
    throw error;
  }
}

export type { TrainerState };
