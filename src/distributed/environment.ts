// Where this process sits in a multi-process run, read from the environment torchrun, Slurm
// wrappers and Kubernetes PyTorchJob set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT),
// so Distillery workers start under any of them without glue of their own.

export interface WorldEnvironment {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /** GLOO_SOCKET_IFNAME: the network interface Gloo binds to (multi-node). */
  interface: string | null;
  /** torchrun's agent already serves the store at MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE). */
  agentStore: boolean;
}

/** A malformed distributed environment variable. */
export class DistributedEnvironmentError extends Error {
  override name = 'DistributedEnvironmentError';
}

function integer(env: Record<string, string | undefined>, name: string, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') throw new DistributedEnvironmentError(`${name} is not set; a multi-process worker needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (as torchrun sets them)`);
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new DistributedEnvironmentError(`${name}=${raw} is not valid: expected an integer in [${min}, ${max}]`);
  }
  return value;
}

/**
 * The world this process belongs to, or null for a plain single-process run (WORLD_SIZE unset or 1).
 * Every error names the variable at fault.
 */
export function worldFromEnvironment(env: Record<string, string | undefined> = process.env): WorldEnvironment | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE.trim() === '') return null;
  const worldSize = integer(env, 'WORLD_SIZE', 1, 1 << 20);
  if (worldSize === 1) return null;
  const rank = integer(env, 'RANK', 0, worldSize - 1);
  const localRank = env.LOCAL_RANK === undefined ? rank : integer(env, 'LOCAL_RANK', 0, worldSize - 1);
  const masterAddr = env.MASTER_ADDR?.trim();
  if (!masterAddr) throw new DistributedEnvironmentError('MASTER_ADDR is not set: the host name or address of rank 0, which hosts the rendezvous');
  const masterPort = integer(env, 'MASTER_PORT', 1, 65535);
  const iface = env.GLOO_SOCKET_IFNAME?.trim();
  const agentStore = env.TORCHELASTIC_USE_AGENT_STORE?.trim().toLowerCase() === 'true';
  return { rank, worldSize, localRank, masterAddr, masterPort, interface: iface ? iface : null, agentStore };
}
