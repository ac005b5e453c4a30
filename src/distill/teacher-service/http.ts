// JSON over HTTP to the teacher service, with the patience a training run needs: connection
// errors, 5xx and 429 are retried with exponential backoff until the run's --teacher-timeout is
// spent; any other 4xx is the request's fault and fails at once with the server's message.

/** The teacher service could not answer (in time, or at all); the message names the URL. */
export class TeacherServiceError extends Error {
  override name = 'TeacherServiceError';
}

export interface RetryPolicy {
  /** Seconds a request may keep failing before the run gives up on the service. */
  timeoutSeconds: number;
  /** Told about each retry (a slow or restarting server shows in the run's log). */
  log?: (line: string) => void;
}

const FIRST_BACKOFF_MS = 250;
const LONGEST_BACKOFF_MS = 8000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The server's error message from an OpenAI-style error body, else the raw text (shortened). */
export function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: { message?: unknown } };
    const message = body.message ?? body.error?.message;
    if (typeof message === 'string') return message;
  } catch {
    // not JSON: the text itself
  }
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** GET (no body) or POST `body` as JSON to `url`; the parsed answer. */
export async function requestJson(url: string, body: unknown, policy: RetryPolicy): Promise<unknown> {
  const deadline = Date.now() + policy.timeoutSeconds * 1000;
  let backoff = FIRST_BACKOFF_MS;
  for (let attempt = 1; ; attempt++) {
    let failure: string;
    try {
      const response = await fetch(url, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
      });
      const text = await response.text();
      if (response.ok) {
        try {
          return JSON.parse(text);
        } catch {
          throw new TeacherServiceError(`${url}: the answer is not JSON (${serverMessage(text)})`);
        }
      }
      if (response.status < 500 && response.status !== 429) throw new TeacherServiceError(`${url}: HTTP ${response.status}: ${serverMessage(text)}`);
      failure = `HTTP ${response.status}: ${serverMessage(text)}`;
    } catch (error) {
      if (error instanceof TeacherServiceError) throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      failure = cause?.code ?? cause?.message ?? (error as Error).message;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new TeacherServiceError(`${url}: no answer within --teacher-timeout ${policy.timeoutSeconds} s (${attempt} attempt${attempt > 1 ? 's' : ''}; last: ${failure})`);
    }
    policy.log?.(`teacher service ${url}: ${failure}; retrying in ${(Math.min(backoff, left) / 1000).toFixed(1)} s`);
    await sleep(Math.min(backoff, left));
    backoff = Math.min(2 * backoff, LONGEST_BACKOFF_MS);
  }
}
