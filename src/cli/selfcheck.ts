// `distillery selfcheck`: proves the stack works end to end on this machine — the addon loads,
// libtorch computes, autograd and AdamW train a small character-level language model, memory
// stays flat — and prints what it did. It is what the README's first command runs until the
// distillation demo exists.
import { performance } from 'node:perf_hooks';
import { AdamW, Embedding, Linear, Module, RMSNorm, clipGradNorm, decayParamGroups } from '../nn/index.js';
import {
  Generator,
  arange,
  blasInfo,
  crossEntropy,
  cudaAvailable,
  fromTypedArray,
  manualSeed,
  memoryStats,
  noGrad,
  numThreads,
  randint,
  SLOW_BLAS_FIX,
  type Tensor,
  tidy,
  torchVersion,
} from '../tensor/index.js';

// The opening of Moby-Dick (public domain): enough text for a model to learn letter statistics.
const CORPUS =
  'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, ' +
  'and nothing particular to interest me on shore, I thought I would sail about a little and see the watery ' +
  'part of the world. It is a way I have of driving off the spleen and regulating the circulation. Whenever I ' +
  'find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul; whenever I ' +
  'find myself involuntarily pausing before coffin warehouses, and bringing up the rear of every funeral I ' +
  'meet; then, I account it high time to get to sea as soon as I can. This is my substitute for pistol and ball.';

/** Predicts the next character from the previous `context` characters. */
class CharMlp extends Module {
  readonly embed: Embedding;
  readonly hidden: Linear;
  readonly norm: RMSNorm;
  readonly head: Linear;

  constructor(vocab: number, readonly context: number, dim: number, width: number, device: string, generator: Generator) {
    super();
    this.embed = this.registerModule('embed', new Embedding(vocab, dim, { device, generator }));
    this.hidden = this.registerModule('hidden', new Linear(context * dim, width, { device, generator }));
    this.norm = this.registerModule('norm', new RMSNorm(width, { device }));
    this.head = this.registerModule('head', new Linear(width, vocab, { device, generator }));
  }

  /** windows: int64 [B, context] -> logits [B, vocab] */
  forward(windows: Tensor): Tensor {
    const [batch] = windows.shape;
    const x = this.embed.forward(windows).reshape(batch!, -1);
    return this.head.forward(this.norm.forward(this.hidden.forward(x).silu()));
  }
}

export interface SelfCheckOptions {
  steps: number;
  device: string;
  seed: number;
  log?: (line: string) => void;
}

export interface SelfCheckResult {
  firstLoss: number;
  finalLoss: number;
  liveTensorsAfterFirstStep: number;
  liveTensorsAtEnd: number;
  sample: string;
  passed: boolean;
}

export function runSelfCheck(options: SelfCheckOptions): SelfCheckResult {
  const log = options.log ?? ((line: string) => console.log(line));
  const blas = blasInfo();
  log(`libtorch ${torchVersion()} | ${numThreads()} threads | BLAS: ${blas.library ?? 'not mapped yet'} | CUDA: ${cudaAvailable() ? 'yes' : 'no'}`);
  if (blas.slow) log(`warning: ${SLOW_BLAS_FIX}`);

  manualSeed(options.seed);
  const generator = new Generator(options.seed);
  const chars = [...new Set(CORPUS)].sort();
  const ids = new BigInt64Array([...CORPUS].map((c) => BigInt(chars.indexOf(c))));
  const context = 8;
  const corpus = fromTypedArray(ids, [ids.length], { device: options.device });
  const model = new CharMlp(chars.length, context, 16, 128, options.device, generator);
  const optimizer = new AdamW(decayParamGroups(model.namedParameters(), 0.01), { lr: 3e-3 });
  log(`training a ${model.numParameters().toLocaleString('en-US')}-parameter character MLP (vocab ${chars.length}, context ${context}) for ${options.steps} steps on ${options.device}`);

  const offsets = arange(context + 1, undefined, 1, { device: options.device }).unsqueeze(0);
  const batchOf = (batchSize: number): { windows: Tensor; targets: Tensor } =>
    tidy(() => {
      const starts = randint(0, ids.length - context - 1, [batchSize, 1], { generator, device: options.device });
      const rows = corpus.indexSelect(0, starts.add(offsets).flatten()).reshape(batchSize, context + 1);
      return { windows: rows.slice(1, 0, context), targets: rows.select(1, context) };
    });

  let firstLoss = NaN;
  let finalLoss = NaN;
  let liveAfterFirst = 0;
  const started = performance.now();
  for (let step = 1; step <= options.steps; step++) {
    const loss = tidy(() => {
      const { windows, targets } = batchOf(64);
      const l = crossEntropy(model.forward(windows), targets);
      optimizer.zeroGrad();
      l.backward();
      clipGradNorm(model.parameters(), 1.0).dispose();
      optimizer.step();
      return l.item();
    });
    if (step === 1) {
      firstLoss = loss;
      liveAfterFirst = memoryStats().liveTensors;
    }
    finalLoss = loss;
    if (step === 1 || step % Math.max(1, Math.floor(options.steps / 5)) === 0 || step === options.steps) {
      const seconds = (performance.now() - started) / 1000;
      log(`  step ${String(step).padStart(4)}  loss ${loss.toFixed(4)}  ${((step * 64) / seconds).toFixed(0)} windows/s  live tensors ${memoryStats().liveTensors}`);
    }
  }
  const liveAtEnd = memoryStats().liveTensors;

  // Greedy continuation of the opening words.
  let text = 'Call me ';
  model.eval();
  noGrad(() => {
    for (let i = 0; i < 60; i++) {
      const next = tidy(() => {
        const window = new BigInt64Array([...text.slice(-context)].map((c) => BigInt(chars.indexOf(c))));
        return model.forward(fromTypedArray(window, [1, context], { device: options.device })).argmax(-1).item();
      });
      text += chars[next];
    }
  });

  // Chance level is ln(vocab); a working stack must get well below it.
  const passed = Number.isFinite(finalLoss) && finalLoss < 0.6 * firstLoss && liveAtEnd === liveAfterFirst;
  log(`sample: ${JSON.stringify(text)}`);
  log(`loss ${firstLoss.toFixed(3)} -> ${finalLoss.toFixed(3)} (chance ${Math.log(chars.length).toFixed(3)}); live tensors after step 1: ${liveAfterFirst}, at the end: ${liveAtEnd}`);
  log(passed ? 'selfcheck passed' : 'selfcheck FAILED: the loss did not fall enough or tensors leaked');
  model.dispose();
  corpus.dispose();
  offsets.dispose();
  return { firstLoss, finalLoss, liveTensorsAfterFirstStep: liveAfterFirst, liveTensorsAtEnd: liveAtEnd, sample: text, passed };
}
