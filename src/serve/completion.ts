// POST /v1/completions: each prompt of the request becomes a choice. A choice that generates at most
// one token is one row of a scoring batch (its prompt logprobs and its token from the same forward
// pass); a longer one is scored first when prompt logprobs are asked, then decoded. The answer is
// one JSON body written in pieces, or server-sent events as the tokens come (vLLM's format).
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { asApiError, errorJson } from './api-error.js';
import { BodyWriter } from './body-writer.js';
import { ChoiceTokens, type ChunkListener, type TokenOut } from './choice-tokens.js';
import { type CompletionRequest, parseCompletionRequest, type PromptInput } from './completion-request.js';
import { codePoints, legacyLogprobs, promptLogprobsPosition } from './logprob-json.js';
import type { LogprobRow } from './logprob-tables.js';
import type { Scheduler } from './scheduler.js';
import type { ServedModel } from './served-model.js';
import { EventStream } from './sse.js';

interface Choice {
  prompt: PromptInput;
  /** Rows for prompt positions 1..L-1; null when prompt logprobs were not asked. */
  promptRows: LogprobRow[] | null;
  tokens: ChoiceTokens;
}

/** What every choice of one request shares. */
interface Completion {
  id: string;
  created: number;
  served: ServedModel;
  scheduler: Scheduler;
  request: CompletionRequest;
  cancelled: () => boolean;
}

export async function handleCompletion(body: unknown, response: ServerResponse, served: ServedModel, scheduler: Scheduler): Promise<void> {
  const request = parseCompletionRequest(body, served);
  const release = scheduler.admit();
  try {
    let gone = false;
    response.on('close', () => (gone = !response.writableFinished));
    const completion: Completion = {
      id: `cmpl-${randomUUID().replaceAll('-', '')}`,
      created: Math.floor(Date.now() / 1000),
      served,
      scheduler,
      request,
      cancelled: () => gone,
    };
    if (request.stream) await streamCompletion(completion, response);
    else await answerCompletion(completion, response);
  } finally {
    release();
  }
}

/** Runs one choice to its end; `onChunk` hears each token as it comes (streaming). */
async function runChoice(c: Completion, prompt: PromptInput, onPrompt: ((rows: LogprobRow[] | null) => void) | null, onChunk: ChunkListener | null): Promise<Choice> {
  const { request, served, scheduler } = c;
  const tokens = new ChoiceTokens(served, request, onChunk);
  let promptRows: LogprobRow[] | null = null;
  if (request.maxTokens <= 1) {
    const next = request.maxTokens === 1 ? { sampling: request.sampling, logprobs: request.logprobs } : null;
    const scored = await scheduler.score({ ids: prompt.ids, promptK: request.promptLogprobs, next }, c.cancelled);
    promptRows = scored.prompt;
    onPrompt?.(promptRows);
    if (scored.next) tokens.push(scored.next.id, scored.next.logprobs);
  } else {
    if (request.promptLogprobs !== null) promptRows = (await scheduler.score({ ids: prompt.ids, promptK: request.promptLogprobs, next: null }, c.cancelled)).prompt;
    onPrompt?.(promptRows);
    await new Promise<void>((resolve, reject) =>
      scheduler.decode({
        ids: prompt.ids,
        maxTokens: request.maxTokens,
        sampling: request.sampling,
        logprobs: request.logprobs,
        onToken: (id, row) => tokens.push(id, row),
        cancelled: c.cancelled,
        finish: resolve,
        fail: reject,
      }),
    );
  }
  tokens.end();
  return { prompt, promptRows, tokens };
}

/** The prompt as echoed: the text sent, or its ids decoded (special tokens kept, as vLLM's renderer). */
function promptText(c: Completion, prompt: PromptInput): string {
  return prompt.text ?? c.served.tokenizer?.decode(prompt.ids) ?? '';
}

/** The prompt's tokens in the legacy logprobs of an echo: the first has no logprob. */
function promptTokens(prompt: PromptInput, rows: LogprobRow[] | null): TokenOut[] {
  return prompt.ids.map((id, t) => ({ id, row: t === 0 || !rows ? null : rows[t - 1]! }));
}

