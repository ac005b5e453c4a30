// A teacher served over HTTP (--teacher-url): vLLM, or `distillery serve`. It is asked for the
// top-k log-probabilities at the data's own tokens, and the KD term is taken over those k tokens
// and the tail, exactly as from an offline teacher cache (loss.ts, cachedRowLossSums). A step's
// requests are made ahead of it (prefetch) so that the server works while the student computes.
import { encodeText, predictedPositions } from '../../data/segments.js';
import type { TextTokenizer } from '../../tokenizer/index.js';
import { fromTypedArray } from '../../tensor/index.js';
import type { CachedRows } from '../teacher-cache/reader.js';
import type { IndexedExample } from '../prepare.js';
import { requestJson, TeacherServiceError } from './http.js';
import { parsePromptLogprobs, promptLogprobsRequest } from './wire.js';

/** Requests in flight at once per rank. */
const CONCURRENT_REQUESTS = 8;

/** Text whose tokenization must be the same on the server and here (letters, digits, spaces, CJK, emoji). */
const PROBE_TEXT = 'Distillery probe: 12345 tokens, "quoted", naïve café, 你好, 🙂\nend';

export interface ServedTeacherOptions {
  url: string;
  topK: number;
  timeoutSeconds: number;
  /** The served model to ask for; null: the server's only (or first) model. */
  model: string | null;
  /** The student's tokenizer: the server's must tokenize the same way. */
  tokenizer: TextTokenizer | null;
  /** The student's vocabulary size (the tail bucket holds the other V − k tokens). */
  vocabSize: number;
  log: (line: string) => void;
}

/** The OpenAI-style routes under a base URL given with or without its `/v1`; vLLM's /tokenize is at the root. */
export function serviceRoutes(url: string): { completions: string; models: string; tokenize: string } {
  const base = url.replace(/\/+$/, '');
  const root = base.replace(/\/v1$/, '');
  return { completions: `${root}/v1/completions`, models: `${root}/v1/models`, tokenize: `${root}/tokenize` };
}

/** One example's target rows from the service: k ids and log-probabilities per row, and the tail's log-mass. */
interface ExampleRows {
  rows: number;
  ids: Int32Array;
  logProbs: Float32Array;
  tailLogMass: Float32Array;
}

/** The teacher's rows for one step's examples, by source index: what the step's micro-batches read. */
export class ServedStepRows {
  constructor(
    private readonly byExample: ReadonlyMap<number, ExampleRows>,
    private readonly topK: number,
    private readonly tailTokens: number,
  ) {}

  /** Every fetched row's tail log-mass, and how many tokens each tail holds (truncation.ts). */
  tails(): { tailLogMasses: Float32Array; tailTokens: number } {
    const parts = [...this.byExample.values()];
    const out = new Float32Array(parts.reduce((n, p) => n + p.rows, 0));
    let row = 0;
    for (const p of parts) {
      out.set(p.tailLogMass, row);
      row += p.rows;
    }
    return { tailLogMasses: out, tailTokens: this.tailTokens };
  }

  /** The rows of these examples, in order (targetIndexOf's order), as the loss reads a cache's. */
  rows(sourceIndices: readonly number[], device: string): CachedRows {
    const parts = sourceIndices.map((i) => {
      const part = this.byExample.get(i);
      if (!part) throw new Error(`teacher service: example ${i} was not fetched for this step`);
      return part;
    });
    const total = parts.reduce((n, p) => n + p.rows, 0);
    const ids = new Int32Array(total * this.topK);
    const logProbs = new Float32Array(total * this.topK);
    const tail = new Float32Array(total);
    let row = 0;
    for (const p of parts) {
      ids.set(p.ids, row * this.topK);
      logProbs.set(p.logProbs, row * this.topK);
      tail.set(p.tailLogMass, row);
      row += p.rows;
    }
    const shape = [total, this.topK];
    return {
      ids: fromTypedArray(ids, shape, { device }).to('int64'),
      logProbs: fromTypedArray(logProbs, shape, { device }),
      tailLogMass: fromTypedArray(tail, [total], { device }),
      tailTokens: this.tailTokens,
    };
  }
}

