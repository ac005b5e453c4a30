// Naming the rank that failed. A collective that fails only says "connection closed by peer
// [addr]:port" or "timed out"; which rank that was is learned through the rendezvous store: every
// survivor checks in under `failed/<rank>`, waits a short grace period for the others, and the
// ranks that never check in are the dead or hung ones. When the store itself is gone, so is rank 0,
// which hosts it.

/** A peer rank died, hung, or could not be reached: the run stops, naming it. */
export class RankFailureError extends Error {
  override name = 'RankFailureError';
  constructor(
    message: string,
    /** The ranks that went away (empty when unknown). */
    readonly failedRanks: number[] = [],
  ) {
    super(message);
  }
}

export interface FailureContext {
  rank: number;
  worldSize: number;
  /** What the run was doing ("step 7"). */
  phase: string;
  /** The collective that failed. */
  what: string;
  storeAt: string;
  cause: Error;
  setKey(key: string, value: string): void;
  getKey(key: string): string | null;
  /** How long survivors wait for each other to check in. */
  graceMs?: number;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function ranksList(ranks: number[]): string {
  return ranks.length === 1 ? `rank ${ranks[0]}` : `ranks ${ranks.join(', ')}`;
}

export function diagnoseFailure(c: FailureContext): RankFailureError {
  const cause = c.cause.message.split('\n')[0]!.trim();
  const me = `rank ${c.rank} of ${c.worldSize}`;
  try {
    c.setKey(`failed/${c.rank}`, c.phase);
  } catch {
    return new RankFailureError(
      `${me}: rank 0 went away during ${c.phase} (the ${c.what} failed and its rendezvous store at ${c.storeAt} no longer answers): ${cause}`,
      [0],
    );
  }
  const deadline = Date.now() + (c.graceMs ?? 3000);
  let missing: number[] = [];
  for (;;) {
    try {
      missing = [];
      for (let r = 0; r < c.worldSize; r++) if (r !== c.rank && c.getKey(`failed/${r}`) === null) missing.push(r);
    } catch {
      if (c.rank !== 0) return new RankFailureError(`${me}: rank 0 went away during ${c.phase} (its rendezvous store at ${c.storeAt} stopped answering): ${cause}`, [0]);
    }
    if (missing.length === 0 || Date.now() >= deadline) break;
    sleep(100);
  }
  if (missing.length === 0) return new RankFailureError(`${me}: the ${c.what} failed during ${c.phase} on every rank: ${cause}`);
  return new RankFailureError(`${me}: ${ranksList(missing)} stopped responding during ${c.phase} (the ${c.what} failed: ${cause})`, missing);
}