function usageJson(choices: readonly Choice[]): string {
  const prompt = choices.reduce((n, ch) => n + ch.prompt.ids.length, 0);
  const completion = choices.reduce((n, ch) => n + ch.tokens.tokens.length, 0);
  return `{"prompt_tokens":${prompt},"total_tokens":${prompt + completion},"completion_tokens":${completion}}`;
}

function headerJson(c: Completion): string {
  return `"id":"${c.id}","object":"text_completion","created":${c.created},"model":${JSON.stringify(c.served.name)}`;
}

async function answerCompletion(c: Completion, response: ServerResponse): Promise<void> {
  const choices = await Promise.all(c.request.prompts.map((prompt) => runChoice(c, prompt, null, null)));
  if (c.cancelled()) return;
  const { request, served } = c;
  response.writeHead(200, { 'Content-Type': 'application/json' });
  const out = new BodyWriter(response);
  await out.write(`{${headerJson(c)},"choices":[`);
  for (const [index, choice] of choices.entries()) {
    const generated = choice.tokens.tokens;
    const echoed = request.echo ? promptTokens(choice.prompt, choice.promptRows) : [];
    const text = (request.echo ? promptText(c, choice.prompt) : '') + choice.tokens.text;
    const logprobs = request.logprobs === null ? 'null' : legacyLogprobs([...echoed, ...generated], request.logprobs, served.tokenStrings);
    const ids = request.returnTokenIds ? `,"prompt_token_ids":[${choice.prompt.ids.join(',')}],"token_ids":[${generated.map((t) => t.id).join(',')}]` : '';
    await out.write(
      `${index > 0 ? ',' : ''}{"index":${index},"text":${JSON.stringify(text)},"logprobs":${logprobs},"finish_reason":"${choice.tokens.finishReason}","stop_reason":${JSON.stringify(choice.tokens.stopReason)}${ids},"prompt_logprobs":`,
    );
    if (!choice.promptRows) await out.write('null}');
    else {
      await out.write('[null');
      for (const row of choice.promptRows) await out.write(`,${promptLogprobsPosition(row, served.tokenStrings)}`);
      await out.write(']}');
    }
  }
  await out.end(`],"usage":${usageJson(choices)}}`);
}

async function streamCompletion(c: Completion, response: ServerResponse): Promise<void> {
  const { request, served } = c;
  const events = new EventStream(response);
  const sent: Promise<void>[] = [];
  const runs = request.prompts.map((prompt, index) => {
    let echo: { text: string; tokens: TokenOut[] } | null = null;
    let textOffset = 0;
    const onPrompt = (rows: LogprobRow[] | null) => {
      if (request.echo) echo = { text: promptText(c, prompt), tokens: promptTokens(prompt, rows) };
    };
    const onChunk: ChunkListener = (delta, tokens, finish, stopReason) => {
      // The first chunk of an echo carries the prompt (vLLM: prompt text + first delta).
      const [text, covered] = echo ? [echo.text + delta, [...echo.tokens, ...tokens]] : [delta, tokens];
      echo = null;
      const logprobs = request.logprobs === null ? 'null' : legacyLogprobs(covered, request.logprobs, served.tokenStrings, textOffset);
      textOffset += codePoints(text);
      const reason = finish ? `"${finish}"` : 'null';
      sent.push(events.send(`{${headerJson(c)},"choices":[{"index":${index},"text":${JSON.stringify(text)},"logprobs":${logprobs},"finish_reason":${reason},"stop_reason":${JSON.stringify(stopReason)}}]}`));
    };
    return runChoice(c, prompt, onPrompt, onChunk);
  });
  let choices: Choice[];
  try {
    choices = await Promise.all(runs);
  } catch (error) {
    // The status is sent already: the error goes as an event, as vLLM's create_streaming_error_response does.
    await Promise.all(sent);
    await events.send(errorJson(asApiError(error)));
    await events.done();
    return;
  }
  await Promise.all(sent);
  if (request.includeUsage) await events.send(`{${headerJson(c)},"choices":[],"usage":${usageJson(choices)}}`);
  await events.done();
}
