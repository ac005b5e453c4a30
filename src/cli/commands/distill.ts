// `distillery distill`: teacher → student distillation. Every option is a flag and a --config YAML
// key (flags win); see src/distill/config.ts for the table of options and their defaults, and
// distill-options.ts for the command's registration (this module loads when the command runs).
import type { Command } from 'commander';
import { configToYaml, OPTIONS, readConfigFile } from '../../distill/config.js';
import { resolveRunConfig } from '../../distill/resume-settings.js';
import { runDistillation } from '../../distill/trainer.js';
import { writeRunReport } from '../../report/run-report.js';
import { checkDevice } from '../device.js';
import { createProgress } from '../progress.js';
import { launchWorkers } from '../launch.js';
import { watchLauncher } from '../launcher-watch.js';
import { worldFromEnvironment, type WorldEnvironment } from '../../distributed/environment.js';
import { ProcessGroup } from '../../distributed/process-group.js';
import type { DistillConfig } from '../../distill/config.js';
import { UsageError } from '../errors.js';
import { prepareRun } from '../../distill/prepare.js';
import { MemoryPlanError } from '../../distill/memory/plan.js';
import { formatPlan, planRecord, planRun } from '../../distill/memory/run-plan.js';

/** A worker's device: plain 'cuda' means this node's GPU of the worker's local rank. */
function workerDevice(device: string, world: WorldEnvironment | null): string {
  return world && device === 'cuda' ? `cuda:${world.localRank}` : device;
}

function joinProcessGroup(config: DistillConfig, world: WorldEnvironment): ProcessGroup {
  const backend = config.distBackend === 'auto' ? (config.device.startsWith('cuda') ? 'nccl' : 'gloo') : config.distBackend;
  if (backend === 'nccl' && !config.device.startsWith('cuda')) throw new UsageError(`--dist-backend nccl needs CUDA devices; --device is ${config.device} (use gloo on CPU)`);
  return ProcessGroup.init({ ...world, backend, device: backend === 'nccl' ? config.device : 'cpu', timeoutMs: config.distTimeout * 1000 });
}

/** --dry-run: the data is read and tokenized, the plan printed; no weight is loaded. Exit 1 when nothing fits. */
async function dryRun(config: DistillConfig, json: boolean): Promise<number> {
  config.device = checkDevice(config.device);
  if (config.teacherDevice) config.teacherDevice = checkDevice(config.teacherDevice);
  const prepared = await prepareRun(config, json ? () => {} : (line) => console.error(line));
  try {
    const plan = planRun(config, prepared);
    console.log(json ? JSON.stringify(planRecord(plan, config)) : formatPlan(plan, config));
    return 0;
  } catch (error) {
    if (!(error instanceof MemoryPlanError)) throw error;
    if (json) console.log(JSON.stringify({ ...planRecord(error.plan, config), error: error.message }));
    else console.log(formatPlan(error.plan, config));
    console.error(`distillery: error: ${error.message}`);
    return 1;
  }
}

/** The command's action; distill-options.ts registers the command and imports this module when it runs. */
export function distillAction(command: Command): (flags: Record<string, unknown>) => Promise<void> {
  return async (flags: Record<string, unknown>) => {
    const given: Record<string, unknown> = {};
    for (const spec of OPTIONS) if (command.getOptionValueSource(spec.key) === 'cli') given[spec.key] = flags[spec.key];
    const config = resolveRunConfig(given, typeof flags.config === 'string' ? readConfigFile(flags.config) : {});
    if (flags.showConfig) console.error(`configuration:\n${configToYaml(config).trimEnd().replace(/^/gm, '  ')}`);
    if (flags.dryRun) {
      process.exitCode = await dryRun(config, flags.json === true);
      return;
    }
    const world = worldFromEnvironment();
    if (!world && config.nprocPerNode * config.nnodes > 1) {
      process.exitCode = await launchWorkers(
        { nprocPerNode: config.nprocPerNode, nnodes: config.nnodes, nodeRank: config.nodeRank, timeoutSeconds: config.distTimeout },
        (line) => console.error(`distillery launch: ${line}`),
      );
      return;
    }
    config.device = checkDevice(workerDevice(config.device, world));
    if (config.teacherDevice) config.teacherDevice = checkDevice(workerDevice(config.teacherDevice, world));
    const processGroup = world ? joinProcessGroup(config, world) : null;
    const main = (world?.rank ?? 0) === 0;

    const progress = main ? createProgress(config.logEvery) : { log: () => {}, update: () => {}, stop: () => {} };
    let stops = 0;
    const onSignal = () => {
      stops++;
      if (stops > 1) process.exit(130);
      progress.log('stopping after this step: saving a checkpoint (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const stopWatching = watchLauncher(config.distTimeout, () => {
      if (stops > 0) return;
      stops++;
      console.error(`distillery [rank ${world?.rank}]: the launcher is gone: stopping after this step with a checkpoint`);
    });
    try {
      const result = await runDistillation(config, { log: progress.log, onStep: progress.update, stopRequested: () => stops > 0 }, processGroup);
      progress.stop();
      if (result.interruptedAt !== null) process.exitCode = 130;
      else if (main) {
        const report = await writeRunReport(config.out);
        console.log(`done: student in ${result.studentDir}, metrics in ${config.metrics ?? `${config.out}/metrics.jsonl`}, report in ${report.htmlPath}`);
      }
    } finally {
      stopWatching();
      progress.stop();
      processGroup?.close();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  };
}
