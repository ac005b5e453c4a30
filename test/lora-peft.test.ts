// PEFT's adapter format in and out: key names and adapter_config.json fields as PEFT writes them, a
// PEFT-written adapter folder (test/fixtures/peft-lora) loading onto its base, merged folders
// against W + scale·B·A in doubles, and clear errors for bad adapter folders.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { evaluate } from '../src/api/evaluate.js';
import { mergeLora } from '../src/api/merge-lora.js';
import { writeSafetensors } from '../src/io/safetensors/index.js';
import { randomCausalLM } from '../src/models/decoder/init.js';
import { loadCausalLM, saveCausalLM } from '../src/models/decoder/weights.js';
import { applyLora, loadLoraAdapter, loraConfig, saveLoraAdapter } from '../src/models/lora/index.js';
import { openModel } from '../src/models/open-model.js';
import * as T from '../src/tensor/index.js';
import { microConfig, makeModel } from './tiny-run.js';

// The fixture names a base repo that does not exist: never look for it online.
process.env.HF_HUB_OFFLINE = '1';

const dir = mkdtempSync(join(tmpdir(), 'distillery-lora-peft-'));
const FIXTURE = 'test/fixtures/peft-lora';
const base = makeModel(dir, 'base', 7, 0.2);

/** The fixture's values (test/fixtures/peft-lora/make-fixture.mjs): module 0 is q_proj, 1 v_proj. */
const fixtureA = (layer: number, module: number, k: number, i: number) => (((k * 37 + i * 11 + layer * 5 + module * 3) % 17) - 8) / 64;
const fixtureB = (layer: number, module: number, o: number, k: number) => (((o * 13 + k * 7 + layer * 3 + module) % 19) - 9) / 128;
const FIXTURE_SCALE = 4 / 2;

/** W + scale·B·A for one fixture layer, in doubles, from the base's weight values. */
function mergedByHand(weight: number[], layer: number, module: number, out: number, inF: number): number[] {
  return weight.map((w, j) => {
    const [o, i] = [Math.floor(j / inF), j % inF];
    let sum = 0;
    for (let k = 0; k < 2; k++) sum += fixtureB(layer, module, o, k) * fixtureA(layer, module, k, i);
    assert.ok(o < out);
    return w + FIXTURE_SCALE * sum;
  });
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** A safetensors file's header, parsed from its bytes (not through Distillery's reader): its metadata and tensor entries. */
function safetensorsHeader(path: string): { metadata: unknown; tensors: Record<string, HeaderEntry> } {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  const { __metadata__: metadata, ...tensors } = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
  return { metadata, tensors };
}

/** A copy of the fixture folder, then `change(folder)`. */
function brokenAdapter(name: string, change: (folder: string) => void): string {
  const folder = join(dir, name);
  cpSync(FIXTURE, folder, { recursive: true });
  change(folder);
  return folder;
}

function editConfig(folder: string, edit: (json: Record<string, unknown>) => void): void {
  const path = join(folder, 'adapter_config.json');
  const json = JSON.parse(readFileSync(path, 'utf8'));
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}

