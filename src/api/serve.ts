// serve(): a model behind vLLM's OpenAI-compatible HTTP API (`distillery serve`), so that a teacher
// runs once, on the machine that suits it, and training runs query it over HTTP. The routes and
// JSON are vLLM's (/v1/completions with prompt_logprobs, /v1/models, /tokenize, /detokenize,
// /health): a client written for vLLM works with either.
import { type RunningServer, ServerSettingsError, startServer } from '../serve/server.js';
import { checkDevice } from '../tensor/index.js';
import { type Naming, namer } from './naming.js';
import { checkInt, OptionsError, rejectUnknownOptions, requireString } from './options.js';

export interface ServeOptions {
  /** Model folder or Hugging Face repo id. */
  model: string;
  /** Address to bind (default 127.0.0.1: this machine only; 0.0.0.0 for every interface). */
  host?: string;
  /** Port (default 8000; 0 picks a free one, which the handle reports). */
  port?: number;
  dtype?: 'float32' | 'bfloat16' | 'float16';
  device?: string;
  /** The name requests give as `model` and /v1/models lists (default: `model` as given). */
  servedModelName?: string;
  /** Padded tokens in one forward pass (default 8192); a longer prompt runs alone. */
  maxBatchTokens?: number;
  /** Completion requests queued or running at once (default 256); more are answered 429. */
  maxQueue?: number;
  /** Prompt + new tokens at most (default: config.json's max_position_embeddings, which is also the most allowed). */
  maxModelLen?: number;
  /** The largest logprobs / prompt_logprobs k a request may ask (default: the vocabulary size). */
  maxLogprobs?: number;
  /** Request bodies larger than this many MiB are refused with 413 (default 64). */
  maxBodyMb?: number;
  /** Loading messages. */
  log?: (line: string) => void;
}

/** A running server: its address and name, and close() (stops accepting, finishes what is in flight, releases the model). */
export type ServeHandle = RunningServer;

const KEYS = ['model', 'host', 'port', 'dtype', 'device', 'servedModelName', 'maxBatchTokens', 'maxQueue', 'maxModelLen', 'maxLogprobs', 'maxBodyMb', 'log'];

export async function serve(options: ServeOptions, naming: Naming = 'keys'): Promise<ServeHandle> {
  const name = namer(naming);
  rejectUnknownOptions('serve', options, KEYS);
  const model = requireString('serve', name('model'), options.model);
  const dtype = options.dtype ?? 'float32';
  if (!['float32', 'bfloat16', 'float16'].includes(dtype)) throw new OptionsError(`${name('dtype')} must be float32, bfloat16 or float16, got ${JSON.stringify(dtype)}`);
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw new OptionsError(`${name('host')} must be an address such as 127.0.0.1 or 0.0.0.0, got ${JSON.stringify(host)}`);
  const maxBodyMb = options.maxBodyMb ?? 64;
  if (typeof maxBodyMb !== 'number' || !(maxBodyMb > 0) || maxBodyMb > 4096) throw new OptionsError(`${name('maxBodyMb')} must be a number in (0, 4096], got ${JSON.stringify(maxBodyMb)}`);
  const optionalInt = (key: 'maxModelLen' | 'maxLogprobs', min: number) => (options[key] === undefined ? null : checkInt(name(key), options[key], min));
  try {
    return await startServer({
      model,
      host,
      port: checkInt(name('port'), options.port ?? 8000, 0, 65535),
      dtype,
      device: checkDevice(options.device ?? 'cpu', name('device')),
      servedModelName: options.servedModelName === undefined ? model : requireString('serve', name('servedModelName'), options.servedModelName),
      maxBatchTokens: checkInt(name('maxBatchTokens'), options.maxBatchTokens ?? 8192, 1),
      maxQueue: checkInt(name('maxQueue'), options.maxQueue ?? 256, 1),
      maxModelLen: optionalInt('maxModelLen', 1),
      maxLogprobs: optionalInt('maxLogprobs', 0),
      maxBodyBytes: Math.floor(maxBodyMb * 1024 * 1024),
      log: options.log ?? (() => {}),
    });
  } catch (error) {
    if (error instanceof ServerSettingsError) throw new OptionsError(`${name(error.key)} ${error.message}`);
    throw error;
  }
}
