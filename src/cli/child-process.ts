// What the benchmarks need from the child processes they run: why one failed, in a line, and the
// JSON object a worker prints as its last line of output.
import type { SpawnSyncReturns } from 'node:child_process';

/** The child's last line of stderr, or its exit status or signal when it printed nothing (killed for memory, say). */
export function whyChildFailed(child: SpawnSyncReturns<string>): string {
  return child.stderr.trim().split('\n').at(-1) || `exit ${child.status ?? child.signal} (out of memory?)`;
}

/** The JSON object on the child's last line of stdout; throws `${what} failed: …` when the child failed. */
export function childJsonResult(child: SpawnSyncReturns<string>, what: string): Record<string, unknown> {
  if (child.status !== 0) throw new Error(`${what} failed: ${whyChildFailed(child)}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}
