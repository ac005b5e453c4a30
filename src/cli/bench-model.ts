// `distillery bench model`: forward (prefill) tokens/s and KV-cache generation tokens/s, run by the
// command commands/bench-model.ts registers.
import { performance } from 'node:perf_hooks';
import { generate } from '../models/decoder/generate.js';
import { randomCausalLM } from '../models/decoder/init.js';
import { PRESETS, presetConfig } from '../models/decoder/presets.js';
import type { CausalLM } from '../models/decoder/model.js';
import { Generator, noGrad, numThreads, randint, tidy, torchVersion } from '../tensor/index.js';
import { checkDevice } from './device.js';
import { UsageError } from './errors.js';
import { openModel } from '../models/open-model.js';
import { note } from './options.js';
import { formatBenchRecord } from './bench-record.js';
import type { BenchModelFlags } from './commands/bench-model.js';

function measure(model: CausalLM, flags: BenchModelFlags): Record<string, number | string> {
  const vocab = model.config.vocabSize;
  const device = model.device;
  const forwardSeconds: number[] = [];
  noGrad(() => {
    for (let i = 0; i <= flags.repeats; i++) {
      tidy(() => {
        const ids = randint(0, vocab, [flags.batchSize, flags.seqLen], { device });
        const start = performance.now();
        model.forward(ids).sum().item();
        if (i > 0) forwardSeconds.push((performance.now() - start) / 1000); // the first run warms up
      });
    }
  });
  const prompt = Array.from({ length: Math.min(16, flags.seqLen) }, (_, i) => (i * 7919) % vocab);
  generate(model, prompt, { maxNewTokens: 2, greedy: true }); // warm-up
  const start = performance.now();
  const { ids } = generate(model, prompt, { maxNewTokens: flags.newTokens, greedy: true });
  const generateSeconds = (performance.now() - start) / 1000;
  const forward = Math.min(...forwardSeconds);
  return {
    forward_tokens_per_s: Math.round((flags.batchSize * flags.seqLen) / forward),
    forward_ms: +(forward * 1000).toFixed(1),
    generate_tokens_per_s: +(ids.length / generateSeconds).toFixed(1),
    generated_tokens: ids.length,
  };
}

export async function runBenchModel(flags: BenchModelFlags): Promise<void> {
  if ((flags.model === undefined) === (flags.preset === undefined)) throw new UsageError('give exactly one of --model or --preset');
  const device = checkDevice(flags.device);
  let model: CausalLM;
  if (flags.preset !== undefined) {
    if (!PRESETS[flags.preset]) throw new UsageError(`--preset '${flags.preset}' is unknown; available: ${Object.keys(PRESETS).join(', ')}`);
    model = randomCausalLM(presetConfig(flags.preset), { dtype: flags.dtype, device, generator: new Generator(0) });
  } else {
    model = (await openModel(flags.model!, { dtype: flags.dtype, device, log: note })).model;
  }
  const record = {
    bench: 'model',
    model: flags.model ?? flags.preset!,
    parameters: model.numParameters(),
    dtype: flags.dtype,
    device,
    batch_size: flags.batchSize,
    seq_len: flags.seqLen,
    threads: numThreads(),
    torch: torchVersion(),
    ...measure(model, flags),
  };
  console.log(formatBenchRecord(record, flags.json));
  model.dispose();
}
