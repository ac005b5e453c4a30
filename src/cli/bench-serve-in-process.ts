// The baseline of `distillery bench serve`: the same prompts scored in this process, in batches of
// the size the server forms from that many clients — the server's own scoring (forward, LM head,
// log-softmax, top-k) without HTTP or JSON, and the bare teacher forward and LM head a training run
// with an in-process teacher computes. What the served figure lacks of these is the cost of the
// service itself.
import { resolveModelPath } from '../io/hub/index.js';
import type { CausalLM } from '../models/decoder/model.js';
import { loadCausalLM } from '../models/decoder/weights.js';
import { scoreBatch } from '../serve/scoring.js';
import { OnlineTeacher } from '../distill/teacher.js';
import { tidy } from '../tensor/index.js';
import { padBatch } from '../data/pad-batch.js';
import { targetIndexOf } from '../eval/targets.js';

export interface InProcessFigures {
  batch: number;
  /** Prompt tokens per second through the server's scoring code, called directly. */
  scoring_tokens_per_s: number;
  /** CPU milliseconds per prompt of that scoring (all threads). */
  scoring_cpu_ms_per_request: number;
  /** Prompt tokens per second of the teacher's forward and LM head alone (an in-process teacher's work for KD). */
  forward_tokens_per_s: number;
}

/** Seconds and CPU seconds `fn` takes over `requests` prompts in batches of `batch` (after one warm-up batch). */
function timed(requests: number, batch: number, fn: (first: number, count: number) => void): { seconds: number; cpu: number } {
  fn(0, batch);
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < requests; i += batch) fn(i, Math.min(batch, requests - i));
  const used = process.cpuUsage(cpu);
  return { seconds: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 };
}

export async function inProcessFigures(
  modelRef: string,
  options: { dtype: 'float32' | 'bfloat16' | 'float16'; device: string; k: number; requests: number; promptTokens: number },
  prompt: (i: number) => number[],
  batches: readonly number[],
): Promise<InProcessFigures[]> {
  const model: CausalLM = loadCausalLM(await resolveModelPath(modelRef, { log: () => {} }), { dtype: options.dtype, device: options.device });
  const teacher = new OnlineTeacher(model);
  try {
    const tokens = options.requests * options.promptTokens;
    return batches.map((batch) => {
      const prompts = (first: number, count: number) => Array.from({ length: count }, (_, j) => prompt(first + j));
      const scoring = timed(options.requests, batch, (first, count) => {
        scoreBatch(model, prompts(first, count).map((ids) => ({ ids, promptK: options.k, next: null })));
      });
      const forward = timed(options.requests, batch, (first, count) => {
        tidy(() => {
          const padded = padBatch(prompts(first, count).map((ids) => ({ inputIds: ids, labels: ids })), 0);
          const { index } = targetIndexOf(padded.labels, options.device);
          // Read one number back: on a GPU the work is done when it arrives.
          teacher.rows(padded.inputIds, padded.attentionMask, index, options.device).sum().item();
        });
      });
      return {
        batch, scoring_tokens_per_s: Math.round(tokens / scoring.seconds), scoring_cpu_ms_per_request: Math.round((1000 * scoring.cpu) / options.requests),
        forward_tokens_per_s: Math.round(tokens / forward.seconds),
      };
    });
  } finally {
    teacher.dispose();
  }
}

