// `distillery setup`: installs (as root, through apt) or prints the system packages Distillery
// needs, then builds the libtorch addon into the package folder. Needs no addon itself.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

/** The package folder (the checkout, or node_modules/distillery), from src/cli/commands or dist/cli/commands. */
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function runScript(script: string, args: string[], what: string): void {
  const result = spawnSync(process.execPath, [join(packageRoot, 'scripts', script), ...args], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`setup: ${what} did not finish (see above)`);
}

export function registerSetup(program: Command): void {
  program
    .command('setup')
    .description('install (as root) or print the missing system packages, then build the libtorch addon')
    .option('--force', 'rebuild the addon even when it is up to date')
    .action((flags: { force?: boolean }) => {
      runScript('system-packages.mjs', ['--install'], 'installing system packages');
      runScript('build-native.mjs', flags.force ? ['--force'] : [], 'building the libtorch addon');
      console.log('setup: done; try `npx distillery demo --quick`');
    });
}
