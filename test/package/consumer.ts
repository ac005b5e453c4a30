// A user's project, as scripts/test-package.sh builds it against the installed tarball: typed
// options, initModel for two tiny random models, a two-step distill() through the public API, and
// the API's errors caught by their exported classes.
import { writeFileSync } from 'node:fs';
import { ConfigError, DataError, distill, type DistillOptions, initModel, ModelConfigError, OptionsError, RunFolderError, writeReport } from 'distillery';
import { Tensor, tidy, zeros } from 'distillery/tensor';

const tiny = {
  model_type: 'qwen3', vocab_size: 40, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, tie_word_embeddings: true, torch_dtype: 'float32',
};
writeFileSync('tiny-config.json', JSON.stringify(tiny));
initModel({ config: 'tiny-config.json', out: 'teacher', seed: 1 });
initModel({ config: 'tiny-config.json', out: 'student', seed: 2 });
const lines = Array.from({ length: 16 }, (_, i) => JSON.stringify({ input_ids: Array.from({ length: 8 + (i % 5) }, (_, t) => (i * 7 + t * 3) % 40) }));
writeFileSync('data.jsonl', `${lines.join('\n')}\n`);

const options: DistillOptions = { teacher: 'teacher', student: 'student', data: 'data.jsonl', out: 'run', maxSteps: 2, batchSize: 2, evalRatio: 0.25 };
const steps: number[] = [];
const result = await distill({ ...options, onStep: (report) => steps.push(report.step) });
const total: number = tidy(() => zeros([2, 3]).add(1).sum().item());

writeFileSync('bad.jsonl', '{"input_ids": [1, 2, 3]}\n{"input_ids": \n');
writeFileSync('bad-config.json', JSON.stringify({ ...tiny, num_hidden_layers: undefined }));
const thrown = async (f: () => unknown): Promise<unknown> => {
  try {
    await f();
    return null;
  } catch (error) {
    return error;
  }
};
const caught = {
  OptionsError: (await thrown(() => distill({ ...options, maxStep: 2 } as DistillOptions))) instanceof OptionsError,
  ConfigError: (await thrown(() => distill({ ...options, maxSteps: -1 }))) instanceof ConfigError,
  DataError: (await thrown(() => distill({ ...options, data: 'bad.jsonl', out: 'bad-run' }))) instanceof DataError,
  ModelConfigError: (await thrown(() => initModel({ config: 'bad-config.json', out: 'bad-model' }))) instanceof ModelConfigError,
  RunFolderError: (await thrown(() => writeReport('teacher'))) instanceof RunFolderError,
};
const summary = result.summary;
console.log(JSON.stringify({
  steps, studentDir: result.studentDir, gapClosed: summary?.gapClosed ?? null, camelCase: summary !== null && Object.keys(summary).every((k) => !k.includes('_')),
  tensorOk: total === 6 && Tensor.name === 'Tensor', instanceofOk: Object.values(caught).every(Boolean), caught,
}));
