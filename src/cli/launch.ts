// `--nproc-per-node N`: starts N copies of this very command as data-parallel workers, each with the
// environment torchrun would give it (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT), then watches them. When one fails the others normally notice at their next
// collective and stop with a message naming it; any still running after the collective timeout are
// terminated, so the launch never hangs.
import { type ChildProcess, spawn } from 'node:child_process';
import { LAUNCHER_PID_ENV } from './launcher-watch.js';
import { createServer } from 'node:net';
import { availableParallelism, constants } from 'node:os';
import { UsageError } from './errors.js';

export interface LaunchPlan {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  /** Seconds the workers wait for each other (--dist-timeout). */
  timeoutSeconds: number;
}

/** A TCP port nobody listens on right now (single-node rendezvous). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function rendezvousAddress(plan: LaunchPlan): Promise<{ addr: string; port: number }> {
  const addr = process.env.MASTER_ADDR?.trim();
  const port = process.env.MASTER_PORT?.trim();
  if (plan.nnodes > 1 && !addr) {
    throw new UsageError('--nnodes > 1: set MASTER_ADDR (and MASTER_PORT, default 29500) to the address of node 0 on every node');
  }
  if (port !== undefined && port !== '' && !(Number.isInteger(Number(port)) && Number(port) >= 1 && Number(port) <= 65535)) {
    throw new UsageError(`MASTER_PORT=${port} is not a TCP port (1..65535)`);
  }
  return {
    addr: addr || '127.0.0.1',
    port: port ? Number(port) : plan.nnodes > 1 ? 29500 : await freePort(),
  };
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `was killed by ${signal}` : `exited with code ${code}`;
}

/** Runs the workers of this node to the end; resolves with the exit code the launch should have. */
export async function launchWorkers(plan: LaunchPlan, log: (line: string) => void): Promise<number> {
  const { addr, port } = await rendezvousAddress(plan);
  const worldSize = plan.nprocPerNode * plan.nnodes;
  // As torchrun: share the cores out, unless the user chose a thread count.
  const threads = process.env.DISTILLERY_NUM_THREADS ?? process.env.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor(availableParallelism() / plan.nprocPerNode)));
  log(`starting ${plan.nprocPerNode} worker(s) (ranks ${plan.nodeRank * plan.nprocPerNode}–${(plan.nodeRank + 1) * plan.nprocPerNode - 1} of ${worldSize}), rendezvous ${addr}:${port}, ${threads} thread(s) each`);

  const workers: ChildProcess[] = [];
  for (let local = 0; local < plan.nprocPerNode; local++) {
    const rank = plan.nodeRank * plan.nprocPerNode + local;
    workers.push(
      spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
        stdio: 'inherit',
        env: {
          ...process.env,
          RANK: String(rank),
          LOCAL_RANK: String(local),
          WORLD_SIZE: String(worldSize),
          LOCAL_WORLD_SIZE: String(plan.nprocPerNode),
          GROUP_RANK: String(plan.nodeRank),
          MASTER_ADDR: addr,
          MASTER_PORT: String(port),
          OMP_NUM_THREADS: threads,
          // Workers stop when this launcher dies, even by SIGKILL (launcher-watch.ts).
          [LAUNCHER_PID_ENV]: String(process.pid),
        },
      }),
    );
  }

  // Ctrl-C reaches the workers straight from the terminal; a SIGTERM sent to the launcher alone
  // (a scheduler) is passed on to them.
  const ignore = () => {};
  const forward = () => workers.forEach((w) => w.exitCode === null && w.kill('SIGTERM'));
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);

  let firstFailure: number | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  const codes = await Promise.all(
    workers.map(
      (worker, local) =>
        new Promise<number>((resolve) => {
          worker.on('error', (error) => {
            log(`worker ${local} could not start: ${error.message}`);
            resolve(1);
          });
          worker.on('exit', (code, signal) => {
            const status = code ?? 128 + (signal ? constants.signals[signal] : 0);
            if (status !== 0 && status !== 130 && firstFailure === null) {
              firstFailure = status;
              log(`rank ${plan.nodeRank * plan.nprocPerNode + local} ${describeExit(code, signal)}; waiting up to ${plan.timeoutSeconds} s for the other ranks to stop`);
              killTimer = setTimeout(() => {
                for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
              }, (plan.timeoutSeconds + 10) * 1000);
            }
            resolve(status);
          });
        }),
    ),
  );
  if (killTimer) clearTimeout(killTimer);
  process.off('SIGINT', ignore);
  process.off('SIGTERM', forward);
  return firstFailure ?? (codes.some((c) => c === 130) ? 130 : 0);
}
