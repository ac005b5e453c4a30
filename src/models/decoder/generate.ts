// Autoregressive generation with a KV cache: the prompts are encoded once, then each new position
// costs one single-token forward pass for the whole batch. Prompts of different lengths are padded
// on the left, so every row's next token sits in the last column; the padding mask keeps pads out
// of attention and the positions count each row's real tokens only. A row stops at any of the eos
// ids or after its budget of new tokens; the batch stops when every row has.
import { cat, noGrad, ones, type Tensor, tensor, tidy } from '../../tensor/index.js';
import { checkTokenIds } from './batch-input.js';
import { KVCache } from './kv-cache.js';
import type { CausalLM } from './model.js';
import { sampleTokens, type SamplingOptions, validateSampling } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Generation stops after emitting any of these (included in the output, as transformers does). */
  eosTokenIds?: number[];
  /** Called with each new token as soon as it is chosen (for streaming). */
  onToken?: (id: number) => void;
}

export interface GenerateResult {
  /** The new token ids only. */
  ids: number[];
  finishReason: 'eos' | 'length';
  promptTokens: number;
}

export interface BatchGenerateOptions extends SamplingOptions {
  /** New tokens per row at most: one budget for all rows, or one per row. */
  maxNewTokens: number | readonly number[];
  eosTokenIds?: number[];
  /** Token id that pads the shorter prompts on the left (never attended to). */
  padId?: number;
  /** Only ids below this are chosen (a vocabulary another model shares; default: the whole head). */
  vocabLimit?: number;
}

function checkBudget(n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`max new tokens must be a non-negative integer, got ${n}`);
}

/** Continues one prompt (the batch of one; `onToken` streams each new id). */
export function generate(model: CausalLM, promptIds: number[], options: GenerateOptions): GenerateResult {
  if (promptIds.length === 0) throw new RangeError('generation needs at least one prompt token');
  const [result] = generateBatch(model, [promptIds], options, options.onToken && ((id) => options.onToken!(id)));
  return result!;
}

/** Continues every prompt of a batch together; results are in the prompts' order. */
export function generateBatch(model: CausalLM, prompts: readonly number[][], options: BatchGenerateOptions, onToken?: (id: number, row: number) => void): GenerateResult[] {
  const decoder = new BatchDecoder(model, prompts, options);
  try {
    while (!decoder.finished) decoder.step(onToken);
  } finally {
    decoder.dispose();
  }
  return decoder.results;
}

/**
 * A batch being decoded one position per step(): what generateBatch loops over, and what a caller
 * that must do other work between positions (a server answering other requests) drives itself.
 * The KV cache and the padding mask live until dispose().
 */
export class BatchDecoder {
  /** Per row, the new ids so far and why it stopped; final once `finished`. */
  readonly results: GenerateResult[];
  readonly #model: CausalLM;
  readonly #options: BatchGenerateOptions;
  readonly #budgets: number[];
  readonly #done: boolean[];
  readonly #eos: Set<number>;
  readonly #limit: number;
  readonly #cache: KVCache;
  /** [B, past + new]: 1 for real tokens; only needed when some prompt was padded. */
  #mask: Tensor | null;
  /** The next forward pass's ids: the padded prompts, then each row's newest token. */
  #inputIds: number[][];

  constructor(model: CausalLM, prompts: readonly number[][], options: BatchGenerateOptions) {
    const budgets = prompts.map((_, i) => (typeof options.maxNewTokens === 'number' ? options.maxNewTokens : options.maxNewTokens[i]!));
    budgets.forEach(checkBudget);
    const vocab = model.config.vocabSize;
    prompts.forEach((ids, i) => {
      if (ids.length === 0) throw new RangeError(`generation needs at least one prompt token (prompt ${i} is empty)`);
      checkTokenIds(ids, vocab, 'prompt token id');
    });
    validateSampling(options);
    const limit = options.vocabLimit ?? vocab;
    if (!Number.isInteger(limit) || limit < 1 || limit > vocab) throw new RangeError(`vocabLimit must be an integer in [1, ${vocab}], got ${limit}`);
    this.#model = model;
    this.#options = options;
    this.#budgets = budgets;
    this.#limit = limit;
    this.#eos = new Set(options.eosTokenIds ?? []);
    this.results = prompts.map((ids) => ({ ids: [], finishReason: 'length', promptTokens: ids.length }));
    this.#done = budgets.map((b) => b === 0);
    this.#cache = new KVCache(model.config.numHiddenLayers);
    const width = Math.max(0, ...prompts.map((p) => p.length));
    const padded = prompts.some((p) => p.length < width);
    const padId = options.padId ?? 0;
    this.#mask = padded
      ? tensor(prompts.map((p) => [...new Array<number>(width - p.length).fill(0), ...new Array<number>(p.length).fill(1)]), { dtype: 'int64', device: model.device })
      : null;
    this.#inputIds = prompts.map((p) => [...new Array<number>(width - p.length).fill(padId), ...p]);
  }

  /** True once every row has stopped (at once for an empty batch or zero budgets). */
  get finished(): boolean {
    return this.#done.every(Boolean);
  }

  /**
   * Chooses the next token of every row (one forward pass for the batch) and records it for the
   * rows still running. `inspect` sees the step's logits [B, V] (the whole head, before any
   * vocabLimit) and the chosen ids of all rows, finished ones included, before they are released.
   */
  step(onToken?: (id: number, row: number) => void, inspect?: (logits: Tensor, chosen: readonly number[]) => void): void {
    if (this.finished) return;
    const model = this.#model;
    const vocab = model.config.vocabSize;
    const limit = this.#limit;
    const device = model.device;
    const next = noGrad(() =>
      tidy(() => {
        // Only the last column's logits are sampled from: the LM head runs on those rows alone
        // (a prompt of T tokens would otherwise make a [B × T × V] tensor, as logits_to_keep=1 avoids).
        const hidden = model.hiddenStates(tensor(this.#inputIds, { dtype: 'int64', device }), { cache: this.#cache, attentionMask: this.#mask ?? undefined });
        const logits = model.logitsFrom(hidden.select(1, hidden.size(1) - 1));
        const chosen = sampleTokens(limit < vocab ? logits.narrow(-1, 0, limit) : logits, this.#options);
        inspect?.(logits, chosen);
        return chosen;
      }),
    );
    next.forEach((id, row) => {
      if (this.#done[row]) return; // a finished row keeps decoding with the others; its tokens are dropped
      const result = this.results[row]!;
      result.ids.push(id);
      onToken?.(id, row);
      if (this.#eos.has(id)) {
        result.finishReason = 'eos';
        this.#done[row] = true;
      } else if (result.ids.length >= this.#budgets[row]!) this.#done[row] = true;
    });
    this.#inputIds = next.map((id) => [id]);
    if (this.#mask) {
      const previous: Tensor = this.#mask;
      this.#mask = tidy(() => cat([previous, ones([this.results.length, 1], { dtype: 'int64', device })], 1));
      previous.dispose();
    }
  }

  /** Whether `row` has stopped (eos, budget, or stop()). */
  isFinished(row: number): boolean {
    return this.#done[row]!;
  }

  /** Stops `row` early (its caller found a stop condition of its own); the ids so far stay its result. */
  stop(row: number): void {
    this.#done[row] = true;
  }

  dispose(): void {
    this.#mask?.dispose();
    this.#mask = null;
    this.#cache.dispose();
  }
}
