// The HTTP surface: vLLM's OpenAI-compatible routes on node:http. Every failure is answered with a
// JSON error (4xx for the request's fault, 5xx for ours) and never takes the process down; while
// the server drains, new requests get 503 and the connection is closed after the answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, asApiError, errorJson } from './api-error.js';
import { handleCompletion } from './completion.js';
import { readJsonBody } from './request-body.js';
import type { Scheduler } from './scheduler.js';
import type { ServedModel } from './served-model.js';
import { detokenize, tokenize } from './tokenize.js';

export interface RouteContext {
  served: ServedModel;
  scheduler: Scheduler;
  maxBodyBytes: number;
  /** Unix seconds the model was loaded (the `created` of /v1/models). */
  created: number;
  /** True once close() was called. */
  draining(): boolean;
}

type Handler = (request: IncomingMessage, response: ServerResponse, context: RouteContext) => Promise<void>;

function sendJson(response: ServerResponse, status: number, json: string, headers: Record<string, string> = {}): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json), ...headers });
  response.end(json);
}

const jsonBody = (handle: (body: unknown, context: RouteContext) => string): Handler => async (request, response, context) => {
  sendJson(response, 200, handle(await readJsonBody(request, context.maxBodyBytes), context));
};

const ROUTES: Record<string, Record<string, Handler>> = {
  '/health': { GET: async (_request, response) => void response.writeHead(200).end() },
  '/v1/models': {
    GET: async (_request, response, { served, created }) => {
      const card = { id: served.name, object: 'model', created, owned_by: 'distillery', root: served.name, parent: null, max_model_len: served.maxModelLen };
      sendJson(response, 200, JSON.stringify({ object: 'list', data: [card] }));
    },
  },
  '/tokenize': { POST: jsonBody((body, { served }) => tokenize(body, served)) },
  '/detokenize': { POST: jsonBody((body, { served }) => detokenize(body, served)) },
  '/v1/completions': {
    POST: async (request, response, { served, scheduler, maxBodyBytes }) => handleCompletion(await readJsonBody(request, maxBodyBytes), response, served, scheduler),
  },
};

export function routeRequest(request: IncomingMessage, response: ServerResponse, context: RouteContext): void {
  // A client that goes away mid-answer makes writes fail: those errors concern nobody.
  response.on('error', () => {});
  request.on('error', () => {});
  const fail = (error: unknown) => {
    const apiError = asApiError(error);
    if (apiError.status >= 500) process.stderr.write(`distillery serve: ${request.method} ${request.url}: ${apiError.message}\n`);
    if (response.headersSent) {
      response.destroy();
      return;
    }
    // A body too large is not read any further: the connection is closed once the answer is out.
    const close: Record<string, string> = apiError.status === 413 || context.draining() ? { Connection: 'close' } : {};
    sendJson(response, apiError.status, errorJson(apiError), close);
    if (apiError.status === 413) request.resume();
  };
  try {
    if (context.draining()) throw new ApiError(503, 'the server is shutting down');
    const path = (request.url ?? '/').split('?')[0]!;
    const methods = ROUTES[path];
    if (!methods) throw new ApiError(404, `no route ${path}; this server answers ${Object.keys(ROUTES).join(', ')}`);
    const handler = methods[request.method ?? ''];
    if (!handler) {
      response.setHeader('Allow', Object.keys(methods).join(', '));
      throw new ApiError(405, `${path} takes ${Object.keys(methods).join(' or ')}, not ${request.method}`);
    }
    handler(request, response, context).catch(fail);
  } catch (error) {
    fail(error);
  }
}