export class ServedTeacher {
  private constructor(
    readonly options: ServedTeacherOptions,
    readonly model: string,
    private readonly routes: ReturnType<typeof serviceRoutes>,
  ) {}

  /** Connects: the model must be listed and the server must tokenize as the student does. */
  static async open(options: ServedTeacherOptions): Promise<ServedTeacher> {
    const routes = serviceRoutes(options.url);
    const policy = { timeoutSeconds: options.timeoutSeconds, log: options.log };
    const listed = (await requestJson(routes.models, undefined, policy)) as { data?: { id?: unknown }[] };
    const models = (listed.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
    if (models.length === 0) throw new TeacherServiceError(`${routes.models}: the server lists no model`);
    if (options.model !== null && !models.includes(options.model)) {
      throw new TeacherServiceError(`--teacher-model ${options.model} is not served by ${options.url}; it serves ${models.join(', ')}`);
    }
    const model = options.model ?? models[0]!;
    if (options.model === null && models.length > 1) options.log(`teacher service ${options.url} serves ${models.length} models; using ${model} (choose with --teacher-model)`);
    if (options.tokenizer) {
      const theirs = (await requestJson(routes.tokenize, { model, prompt: PROBE_TEXT, add_special_tokens: true }, policy)) as { tokens?: unknown };
      const ours = encodeText(options.tokenizer, PROBE_TEXT);
      if (JSON.stringify(theirs.tokens) !== JSON.stringify(ours)) {
        throw new TeacherServiceError(
          `${routes.tokenize}: ${model} tokenizes ${JSON.stringify(PROBE_TEXT)} as ${JSON.stringify(theirs.tokens)}, the student's tokenizer as ${JSON.stringify(ours)}; ` +
            'a served teacher must share the student\'s tokenizer',
        );
      }
    }
    return new ServedTeacher(options, model, routes);
  }

  /** Asks for every example's target rows (CONCURRENT_REQUESTS at a time); resolves when all have answered. */
  async prefetch(examples: readonly IndexedExample[]): Promise<ServedStepRows> {
    const byExample = new Map<number, ExampleRows>();
    const unique = [...new Map(examples.map((e) => [e.sourceIndex, e])).values()];
    let next = 0;
    const worker = async () => {
      while (next < unique.length) {
        const example = unique[next++]!;
        byExample.set(example.sourceIndex, await this.exampleRows(example));
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENT_REQUESTS, unique.length) }, worker));
    return new ServedStepRows(byExample, this.options.topK, Math.max(0, this.options.vocabSize - this.options.topK));
  }

  private async exampleRows(example: IndexedExample): Promise<ExampleRows> {
    const { topK, timeoutSeconds, log } = this.options;
    const answer = await requestJson(this.routes.completions, promptLogprobsRequest(this.model, example.inputIds, topK), { timeoutSeconds, log });
    let positions;
    try {
      positions = parsePromptLogprobs(answer, example.inputIds.length, topK);
    } catch (error) {
      throw new TeacherServiceError(`${this.routes.completions}: ${(error as Error).message}`);
    }
    // Row for each target: the distribution at position p predicts token p (p ≥ 1, label kept).
    const targets = predictedPositions(example.labels);
    const ids = new Int32Array(targets.length * topK);
    const logProbs = new Float32Array(targets.length * topK);
    const tailLogMass = new Float32Array(targets.length);
    targets.forEach((p, row) => {
      const top = positions[p]!;
      ids.set(top.ids, row * topK);
      logProbs.set(top.logProbs, row * topK);
      // 1 − Σ top-k in doubles; an empty tail (k = V) as the cache writer stores it, e^−69.
      const mass = top.logProbs.reduce((s, lp) => s + Math.exp(lp), 0);
      tailLogMass[row] = Math.log(Math.max(1 - mass, 1e-30));
    });
    return { rows: targets.length, ids, logProbs, tailLogMass };
  }
}
