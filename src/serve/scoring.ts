// One forward pass for a batch of prompts: the hot path of a teacher queried for distillation.
// Prompts are padded on the right: under causal attention a real token never sees the padding after
// it, so no mask is needed (the fused kernel stays usable) and each row's numbers are those of the
// prompt alone. Only the rows asked for go through the LM head, a bounded number at a time, so a
// batch never holds [B × T × V] logits.
import type { CausalLM } from '../models/decoder/model.js';
import { sampleTokens } from '../models/decoder/sampling.js';
import { noGrad, type Tensor, tensor, tidy } from '../tensor/index.js';
import { type Sampling, samplingOptions } from './completion-request.js';
import { type LogprobRow, logprobTable } from './logprob-tables.js';

export interface ScoreJob {
  ids: readonly number[];
  /** Top-k at each prompt position 1..L-1 (its actual token always included); null: none. */
  promptK: number | null;
  /** Choose one new token from the last position (a request for one token), with its logprobs when `logprobs` is set. */
  next: { sampling: Sampling; logprobs: number | null } | null;
}

export interface ScoreResult {
  /** Rows for prompt positions 1..L-1 (entry t - 1 scores token t); null when not asked. */
  prompt: LogprobRow[] | null;
  next: { id: number; logprobs: LogprobRow | null } | null;
}

/** Logit elements per LM-head chunk ([rows × V] float32 plus its log-softmax and top-k): ~8M, ~32 MB each. */
const CHUNK_ELEMENTS = 1 << 23;

/** Prompt rows in order: hidden-state row and target id, with the k its job asked for. */
interface PromptRow {
  job: number;
  hiddenRow: number;
  target: number;
  k: number;
}

export function scoreBatch(model: CausalLM, jobs: readonly ScoreJob[]): ScoreResult[] {
  const vocab = model.config.vocabSize;
  const width = Math.max(...jobs.map((j) => j.ids.length));
  const rows: PromptRow[] = [];
  jobs.forEach((job, b) => {
    if (job.promptK === null) return;
    for (let t = 1; t < job.ids.length; t++) rows.push({ job: b, hiddenRow: b * width + t - 1, target: job.ids[t]!, k: job.promptK });
  });
  const results: ScoreResult[] = jobs.map((job) => ({ prompt: job.promptK === null ? null : [], next: null }));
  return noGrad(() =>
    tidy(() => {
      const ids = tensor(
        jobs.map((j) => [...j.ids, ...new Array<number>(width - j.ids.length).fill(0)]),
        { dtype: 'int64', device: model.device },
      );
      const hidden = model.hiddenStates(ids);
      const flat = hidden.reshape(jobs.length * width, hidden.size(-1));
      const perChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / vocab));
      for (let start = 0; start < rows.length; start += perChunk) {
        const chunk = rows.slice(start, start + perChunk);
        const k = Math.max(...chunk.map((r) => r.k));
        const table = tidy(() => logprobTable(headRows(model, flat, chunk.map((r) => r.hiddenRow)), chunk.map((r) => r.target), k));
        chunk.forEach((r, i) => results[r.job]!.prompt!.push({ table, row: i, k: r.k }));
      }
      chooseNextTokens(model, flat, width, jobs, results);
      return results;
    }),
  );
}

/** Logits [rows, V] of the given rows of the flattened hidden states. */
function headRows(model: CausalLM, flat: Tensor, hiddenRows: readonly number[]): Tensor {
  return model.logitsFrom(flat.indexSelect(0, tensor([...hiddenRows], { dtype: 'int64', device: flat.device })));
}

/** For jobs that want one new token: sample it from the last position, each with its own settings and seed. */
function chooseNextTokens(model: CausalLM, flat: Tensor, width: number, jobs: readonly ScoreJob[], results: ScoreResult[]): void {
  const wanting = jobs.flatMap((job, b) => (job.next ? [b] : []));
  if (wanting.length === 0) return;
  tidy(() => {
    const logits = headRows(model, flat, wanting.map((b) => b * width + jobs[b]!.ids.length - 1));
    // All greedy (what a teacher service asks): one argmax for the batch; else each row its own draw.
    const allGreedy = wanting.every((b) => jobs[b]!.next!.sampling.greedy);
    const chosen = allGreedy
      ? sampleTokens(logits, { greedy: true })
      : wanting.map((b, i) => sampleTokens(logits.narrow(0, i, 1), samplingOptions(jobs[b]!.next!.sampling))[0]!);
    const k = Math.max(...wanting.map((b) => jobs[b]!.next!.logprobs ?? -1));
    const table = k >= 0 ? logprobTable(logits, chosen, k) : null;
    wanting.forEach((b, i) => {
      const wanted = jobs[b]!.next!.logprobs;
      results[b]!.next = { id: chosen[i]!, logprobs: table && wanted !== null ? { table, row: i, k: wanted } : null };
    });
  });
}
