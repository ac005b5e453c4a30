// Reading a request's JSON body with a bound on its size: a body past the bound is refused (413)
// as soon as its Content-Length, or the bytes received so far, say so, without buffering the rest.
import type { IncomingMessage } from 'node:http';
import { ApiError, badRequest } from './api-error.js';

/** The parsed JSON body of `request`; ApiError 413 past `maxBytes`, 400 when it is not JSON. */
export function readJsonBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new ApiError(413, `the request body is larger than the server's limit of ${maxBytes} bytes (--max-body-mb)`);
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let failed = false;
    request.on('data', (chunk: Buffer) => {
      if (failed) return;
      received += chunk.length;
      if (received > maxBytes) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    request.on('error', (error) => {
      failed = true;
      reject(new ApiError(400, `the request body could not be read: ${error.message}`));
    });
    request.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return reject(badRequest('the request body is empty; send a JSON object'));
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(badRequest(`the request body is not valid JSON: ${(error as Error).message}`));
      }
    });
  });
}
