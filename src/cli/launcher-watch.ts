// A worker started by `distillery distill --nproc-per-node` (the launcher) must not outlive it: a
// SIGKILL of the launcher cannot be caught or forwarded, and its workers would otherwise train on
// to the end, writing files. The launcher passes its pid; a watcher thread polls this process's
// parent, which changes when the launcher dies (the worker is re-parented). The worker is then
// asked to stop after its current step with a checkpoint, as Ctrl-C does; if it has not exited
// within --dist-timeout (a step or collective that never returns), the watcher kills the process.
// Checkpoints are written atomically, so the last complete one stays intact either way. Workers
// started by torchrun or by hand get no launcher pid and are not watched.
import { Worker } from 'node:worker_threads';

export const LAUNCHER_PID_ENV = 'DISTILLERY_LAUNCHER_PID';

// Runs in the watcher thread: plain JavaScript, as Worker's eval takes it.
const WATCHER = `
const { parentPort, workerData } = require('node:worker_threads');
const poll = setInterval(() => {
  if (process.ppid === workerData.launcherPid) return;
  clearInterval(poll);
  parentPort.postMessage('launcher-gone');
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), workerData.graceMs);
}, 500);
`;

/**
 * Starts watching the launcher named in the environment, if any; `onGone` runs on the main thread
 * (between steps). Returns a function that stops watching.
 */
export function watchLauncher(graceSeconds: number, onGone: () => void): () => void {
  const launcherPid = Number(process.env[LAUNCHER_PID_ENV]);
  if (!Number.isInteger(launcherPid) || launcherPid <= 0) return () => {};
  const watcher = new Worker(WATCHER, { eval: true, workerData: { launcherPid, graceMs: graceSeconds * 1000 } });
  watcher.on('message', onGone);
  // The watcher never keeps a finished worker alive.
  watcher.unref();
  return () => void watcher.terminate();
}
