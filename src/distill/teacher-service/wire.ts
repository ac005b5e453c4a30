// The teacher service's wire format: vLLM's OpenAI-compatible completions endpoint with its
// `prompt_logprobs` extension (what `distillery serve` speaks too). A request scores one prompt of
// token ids; the answer's `choices[0].prompt_logprobs` has one entry per prompt position — null for
// the first (nothing predicts it), then an object keyed by token id written as a string, each
// `{logprob, rank, decoded_token}`, holding the top-k of the distribution that predicts that
// position plus the prompt's own token there when it is not among them (k or k + 1 entries).

/** The body that asks for the top-k log-probabilities at every position of `ids` (`model` undefined: the server's only one). */
export function promptLogprobsRequest(model: string | undefined, ids: readonly number[], topK: number): Record<string, unknown> {
  // vLLM generates at least one token per request: one greedy token, ignored.
  return { model, prompt: ids, max_tokens: 1, temperature: 0, prompt_logprobs: topK };
}

/** The top-k of one position: ids by rank (best first) and their log-probabilities. */
export interface PositionTopK {
  ids: number[];
  logProbs: number[];
}

export class WireFormatError extends Error {
  override name = 'WireFormatError';
}

/**
 * The top-k at each position of a prompt of `length` tokens (index t: the distribution predicting
 * token t; index 0 is null). Entries ranked beyond k (the prompt's own token, added by the server)
 * are dropped, so every position holds exactly k; anything malformed is a WireFormatError naming
 * the field.
 */
export function parsePromptLogprobs(body: unknown, length: number, topK: number): (PositionTopK | null)[] {
  const fail = (what: string): never => {
    throw new WireFormatError(`choices[0].prompt_logprobs: ${what}`);
  };
  const choices = (body as { choices?: unknown })?.choices;
  if (!Array.isArray(choices) || choices.length === 0) throw new WireFormatError('the answer has no choices[0]');
  const positions: unknown = (choices[0] as { prompt_logprobs?: unknown }).prompt_logprobs;
  if (!Array.isArray(positions)) return fail('missing (the server must support vLLM\'s prompt_logprobs)');
  if (positions.length !== length) fail(`${positions.length} entries for a ${length}-token prompt`);
  return positions.map((entry: unknown, t: number) => {
    if (entry === null) {
      if (t === 0) return null;
      fail(`position ${t} is null`);
    }
    if (typeof entry !== 'object' || Array.isArray(entry)) fail(`position ${t} is not an object`);
    const ranked: { id: number; logProb: number; rank: number }[] = [];
    for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
      const id = Number(key);
      const { logprob, rank } = (value ?? {}) as { logprob?: unknown; rank?: unknown };
      if (!Number.isSafeInteger(id) || id < 0) fail(`position ${t}: key '${key}' is not a token id`);
      if (typeof logprob !== 'number' || typeof rank !== 'number') fail(`position ${t}, token ${key}: logprob and rank must be numbers`);
      if ((rank as number) <= topK) ranked.push({ id, logProb: logprob as number, rank: rank as number });
    }
    if (ranked.length < topK) fail(`position ${t} has ${ranked.length} entries ranked 1 … ${topK}, expected ${topK}`);
    // Tied log-probabilities share a rank: the prompt's own token may tie with the k-th.
    const top = ranked.sort((a, b) => a.rank - b.rank || b.logProb - a.logProb).slice(0, topK);
    return { ids: top.map((r) => r.id), logProbs: top.map((r) => r.logProb) };
  });
}
