// What a distillation run tells its caller while it runs, and how the caller can stop it: the
// hooks the command line, the TypeScript API and the demos pass to runDistillation.
import type { MetricsRecord } from '../report/metrics.js';

export interface StepReport {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  kdLoss: number;
  /** Mean CE over the step's reference answers; null when every micro-batch was on-policy (no reference). */
  ceLoss: number | null;
  lr: number;
  tokensPerSecond: number;
  etaSeconds: number;
}

export interface DistillHooks {
  /** Diagnostics and plain progress lines. */
  log(line: string): void;
  /** After every optimizer step (a progress bar). */
  onStep?(report: StepReport): void;
  /** Polled between steps: true after Ctrl-C, to checkpoint and stop. */
  stopRequested?(): boolean;
  /** Every metrics record as it is appended to metrics.jsonl (train steps and evaluations). */
  onRecord?(record: MetricsRecord): void;
}
