// A model behind vLLM's OpenAI-compatible HTTP API: load it, listen, answer, and on close() stop
// accepting, finish what is in flight, and release the model.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openModel, stopTokenIds } from '../models/open-model.js';
import type { DType } from '../tensor/index.js';
import { badRequest, errorJson } from './api-error.js';
import { routeRequest } from './routes.js';
import { Scheduler } from './scheduler.js';
import { servedModel } from './served-model.js';

export interface ServerSettings {
  model: string;
  host: string;
  /** 0: any free port. */
  port: number;
  dtype: DType;
  device: string;
  /** The name requests give as `model`. */
  servedModelName: string;
  maxBatchTokens: number;
  maxQueue: number;
  /** null: the model's max_position_embeddings. */
  maxModelLen: number | null;
  /** null: the vocabulary size. */
  maxLogprobs: number | null;
  maxBodyBytes: number;
  log: (line: string) => void;
}

export interface RunningServer {
  host: string;
  port: number;
  /** http://HOST:PORT */
  url: string;
  servedModelName: string;
  maxModelLen: number;
  /** Stops accepting, answers what is in flight, releases the model; resolves when all of it is done. */
  close(): Promise<void>;
}

/** A setting that does not fit the model (known once it is loaded); `key` names the setting, for the caller to phrase. */
export class ServerSettingsError extends Error {
  override name = 'ServerSettingsError';
  constructor(
    readonly key: keyof ServerSettings,
    message: string,
  ) {
    super(message);
  }
}

/** How long connections may stay open once nothing is left to answer, before close() ends them. */
const CLOSE_GRACE_MS = 10_000;

export async function startServer(settings: ServerSettings): Promise<RunningServer> {
  const { folder, model, tokenizer, generation } = await openModel(settings.model, { dtype: settings.dtype, device: settings.device, log: settings.log });
  let server: Server | null = null;
  try {
    const context = model.config.maxPositionEmbeddings;
    const maxModelLen = settings.maxModelLen ?? context;
    // Past max_position_embeddings the rotary positions are ones the model never saw (vLLM refuses
    // the same unless told VLLM_ALLOW_LONG_MAX_MODEL_LEN).
    if (maxModelLen > context) throw new ServerSettingsError('maxModelLen', `${maxModelLen} exceeds the model's max_position_embeddings (${context} in ${folder}/config.json); give ${context} or less`);
    const vocabSize = model.config.vocabSize;
    const served = servedModel({
      name: settings.servedModelName,
      model,
      tokenizer,
      vocabSize,
      maxModelLen,
      maxLogprobs: Math.min(settings.maxLogprobs ?? vocabSize, vocabSize),
      eosTokenIds: stopTokenIds([generation], tokenizer?.eosTokenId ?? null),
      samplingDefaults: { temperature: generation.temperature, topP: generation.topP, topK: generation.topK },
    });
    const scheduler = new Scheduler(model, { maxBatchTokens: settings.maxBatchTokens, maxQueue: settings.maxQueue });
    let draining = false;
    const created = Math.floor(Date.now() / 1000);
    const routeContext = { served, scheduler, maxBodyBytes: settings.maxBodyBytes, created, draining: () => draining };
    // A forward pass holds the event loop for as long as it runs (seconds for a large model on a CPU),
    // and timers fire before waiting sockets are read: Node's keep-alive (5 s) and header timeouts
    // would close connections whose next request sits unread in the socket buffer. Idle connections
    // are closed by the clients (or by close()), not by a clock the server cannot keep.
    const httpServer = createServer({ keepAliveTimeout: 10 * 60_000, headersTimeout: 0, requestTimeout: 0 }, (request, response) => routeRequest(request, response, routeContext));
    server = httpServer;
    // A malformed request line or headers: a JSON 400, then the connection closes (Node's default is a bare 400).
    httpServer.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      if (!socket.writable || error.code === 'ECONNRESET') return void socket.destroy();
      const body = errorJson(badRequest(`malformed HTTP request: ${error.message}`));
      socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    });
    await new Promise<void>((resolve, reject) => {
      httpServer.once('error', (error) => reject(new Error(`cannot listen on ${settings.host}:${settings.port}: ${error.message}`)));
      httpServer.listen(settings.port, settings.host, () => {
        httpServer.removeAllListeners('error');
        resolve();
      });
    });
    const { port } = httpServer.address() as AddressInfo;
    const hostInUrl = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
    let closing: Promise<void> | null = null;
    const close = () =>
      (closing ??= (async () => {
        draining = true;
        const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        httpServer.closeIdleConnections();
        await scheduler.idle();
        // Answers in flight finish writing; keep-alive connections close as they fall idle.
        const idleTimer = setInterval(() => httpServer.closeIdleConnections(), 50);
        const deadline = setTimeout(() => httpServer.closeAllConnections(), CLOSE_GRACE_MS);
        await closed;
        clearInterval(idleTimer);
        clearTimeout(deadline);
        model.dispose();
      })());
    return { host: settings.host, port, url: `http://${hostInUrl}:${port}`, servedModelName: served.name, maxModelLen, close };
  } catch (error) {
    server?.close();
    model.dispose();
    throw error;
  }
}
