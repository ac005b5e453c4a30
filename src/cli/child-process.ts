// What the benchmarks need from the child processes they run: why one failed, in a line, the
// JSON object a worker prints as its last line of output, and a `distillery serve` to ask.
import { type ChildProcess, spawn, type SpawnSyncReturns } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The `distillery` command of this checkout or package. */
const DISTILLERY = fileURLToPath(new URL('../../bin/distillery.mjs', import.meta.url));

/** The child's last line of stderr, or its exit status or signal when it printed nothing (killed for memory, say). */
export function whyChildFailed(child: { stderr: string; status: number | null; signal: NodeJS.Signals | null }): string {
  return child.stderr.trim().split('\n').at(-1) || `exit ${child.status ?? child.signal} (out of memory?)`;
}

/** The JSON object on the child's last line of stdout; throws `${what} failed: …` when the child failed. */
export function childJsonResult(child: SpawnSyncReturns<string>, what: string): Record<string, unknown> {
  if (child.status !== 0) throw new Error(`${what} failed: ${whyChildFailed(child)}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

/** A `distillery serve` child process: its address (from the line it prints) and how to stop it (SIGINT drains). */
export interface ServeChild {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `distillery serve ARGS` and resolves once it prints `serving NAME on URL`; rejects, saying why, if it exits first. */
export function startServeChild(args: readonly string[]): Promise<ServeChild> {
  const child = spawn(process.execPath, [DISTILLERY, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const url = /serving \S+ on (http:\/\/\S+)\n/.exec(stdout)?.[1];
      if (url) resolve({ url, child, stop: () => (child.kill('SIGINT'), exited) });
    });
    child.on('exit', (status, signal) => reject(new Error(`distillery serve exited before serving: ${whyChildFailed({ stderr, status, signal })}`)));
  });
}
