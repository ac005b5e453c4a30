// `distillery serve` against vLLM's wire format and against the model computed in this process:
// prompt logprobs equal float32 log_softmax of CausalLM.forward's logits (top 5 and the whole
// vocabulary), ranks count what scores at least as high, greedy generation equals
// models/decoder/generate.ts, streams carry the same text, batched and concurrent requests give
// the numbers of sequential ones, malformed requests get JSON errors and the server lives on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeText } from '../src/data/segments.js';
import { generate } from '../src/models/decoder/generate.js';
import type { CausalLM } from '../src/models/decoder/model.js';
import { loadCausalLM } from '../src/models/decoder/weights.js';
import { initModel, serve, type ServeHandle } from '../src/index.js';
import * as T from '../src/tensor/index.js';
import { TextTokenizer } from '../src/tokenizer/index.js';
import { assertClose } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'distillery-serve-'));
const folder = join(dir, 'model');
const MAX_MODEL_LEN = 96;
let server: ServeHandle;
let model: CausalLM;
let tokenizer: TextTokenizer;
let vocab: number;

interface PromptEntry {
  logprob: number;
  rank: number;
  decoded_token: string;
}
type PromptLogprobs = (Record<string, PromptEntry> | null)[];
interface Choice {
  index: number;
  text: string;
  finish_reason: string;
  stop_reason: unknown;
  logprobs: { tokens: string[]; token_logprobs: (number | null)[]; top_logprobs: (Record<string, number> | null)[]; text_offset: number[] } | null;
  prompt_logprobs: PromptLogprobs | null;
  token_ids?: number[];
}
interface Completion {
  id: string;
  object: string;
  model: string;
  choices: Choice[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

async function post(path: string, body: unknown, url = server.url): Promise<{ status: number; text: string; json: any }> {
  const response = await fetch(url + path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, text, json };
}

async function complete(body: Record<string, unknown>, url = server.url): Promise<Completion> {
  const { status, json, text } = await post('/v1/completions', body, url);
  assert.equal(status, 200, text.slice(0, 500));
  return json as Completion;
}

/** float32 log_softmax of the model's own logits for `ids`, one row per position. */
function referenceLogprobs(ids: number[]): Float32Array[] {
  return T.tidy(() => {
    const logprobs = model.forward(T.tensor([ids], { dtype: 'int64' })).logSoftmax(-1, { dtype: 'float32' }).reshape(ids.length, vocab);
    return ids.map((_, t) => logprobs.select(0, t).toTypedArray() as Float32Array);
  });
}

/** Checks a choice's prompt_logprobs against the reference: k entries (k + 1 when the actual token is not among them). */
function checkPromptLogprobs(positions: PromptLogprobs, ids: number[], k: number): void {
  const reference = referenceLogprobs(ids);
  assert.equal(positions.length, ids.length);
  assert.equal(positions[0], null, 'the first prompt token has no logprob');
  for (let t = 1; t < ids.length; t++) {
    const entries = positions[t]!;
    const row = reference[t - 1]!;
    const actual = String(ids[t]);
    const keys = Object.keys(entries);
    assert.ok(keys.includes(actual), `position ${t}: the actual token ${actual} is included`);
    const top = keys.filter((key) => entries[key]!.rank <= k);
    assert.equal(top.length, k, `position ${t}: top ${k}`);
    assert.equal(keys.length, top.includes(actual) ? k : k + 1);
    for (const key of keys) {
      const entry = entries[key]!;
      assertClose([entry.logprob], [row[Number(key)]!], 1e-5, `position ${t}, id ${key}`);
      assert.equal(entry.decoded_token, tokenizer.decode([Number(key)]));
    }
    // Ranks 1..k by descending logprob; the actual token's rank counts the ids scoring at least as high.
    const byRank = top.map((key) => entries[key]!).sort((a, b) => a.rank - b.rank);
    assert.deepEqual(byRank.map((e) => e.rank), Array.from({ length: k }, (_, i) => i + 1));
    for (let j = 1; j < byRank.length; j++) assert.ok(byRank[j - 1]!.logprob >= byRank[j]!.logprob);
    assertClose([byRank[0]!.logprob], [row.reduce((m, v) => Math.max(m, v), -Infinity)], 1e-5, 'top-1 is the most likely token');
    const lp = row[ids[t]!]!;
    const atLeast = (bound: number) => row.reduce((n, v) => n + (v >= bound ? 1 : 0), 0);
    const rank = entries[actual]!.rank;
    assert.ok(rank >= atLeast(lp + 1e-5) && rank <= atLeast(lp - 1e-5), `position ${t}: rank ${rank} of ${lp}`);
  }
}

before(async () => {
  initModel({ out: folder, preset: 'qwen3-tiny', seed: 1 });
  model = loadCausalLM(folder);
  tokenizer = TextTokenizer.fromFolder(folder);
  vocab = model.config.vocabSize;
  server = await serve({ model: folder, port: 0, maxModelLen: MAX_MODEL_LEN, maxBodyMb: 0.25, servedModelName: 'tiny' });
});

after(async () => {
  await server?.close();
  model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('distillery serve', () => {
  test('health, models, tokenize and detokenize', async () => {
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), '');
    const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { object: string; data: object[] };
    assert.equal(models.object, 'list');
    assert.deepEqual({ ...models.data[0], created: 0 }, { id: 'tiny', object: 'model', created: 0, owned_by: 'distillery', root: 'tiny', parent: null, max_model_len: MAX_MODEL_LEN });
    for (const text of ['Hello world! 12345 你好', '<|im_start|>user\nhi<|im_end|>', ' leading space']) {
      const { status, json } = await post('/tokenize', { model: 'tiny', prompt: text });
      assert.equal(status, 200);
      assert.deepEqual(json.tokens, encodeText(tokenizer, text));
      assert.equal(json.count, json.tokens.length);
      assert.equal(json.max_model_len, MAX_MODEL_LEN);
      assert.equal((await post('/detokenize', { tokens: json.tokens })).json.prompt, text);
    }
    assert.deepEqual((await post('/tokenize', { prompt: 'Hello world! 12345 你好' })).json.tokens, [9707, 1879, 0, 220, 16, 17, 18, 19, 20, 220, 108386]);
    assert.deepEqual((await post('/tokenize', { prompt: 'hi', add_special_tokens: false })).json.tokens, tokenizer.encode('hi'));
  });

  test('prompt_logprobs at k = 5: log_softmax of the model, ranks, the actual token, keys as strings', async () => {
    const text = 'The cat sat on the mat, and then';
    const ids = encodeText(tokenizer, text);
    const { status, text: raw, json } = await post('/v1/completions', { model: 'tiny', prompt: text, max_tokens: 0, prompt_logprobs: 5 });
    assert.equal(status, 200);
    assert.match(raw, /"prompt_logprobs":\[null,\{"\d+":\{"logprob":/, 'ids are JSON object keys (strings)');
    // (A parsed object lists integer keys in ascending order; the text keeps vLLM's: the actual token first.)
    assert.ok(raw.includes(`"prompt_logprobs":[null,{"${ids[1]}":{"logprob":`), 'the actual token comes first, as vLLM orders it');
    const completion = json as Completion;
    assert.equal(completion.object, 'text_completion');
    assert.match(completion.id, /^cmpl-/);
    assert.equal(completion.model, 'tiny');
    const [choice] = completion.choices;
    assert.deepEqual([choice!.index, choice!.text, choice!.logprobs, choice!.finish_reason], [0, '', null, 'length']);
    assert.deepEqual(completion.usage, { prompt_tokens: ids.length, total_tokens: ids.length, completion_tokens: 0 });
    checkPromptLogprobs(choice!.prompt_logprobs!, ids, 5);
    // Token ids in, the same numbers out.
    const byIds = await complete({ prompt: ids, max_tokens: 0, prompt_logprobs: 5 });
    assert.deepEqual(byIds.choices[0]!.prompt_logprobs, choice!.prompt_logprobs);
  });

  test('prompt_logprobs at k = V (and -1): the whole distribution at every position', async () => {
    const ids = [9707, 1879, 0];
    const reference = referenceLogprobs(ids);
    for (const k of [vocab, -1]) {
      const [choice] = (await complete({ prompt: ids, max_tokens: 0, prompt_logprobs: k })).choices;
      const positions = choice!.prompt_logprobs!;
      assert.equal(positions[0], null);
      for (let t = 1; t < ids.length; t++) {
        const entries = positions[t]!;
        const keys = Object.keys(entries);
        assert.equal(keys.length, vocab, 'every id once');
        const served = new Float64Array(vocab);
        for (const key of keys) served[Number(key)] = entries[key]!.logprob;
        assertClose(served, reference[t - 1]!, 1e-5, `position ${t}`);
        const ranks = keys.map((key) => entries[key]!.rank).sort((a, b) => a - b);
        assert.deepEqual(ranks, Array.from({ length: vocab }, (_, i) => i + 1), 'ranks are 1..V');
        const mass = served.reduce((sum, lp) => sum + Math.exp(lp), 0);
        assert.ok(Math.abs(mass - 1) < 1e-4, `probabilities sum to 1 (${mass})`);
      }
    }
  });

  test('a batch of prompts gives one choice per prompt, in order, each as if alone', async () => {
    const prompts = [[9707, 1879, 0, 220], [16], [17, 18, 19, 20, 220, 108386, 9707]];
    const batch = await complete({ prompt: prompts, max_tokens: 0, prompt_logprobs: 3 });
    assert.deepEqual(batch.choices.map((c) => c.index), [0, 1, 2]);
    assert.equal(batch.usage.prompt_tokens, 12);
    for (const [i, ids] of prompts.entries()) {
      const alone = (await complete({ prompt: ids, max_tokens: 0, prompt_logprobs: 3 })).choices[0]!;
      checkPromptLogprobs(batch.choices[i]!.prompt_logprobs!, ids, 3);
      const flat = (p: PromptLogprobs) => p.slice(1).flatMap((e) => Object.values(e!).map((v) => v.logprob));
      assertClose(flat(batch.choices[i]!.prompt_logprobs!), flat(alone.prompt_logprobs!), 1e-5, `prompt ${i}`);
    }
    const texts = await complete({ prompt: ['one two', 'three'], max_tokens: 0, echo: true });
    assert.deepEqual(texts.choices.map((c) => c.text), ['one two', 'three']);
  });

  test('16 concurrent requests give the numbers of sequential ones', async () => {
    const bodies = Array.from({ length: 16 }, (_, i) => ({ prompt: `request ${i}: ${'lorem ipsum '.repeat(1 + (i % 5))}`, max_tokens: 0, prompt_logprobs: 4 }));
    const sequential: Completion[] = [];
    for (const body of bodies) sequential.push(await complete(body));
    const concurrent = await Promise.all(bodies.map((body) => complete(body)));
    concurrent.forEach((c, i) => {
      const numbers = (x: Completion) => x.choices[0]!.prompt_logprobs!.slice(1).flatMap((e) => Object.entries(e!).map(([id, v]) => [Number(id), v.logprob]).flat());
      assertClose(numbers(c), numbers(sequential[i]!), 1e-5, `request ${i}`);
    });
  });

  test('greedy generation equals generate.ts; max_tokens 1 and logprobs of new tokens agree; the stream carries the same text', async () => {
    const text = 'Once upon a time';
    const ids = encodeText(tokenizer, text);
    const expected = generate(model, ids, { maxNewTokens: 12, greedy: true, eosTokenIds: [151645, 151643] });
    const body = { prompt: text, max_tokens: 12, temperature: 0, logprobs: 2, return_token_ids: true };
    const completion = await complete(body);
    const [choice] = completion.choices;
    assert.deepEqual(choice!.token_ids, expected.ids);
    assert.equal(choice!.text, tokenizer.decode(expected.ids, { skipSpecialTokens: true }));
    assert.equal(choice!.finish_reason, expected.finishReason === 'eos' ? 'stop' : 'length');
    assert.equal(completion.usage.completion_tokens, expected.ids.length);
    // Each new token's logprob is the model's at that position (the whole sequence recomputed).
    const reference = referenceLogprobs([...ids, ...expected.ids]);
    const logprobs = choice!.logprobs!;
    assert.deepEqual(logprobs.tokens, expected.ids.map((id) => tokenizer.decode([id])));
    assertClose(logprobs.token_logprobs as number[], expected.ids.map((id, i) => reference[ids.length - 1 + i]![id]!), 1e-5, 'token_logprobs');
    logprobs.top_logprobs.forEach((top) => assert.ok(Object.keys(top!).length <= 3));
    assert.equal(logprobs.text_offset[0], 0);
    // One token (the scoring path) is the first of them.
    const one = await complete({ prompt: text, max_tokens: 1, temperature: 0, return_token_ids: true });
    assert.deepEqual(one.choices[0]!.token_ids, expected.ids.slice(0, 1));

    const response = await fetch(`${server.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }) });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type')!, /^text\/event-stream/);
    const events = (await response.text()).split('\n\n').filter((e) => e !== '');
    assert.equal(events.at(-1), 'data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => {
      assert.ok(e.startsWith('data: '));
      return JSON.parse(e.slice(6));
    });
    const usage = chunks.pop();
    assert.deepEqual(usage.choices, []);
    assert.deepEqual(usage.usage, completion.usage);
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), choice!.text);
    assert.equal(chunks.at(-1).choices[0].finish_reason, choice!.finish_reason);
    assert.ok(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null));
    assert.deepEqual(chunks.flatMap((c) => c.choices[0].logprobs.token_logprobs), logprobs.token_logprobs);
  });

  test('echo with logprobs scores the prompt; seeded sampling repeats; stop strings cut the text', async () => {
    const ids = encodeText(tokenizer, 'Hello world, again');
    const [echo] = (await complete({ prompt: ids, max_tokens: 0, echo: true, logprobs: 2 })).choices;
    assert.equal(echo!.text, tokenizer.decode(ids));
    assert.deepEqual(echo!.logprobs!.tokens, ids.map((id) => tokenizer.decode([id])));
    assert.equal(echo!.logprobs!.token_logprobs[0], null);
    assert.equal(echo!.logprobs!.top_logprobs[0], null);
    const reference = referenceLogprobs(ids);
    assertClose(echo!.logprobs!.token_logprobs.slice(1) as number[], ids.slice(1).map((id, t) => reference[t]![id]!), 1e-5);
    assert.equal(echo!.prompt_logprobs!.length, ids.length, 'echo with logprobs fills prompt_logprobs too, as vLLM');

    const sampled = (seed: number) => complete({ prompt: 'Hello', max_tokens: 8, temperature: 1, seed, return_token_ids: true });
    assert.deepEqual((await sampled(7)).choices[0]!.token_ids, (await sampled(7)).choices[0]!.token_ids);

    const free = (await complete({ prompt: 'Hello', max_tokens: 10, temperature: 0, ignore_eos: true })).choices[0]!;
    const stop = free.text.slice(3, 5);
    const cut = (await complete({ prompt: 'Hello', max_tokens: 10, temperature: 0, ignore_eos: true, stop: [stop] })).choices[0]!;
    assert.equal(cut.text, free.text.slice(0, free.text.indexOf(stop)));
    assert.deepEqual([cut.finish_reason, cut.stop_reason], ['stop', stop]);
  });

  test('malformed requests each get a 4xx JSON error, and the server answers after them', async () => {
    const ok = { prompt: [1, 2, 3], max_tokens: 0, prompt_logprobs: 1 };
    const values = [null, true, -1, 1.5, 'x', '', [], {}, [1, 'a'], [[1]], { a: 1 }, 1e20, -2, vocab + 1];
    const fields = ['model', 'prompt', 'max_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'logprobs', 'prompt_logprobs', 'echo', 'stream', 'stop', 'stop_token_ids', 'n', 'stream_options', 'ignore_eos'];
    const bodies: unknown[] = ['{bad', '', '[1,2]', '"text"', '42', 'null', '{"prompt": [1,2,3]', '\u0000'];
    for (const field of fields) for (const value of values) bodies.push({ ...ok, [field]: value });
    bodies.push(
      { ...ok, model: 'other' },
      { ...ok, prompt: [vocab] },
      { ...ok, prompt: [-1] },
      { ...ok, prompt: [[1, 2], [3, vocab + 5]] },
      { ...ok, prompt: new Array(MAX_MODEL_LEN + 1).fill(5) },
      { prompt: [1, 2, 3], max_tokens: MAX_MODEL_LEN },
      { ...ok, prompt: '' },
      { ...ok, prompt: [[]] },
      { ...ok, prompt_logprobs: vocab + 1 },
      { ...ok, logprobs: 10 ** 9 },
      { prompt: [1], max_tokens: 0 },
      { ...ok, stream: true, prompt_logprobs: 2 },
      { ...ok, presence_penalty: 0.5 },
      { ...ok, temperature: 2.5 },
      { ...ok, top_p: 0 },
      { ...ok, stop: [''] },
      { ...ok, prompt: 'x'.repeat(400_000) },
    );
    const seen = new Set<number>();
    let refused = 0;
    for (const body of bodies) {
      const { status, json, text } = await post('/v1/completions', body);
      if (status === 200) continue; // some variants are valid (e.g. echo: true, n: 1)
      refused++;
      seen.add(status);
      assert.ok(status >= 400 && status < 500, `${JSON.stringify(body).slice(0, 80)} → ${status} ${text.slice(0, 200)}`);
      assert.equal(json?.object, 'error', text.slice(0, 200));
      assert.equal(json.code, status);
      assert.equal(typeof json.message, 'string');
      assert.deepEqual(json.error, { message: json.message, type: json.type, param: json.param, code: status });
    }
    assert.ok(refused > 200, `${refused} of ${bodies.length} refused`);
    assert.deepEqual([...seen].sort(), [400, 404, 413]);
    // A body past the limit with no Content-Length (chunked) is cut off as it arrives.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(`${server.url}/v1/completions`, { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } }, (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body }));
      });
      request.on('error', reject);
      let sent = 0;
      const write = (): void => {
        while (sent++ < 20) if (!request.write('y'.repeat(64 * 1024))) return void request.once('drain', write);
        request.end();
      };
      write();
    });
    assert.equal(chunked.status, 413);
    assert.equal(JSON.parse(chunked.body).type, 'PayloadTooLargeError');
    const wrongMethod = await fetch(`${server.url}/v1/completions`);
    assert.equal(wrongMethod.status, 405);
    assert.equal(((await wrongMethod.json()) as { type: string }).type, 'MethodNotAllowedError');
    const noRoute = await fetch(`${server.url}/v1/chat/nothing`, { method: 'POST', body: '{}' });
    assert.equal(noRoute.status, 404);
    assert.equal((await post('/tokenize', { prompt: 3 })).status, 400);
    assert.equal((await post('/detokenize', { tokens: [vocab] })).status, 400);
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    await complete(ok);
  });
});

describe('distillery serve under load and shutdown', () => {
  test('bad options are errors naming the option, and nothing is left listening', async () => {
    await assert.rejects(serve({ model: folder, port: -1 }), /^OptionsError: port must be an integer in \[0, 65535\], got -1/);
    await assert.rejects(serve({ model: folder, maxQueu: 3 } as never), /serve: unknown option 'maxQueu' \(did you mean 'maxQueue'\?\)/);
    await assert.rejects(serve({ model: folder, device: 'gpu' }), /device must be 'cpu' or 'cuda\[:N\]'/);
    await assert.rejects(serve({ model: folder, port: 0, maxModelLen: 10 ** 6 }), /^OptionsError: maxModelLen 1000000 exceeds the model's max_position_embeddings \(40960 in /);
    await assert.rejects(serve({ model: folder, port: server.port }), /cannot listen on 127\.0\.0\.1:\d+: listen EADDRINUSE/);
  });

  test('a full queue answers 429, and close() finishes the request in flight', async () => {
    const small = await serve({ model: folder, port: 0, maxQueue: 2 });
    const bodies = Array.from({ length: 10 }, (_, i) => ({ prompt: [1 + i, 2, 3, 4], max_tokens: 0, prompt_logprobs: 20_000 }));
    const answers = await Promise.all(bodies.map((body) => post('/v1/completions', body, small.url)));
    const statuses = answers.map((a) => a.status);
    assert.ok(statuses.includes(429) && statuses.includes(200), `statuses ${statuses}`);
    const busy = answers.find((a) => a.status === 429)!;
    assert.equal(busy.json.type, 'RateLimitError');
    assert.equal((await fetch(`${small.url}/health`)).status, 200);

    const inFlight = post('/v1/completions', { prompt: 'a long one', max_tokens: 30, temperature: 0, ignore_eos: true }, small.url);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = small.close();
    const answer = await inFlight;
    assert.equal(answer.status, 200, answer.text.slice(0, 300));
    assert.equal(answer.json.usage.completion_tokens, 30);
    await closed;
    await assert.rejects(fetch(`${small.url}/health`), 'no longer accepting');
  });

  test('the command line prints its address and drains on SIGINT', async () => {
    const child = spawn(process.execPath, ['bin/distillery.mjs', 'serve', '--model', folder, '--port', '0', '--served-model-name', 'cli'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const line = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!);
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    const match = /^serving cli on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
    assert.ok(match, line);
    const url = match[1]!;
    assert.equal((await fetch(`${url}/health`)).status, 200);
    // A request in flight when SIGINT arrives is still answered.
    const inFlight = new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${url}/v1/completions`, { method: 'POST' }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode!));
      });
      request.on('error', reject);
      request.end(JSON.stringify({ prompt: 'x', max_tokens: 20, temperature: 0, ignore_eos: true }));
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(await inFlight, 200);
    assert.equal(code, 0, stderr);
  });
});
