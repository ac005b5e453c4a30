#!/usr/bin/env node
// The system packages Distillery needs on Debian/Ubuntu, and what to do about the missing ones:
// with --install, apt-get installs them when running as root; otherwise (or without apt) it prints
// the exact command to run and exits 1. Plain Node with no dependencies: `scripts/setup.sh` runs it
// before npm has installed anything, and `distillery setup` from an installed package.
//   libtorch-dev, libgloo-dev  libtorch and Gloo's headers (c10d) — unless LIBTORCH / Torch_DIR or a
//                              Python torch provides libtorch;
//   libopenblas0-pthread       Debian's libtorch calls the generic libblas.so.3, which without OpenBLAS
//                              is the 20-40x slower reference BLAS;
//   fonts-dejavu-core          report plots render text with DejaVu Sans;
//   cmake, g++, make           to build the addon.
import { spawnSync } from 'node:child_process';

const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
const installed = (pkg) => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('install ok installed') ?? false;
const pythonTorch = () => spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

export function missingSystemPackages() {
  const missing = [];
  if (has('dpkg-query')) {
    if (!process.env.LIBTORCH && !process.env.Torch_DIR && !pythonTorch()) {
      for (const pkg of ['libtorch-dev', 'libgloo-dev']) if (!installed(pkg)) missing.push(pkg);
    }
    for (const pkg of ['libopenblas0-pthread', 'fonts-dejavu-core']) if (!installed(pkg)) missing.push(pkg);
  }
  for (const [command, pkg] of [['cmake', 'cmake'], ['g++', 'g++'], ['make', 'make']]) if (!has(command)) missing.push(pkg);
  return missing;
}

const missing = missingSystemPackages();
if (missing.length === 0) process.exit(0);
const root = process.getuid?.() === 0;
if (process.argv.includes('--install') && root && has('apt-get')) {
  console.log(`setup: installing system packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-q'], ['install', '-y', '-q', ...missing]]) {
    if (spawnSync('apt-get', args, { stdio: 'inherit', env }).status !== 0) {
      console.error(`setup: apt-get ${args.join(' ')} failed`);
      process.exit(1);
    }
  }
  process.exit(0);
}
console.error(`setup: missing system packages: ${missing.join(' ')}`);
console.error(`setup: run: ${root ? '' : 'sudo '}apt-get install -y ${missing.join(' ')}`);
process.exit(1);
