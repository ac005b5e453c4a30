// `distillery bench serve`: the server runs in a child process (as it would for a training run on
// another machine), the clients here, so that client-side JSON parsing does not share the server's
// event loop. Each client sends its next request when the last is answered; every request asks
// prompt_logprobs k for a prompt of --prompt-tokens tokens, as --teacher-url asks them.
import { readFileSync } from 'node:fs';
import { serverMessage } from '../distill/teacher-service/http.js';
import { serviceRoutes } from '../distill/teacher-service/served-teacher.js';
import { promptLogprobsRequest } from '../distill/teacher-service/wire.js';
import { startServeChild } from './child-process.js';
import { inProcessFigures } from './bench-serve-in-process.js';
import type { BenchServeFlags } from './commands/bench-serve.js';

async function post(url: string, body: unknown): Promise<Record<string, any>> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  } catch (error) {
    // fetch says only "fetch failed"; the reason is its cause.
    const cause = (error as { cause?: { message?: string } }).cause;
    throw new Error(`${url}: ${cause?.message ?? (error as Error).message}`);
  }
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${serverMessage(text)}`);
  return JSON.parse(text) as Record<string, any>;
}

/**
 * CPU seconds a process has used (user + system), from /proc (Linux; null elsewhere): the server's
 * share of the cores, apart from the clients' JSON parsing on the same machine.
 */
function cpuSecondsOf(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are the 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

const ownCpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

export async function runBenchServe(flags: BenchServeFlags, clientCounts: number[]): Promise<void> {
  const server: { url: string; child?: { pid?: number }; stop(): Promise<void> } = flags.url
    ? { url: flags.url, stop: async () => {} }
    : await startServeChild(['--model', flags.model!, '--port', '0', '--device', flags.device, '--dtype', flags.dtype, '--max-batch-tokens', String(flags.maxBatchTokens)]);
  // The same routes the --teacher-url client takes (a URL with or without /v1).
  const routes = serviceRoutes(server.url);
  try {
    const model = flags.url ? flags.model : undefined;
    // Real text's ids (any vocabulary), rotated so that no two prompts are the same.
    const text = 'The quick brown fox jumps over the lazy dog while the teacher scores every token of the prompt. ';
    const base: number[] = (await post(routes.tokenize, { model, prompt: text.repeat(Math.ceil(flags.promptTokens / 10)) })).tokens;
    const prompt = (i: number) => Array.from({ length: flags.promptTokens }, (_, t) => base[(i + t) % base.length]!);
    // The request --teacher-url makes.
    const request = (i: number) => post(routes.completions, promptLogprobsRequest(model, prompt(i), flags.k));
    await Promise.all([request(0), request(1)]); // warm-up: first forward passes, token strings
    const served = new Map<number, number>();
    for (const clients of clientCounts) {
      let next = 0;
      const latencies: number[] = [];
      const serverCpu = cpuSecondsOf(server.child?.pid);
      const clientCpu = ownCpuSeconds();
      const started = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < flags.requests) {
            const sent = performance.now();
            await request(next++);
            latencies.push(performance.now() - sent);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      const percentile = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!);
      const result = {
        clients,
        requests: flags.requests,
        prompt_tokens: flags.promptTokens,
        k: flags.k,
        seconds: Number(seconds.toFixed(3)),
        requests_per_s: Number((flags.requests / seconds).toFixed(2)),
        tokens_per_s: Math.round((flags.requests * flags.promptTokens) / seconds),
        p50_ms: percentile(0.5),
        p99_ms: percentile(0.99),
        // CPU per request: the server's (null for a --url server) and the clients' (this process).
        server_cpu_ms_per_request: serverCpu === null ? null : Math.round((1000 * (cpuSecondsOf(server.child?.pid)! - serverCpu)) / flags.requests),
        client_cpu_ms_per_request: Math.round((1000 * (ownCpuSeconds() - clientCpu)) / flags.requests),
      };
      served.set(clients, result.tokens_per_s);
      if (flags.json) console.log(JSON.stringify(result));
      else {
        const cpu = `CPU per request: server ${result.server_cpu_ms_per_request ?? '?'} ms, clients ${result.client_cpu_ms_per_request} ms`;
        console.log(`${clients} client(s): ${result.requests_per_s} requests/s, ${result.tokens_per_s} prompt tokens/s, latency p50 ${result.p50_ms} ms p99 ${result.p99_ms} ms, ${cpu} (${flags.requests} requests × ${flags.promptTokens} tokens, k ${flags.k}, ${result.seconds} s)`);
      }
    }
    if (flags.url) return;
    // The baseline, after the server has stopped (it would share the cores): the same prompts in
    // this process, in batches of what the server forms from that many clients.
    await server.stop();
    const perBatch = Math.max(1, Math.floor(flags.maxBatchTokens / flags.promptTokens));
    const batches = [...new Set(clientCounts.map((c) => Math.min(c, perBatch)))];
    const figures = await inProcessFigures(flags.model!, flags, prompt, batches);
    for (const f of figures) {
      const clients = clientCounts.filter((c) => Math.min(c, perBatch) === f.batch);
      const share = Math.max(...clients.map((c) => served.get(c)!)) / f.scoring_tokens_per_s;
      if (flags.json) console.log(JSON.stringify({ in_process: true, ...f, served_share_of_scoring: Number(share.toFixed(3)) }));
      else {
        console.log(
          `in process, batches of ${f.batch}: ${f.scoring_tokens_per_s} prompt tokens/s scoring (forward, LM head, log-softmax, top-${flags.k}; no HTTP or JSON; ${f.scoring_cpu_ms_per_request} ms CPU per request), ` +
            `${f.forward_tokens_per_s} tokens/s teacher forward + LM head alone; served at ${clients.join('/')} client(s): ${(100 * share).toFixed(0)} % of the scoring rate`,
        );
      }
    }
  } finally {
    await server.stop();
  }
}
