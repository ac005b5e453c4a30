// Errors a request gets back, in the JSON shape of vLLM's ErrorResponse. vLLM has written two shapes:
// the flat one ({"object": "error", "message", "type", "param", "code"}, vLLM before the ErrorInfo
// change) and the nested one ({"error": {"message", "type", "param", "code"}}, vLLM now, as OpenAI's
// own API). Each error body here carries both, so a client written against either version reads it.

/** The OpenAI SDK's exception names by status, as vLLM's create_error_response uses them. */
const TYPE_OF_STATUS: Record<number, string> = {
  400: 'BadRequestError',
  404: 'NotFoundError',
  405: 'MethodNotAllowedError',
  413: 'PayloadTooLargeError',
  429: 'RateLimitError',
  // nginx's 'client closed request': never sent, since nobody is left to read it.
  499: 'ClientClosedRequest',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

/** A request the server refuses or could not serve: the status, and a message naming the field at fault. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly type: string;

  constructor(
    readonly status: number,
    message: string,
    /** The request field at fault, when one is (vLLM's `param`). */
    readonly param: string | null = null,
  ) {
    super(message);
    this.type = TYPE_OF_STATUS[status] ?? 'BadRequestError';
  }
}

/** A 400 naming `param`. */
export function badRequest(message: string, param: string | null = null): ApiError {
  return new ApiError(400, message, param);
}

/** The JSON text of an error response. */
export function errorJson(error: ApiError): string {
  const info = { message: error.message, type: error.type, param: error.param, code: error.status };
  return JSON.stringify({ object: 'error', ...info, error: info });
}

/** Any failure as an ApiError: ours as they are, anything else as a 500 that says what went wrong. */
export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError(500, `internal error: ${message}`);
}