describe('PEFT adapter folders', () => {
  test('saveLoraAdapter writes PEFT key names, shapes and adapter_config.json fields as PEFT does', () => {
    const model = loadCausalLM(base);
    const adapter = applyLora(model, loraConfig({ rank: 4, alpha: 8, dropout: 0.05, targetModules: 'all-linear' }), { generator: new T.Generator(1) });
    const out = join(dir, 'saved');
    saveLoraAdapter(adapter, out, { baseModelNameOrPath: 'Qwen/Qwen3-0.6B' });
    assert.deepEqual(readdirSync(out).sort(), ['adapter_config.json', 'adapter_model.safetensors']);

    const { metadata, tensors } = safetensorsHeader(join(out, 'adapter_model.safetensors'));
    assert.deepEqual(metadata, { format: 'pt' });
    const keys = Object.keys(tensors);
    assert.equal(keys.length, 2 * 7 * 2);
    const entry = (key: string) => tensors[`base_model.model.${key}`]!;
    assert.deepEqual([entry('model.layers.0.self_attn.q_proj.lora_A.weight').dtype, entry('model.layers.0.self_attn.q_proj.lora_A.weight').shape], ['F32', [4, 32]]);
    assert.deepEqual(entry('model.layers.1.self_attn.k_proj.lora_B.weight').shape, [16, 4]);
    assert.deepEqual(entry('model.layers.1.mlp.down_proj.lora_A.weight').shape, [4, 64]);
    assert.ok(keys.every((k) => /^base_model\.model\.model\.layers\.[01]\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.lora_[AB]\.weight$/.test(k)), keys.join(' '));

    const text = readFileSync(join(out, 'adapter_config.json'), 'utf8');
    const json = JSON.parse(text);
    assert.ok(!text.endsWith('\n'), 'no final newline, as json.dumps');
    assert.deepEqual(Object.keys(json), Object.keys(json).sort(), 'keys sorted, as sort_keys=True');
    assert.deepEqual(json, {
      alpha_pattern: {}, auto_mapping: null, base_model_name_or_path: 'Qwen/Qwen3-0.6B', bias: 'none', fan_in_fan_out: false, inference_mode: true,
      init_lora_weights: true, layer_replication: null, layers_pattern: null, layers_to_transform: null, loftq_config: {}, lora_alpha: 8, lora_dropout: 0.05,
      megatron_config: null, megatron_core: 'megatron.core', modules_to_save: null, peft_type: 'LORA', r: 4, rank_pattern: {}, revision: null,
      // 'all-linear' saved as the names it selected, as PEFT does.
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], task_type: 'CAUSAL_LM', use_dora: false, use_rslora: false,
    });

    // Read back onto a fresh base: the same tensors.
    const other = loadCausalLM(base);
    const loaded = loadLoraAdapter(other, out);
    for (const [key, p] of adapter.stateDict()) assert.deepEqual(loaded.stateDict().get(key)!.toArray(), p.toArray(), key);
    model.dispose();
    other.dispose();
  });

  test('use_rslora round-trips and scales the loaded layers by alpha/√r', () => {
    const model = loadCausalLM(base);
    const adapter = applyLora(model, loraConfig({ rank: 4, alpha: 6, useRslora: true, targetModules: ['o_proj'] }));
    const out = join(dir, 'rslora');
    saveLoraAdapter(adapter, out, { baseModelNameOrPath: base });
    assert.equal(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).use_rslora, true);
    const other = loadCausalLM(base);
    const loaded = loadLoraAdapter(other, out);
    assert.deepEqual([...loaded.layers.keys()], ['model.layers.0.self_attn.o_proj', 'model.layers.1.self_attn.o_proj']);
    for (const layer of loaded.layers.values()) assert.equal(layer.scale, 6 / 2);
    model.dispose();
    other.dispose();
  });

  test('the PEFT-written fixture loads: its targets, scale and values', () => {
    const model = loadCausalLM(base);
    const adapter = loadLoraAdapter(model, FIXTURE);
    assert.deepEqual([...adapter.layers.keys()], ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj']);
    assert.equal(adapter.config.dropout, 0.05);
    for (const [path, layer] of adapter.layers) {
      const [layerIndex, module] = [Number(path.split('.')[2]), path.endsWith('q_proj') ? 0 : 1];
      assert.equal(layer.scale, FIXTURE_SCALE);
      assert.deepEqual(layer.lora_A.weight.toArray(), Array.from({ length: 64 }, (_, j) => fixtureA(layerIndex, module, Math.floor(j / 32), j % 32)), `${path} A`);
      assert.deepEqual(layer.lora_B.weight.toArray(), Array.from({ length: layer.outFeatures * 2 }, (_, j) => fixtureB(layerIndex, module, Math.floor(j / 2), j % 2)), `${path} B`);
    }
    model.dispose();
  });

  test("keys that keep PEFT's adapter name (lora_A.default.weight, from a raw state_dict) load as PEFT loads them", () => {
    const named = brokenAdapter('default-names', (folder) => rewriteWeights(folder, (names) => names, [], (name) => name.replace(/\.(lora_[AB])\.weight$/, '.$1.default.weight')));
    const [plain, renamed] = [loadCausalLM(base), loadCausalLM(base)];
    const expected = loadLoraAdapter(plain, FIXTURE).stateDict();
    const loaded = loadLoraAdapter(renamed, named).stateDict();
    assert.deepEqual([...loaded.keys()], [...expected.keys()]);
    for (const [key, t] of expected) assert.deepEqual(loaded.get(key)!.toArray(), t.toArray(), key);
    plain.dispose();
    renamed.dispose();
  });

  test('merge-lora (API) writes W + scale·B·A in the base dtype, other weights untouched; base + adapter unmerged scores the merged NLL (1e-5)', async () => {
    const out = join(dir, 'merged');
    const result = await mergeLora({ adapter: FIXTURE, base, out });
    assert.equal(result.mergedLayers, 4);
    assert.equal(result.dtype, 'float32');
    for (const file of ['config.json', 'generation_config.json', 'model.safetensors']) assert.ok(readdirSync(out).includes(file), file);
    const before = loadCausalLM(base);
    const after = loadCausalLM(out);
    const baseWeights = before.stateDict();
    for (const [name, p] of after.stateDict()) {
      const match = /^model\.layers\.(\d)\.self_attn\.([qv])_proj\.weight$/.exec(name);
      const original = baseWeights.get(name)!.toArray();
      if (!match) {
        assert.deepEqual(p.toArray(), original, `${name} unchanged`);
        continue;
      }
      const expected = mergedByHand(original, Number(match[1]), match[2] === 'q' ? 0 : 1, p.shape[0]!, p.shape[1]!);
      const got = p.toArray();
      const worst = Math.max(...got.map((v, i) => Math.abs(v - expected[i]!) / Math.max(1, Math.abs(expected[i]!))));
      assert.ok(worst < 1e-6, `${name}: max relative error ${worst}`);
      assert.ok(got.some((v, i) => v !== original[i]), `${name} changed`);
    }
    before.dispose();
    after.dispose();

    const inputIds = [1, 5, 9, 2, 33, 7, 12, 30, 4, 18, 25, 3];
    const unmerged = await evaluate({ model: FIXTURE, base, inputIds });
    const merged = await evaluate({ model: out, inputIds });
    assert.equal(unmerged.model, FIXTURE);
    assert.ok(Math.abs(unmerged.nll - merged.nll) < 1e-5, `unmerged ${unmerged.nll} vs merged ${merged.nll}`);
    const plain = await evaluate({ model: base, inputIds });
    assert.ok(Math.abs(plain.nll - merged.nll) > 1e-3, 'the adapter changes the model');
  });

  test('a bfloat16 base is merged in float32 and written in bfloat16 (each weight the nearest bfloat16 of W + scale·B·A)', async () => {
    const model = randomCausalLM(microConfig({ torch_dtype: 'bfloat16' }), { dtype: 'bfloat16', generator: new T.Generator(9) });
    const bf16Base = join(dir, 'base-bf16');
    saveCausalLM(model, bf16Base);
    model.dispose();
    const out = join(dir, 'merged-bf16');
    const result = await mergeLora({ adapter: FIXTURE, base: bf16Base, out });
    assert.equal(result.dtype, 'bfloat16');
    assert.ok(Object.values(safetensorsHeader(join(out, 'model.safetensors')).tensors).every((t) => t.dtype === 'BF16'));
    const before = loadCausalLM(bf16Base, { dtype: 'float32' }).stateDict();
    const after = loadCausalLM(out, { dtype: 'float32' }).stateDict();
    const name = 'model.layers.1.self_attn.v_proj.weight';
    const merged = after.get(name)!;
    const expected = mergedByHand(before.get(name)!.toArray(), 1, 1, merged.shape[0]!, merged.shape[1]!);
    merged.toArray().forEach((v, i) => {
      const e = expected[i]!;
      // bfloat16 keeps 8 significant bits: half a unit in the last place is 2^(exponent − 8).
      const halfUlp = 2 ** (Math.floor(Math.log2(Math.abs(e))) - 8);
      assert.ok(Math.abs(v - e) <= halfUlp * 1.01, `${name}[${i}]: ${v} vs ${e}`);
    });
  });

  test("merge-lora carries the adapter folder's own tokenizer files over the base's", async () => {
    const withTokenizer = brokenAdapter('with-tokenizer', (folder) => writeFileSync(join(folder, 'tokenizer_config.json'), '{"model_max_length": 77}'));
    const out = join(dir, 'merged-tokenizer');
    await mergeLora({ adapter: withTokenizer, base, out });
    assert.equal(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'), '{"model_max_length": 77}');
  });

  test('merge-lora refuses an output folder that holds files, and leaves it as it was', async () => {
    const out = join(dir, 'occupied');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await assert.rejects(mergeLora({ adapter: FIXTURE, base, out }), /out .*occupied already exists and is not an empty folder; choose a new output folder \(nothing is overwritten\)/);
    assert.deepEqual(readdirSync(out), ['notes.txt']);
  });

  test('an adapter folder opens like a model folder: the base from --base, or from base_model_name_or_path', async () => {
    const named = brokenAdapter('names-its-base', (folder) => editConfig(folder, (json) => (json.base_model_name_or_path = base)));
    const opened = await openModel(named, { dtype: 'float32', device: 'cpu' });
    assert.equal(opened.folder, base);
    assert.equal(opened.adapter, named);
    assert.equal(opened.model.training, false);
    opened.model.dispose();
    await assert.rejects(openModel(FIXTURE, { dtype: 'float32', device: 'cpu', baseOption: 'base' }), /adapter_config\.json: base_model_name_or_path 'tiny-random\/qwen3-micro' does not lead to a model \(.*\); pass base with the base model's folder/);
    await assert.rejects(openModel(base, { dtype: 'float32', device: 'cpu', base }), /--base applies to a PEFT adapter folder/);
    await assert.rejects(evaluate({ model: base, base, inputIds: [1, 2, 3] }), /base applies to a PEFT adapter folder \(adapter_config\.json\) as model/);
  });
});

describe('bad adapter folders give errors naming the file and field', () => {
  const load = (folder: string, onto = base) => {
    const model = loadCausalLM(onto);
    try {
      loadLoraAdapter(model, folder).dispose();
    } finally {
      model.dispose();
    }
  };
  const cases: [string, (folder: string) => void, RegExp][] = [
    ['wrong-peft-type', (f) => editConfig(f, (j) => (j.peft_type = 'IA3')), /adapter_config\.json: peft_type is "IA3"; only LORA adapters are supported/],
    ['dora', (f) => editConfig(f, (j) => (j.use_dora = true)), /adapter_config\.json: use_dora is true; DoRA adapters are not supported/],
    ['bad-rank', (f) => editConfig(f, (j) => (j.r = 0)), /adapter_config\.json: r is 0; expected a positive integer/],
    ['rank-pattern', (f) => editConfig(f, (j) => (j.rank_pattern = { q_proj: 4 })), /adapter_config\.json: rank_pattern is \{"q_proj":4\}; not supported/],
    ['unknown-target', (f) => editConfig(f, (j) => (j.target_modules = ['q_proj', 'c_attn'])), /adapter_config\.json: target_modules 'c_attn' name no module of this qwen3 model; its linear layers are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj/],
    ['head-target', (f) => editConfig(f, (j) => (j.target_modules = ['q_proj', 'lm_head'])), /adapter_config\.json: target_modules selects lm_head; adapters on the LM head or embeddings are not supported/],
    ['norm-target', (f) => editConfig(f, (j) => (j.target_modules = ['q_proj', 'q_norm'])), /adapter_config\.json: target_modules names model\.layers\.0\.self_attn\.q_norm, model\.layers\.1\.self_attn\.q_norm, which are not linear layers/],
    ['bad-regex', (f) => editConfig(f, (j) => (j.target_modules = '.*(q_proj')), /adapter_config\.json: target_modules '\.\*\(q_proj' is not a valid regular expression/],
    ['no-config', (f) => writeFileSync(join(f, 'adapter_config.json'), '{"peft_type": "LORA", '), /adapter_config\.json: not valid JSON/],
    ['missing-key', (f) => rewriteWeights(f, (names) => names.filter((n) => !n.includes('layers.1.self_attn.v_proj.lora_B'))), /adapter_model\.safetensors does not fit the adapter on this base model \(missing: base_model\.model\.model\.layers\.1\.self_attn\.v_proj\.lora_B\.weight\)/],
    ['extra-key', (f) => rewriteWeights(f, (names) => names, ['base_model.model.model.layers.0.mlp.up_proj.lora_A.weight']), /adapter_model\.safetensors does not fit .*unexpected: base_model\.model\.model\.layers\.0\.mlp\.up_proj\.lora_A\.weight/],
    ['no-weights', (f) => writeFileSync(join(f, 'adapter_model.safetensors'), ''), /adapter_model\.safetensors/],
  ];
  for (const [name, change, message] of cases) {
    test(name, () => assert.throws(() => load(brokenAdapter(name, change)), message));
  }

  test('a base of another shape: the tensor and both shapes are named', () => {
    const wider = makeModel(dir, 'wider', 3, 0.2, { hidden_size: 48, head_dim: 12 });
    assert.throws(() => load(FIXTURE, wider), /adapter_model\.safetensors does not fit the adapter on this base model \(shape mismatch: base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight: stored \[2,32\] vs base model \[2,48\]/);
  });

  test('a model folder is not an adapter folder, and an adapter is not a model folder', async () => {
    await assert.rejects(mergeLora({ adapter: base, out: join(dir, 'never') }), /adapter .*base is not a PEFT adapter folder/);
    assert.throws(() => load(join(dir, 'base')), /has no adapter_config\.json: not a PEFT adapter folder/);
  });
});

/** Rewrites the fixture's weights keeping `keep(names)` (stored as `rename(name)`) and adding zero tensors [2, 32] under `extra` names. */
function rewriteWeights(folder: string, keep: (names: string[]) => string[], extra: string[] = [], rename = (name: string) => name): void {
  const path = join(folder, 'adapter_model.safetensors');
  const { tensors } = safetensorsHeader(path);
  const bytes = readFileSync(path);
  const dataStart = 8 + Number(bytes.readBigUInt64LE(0));
  const names = keep(Object.keys(tensors));
  const entries = names.map((name) => {
    const { shape, data_offsets: [from, to] } = tensors[name]!;
    return [rename(name), { dtype: 'float32' as const, shape, data: new Uint8Array(bytes.subarray(dataStart + from, dataStart + to)) }] as [string, { dtype: 'float32'; shape: number[]; data: Uint8Array }];
  });
  for (const name of extra) entries.push([name, { dtype: 'float32', shape: [2, 32], data: new Uint8Array(2 * 32 * 4) }]);
  writeSafetensors(path, entries, { format: 'pt' });
}
