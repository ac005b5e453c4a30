#!/usr/bin/env node
// Builds the libtorch addon (build/native/distillery_native.node) unless it is already up to date.
// libtorch is located in the order DESIGN.md gives: LIBTORCH / Torch_DIR, an installed Python torch,
// then Debian/Ubuntu's libtorch-dev. Run with --force to rebuild regardless. DISTILLERY_NATIVE_DIR
// builds elsewhere (the libtorch 2.x lane keeps its own build beside this machine's).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sourceDir = join(root, 'src', 'native');
const buildDir = process.env.DISTILLERY_NATIVE_DIR ? resolve(root, process.env.DISTILLERY_NATIVE_DIR) : join(root, 'build', 'native');
const addonPath = join(buildDir, 'distillery_native.node');
const stampPath = join(buildDir, 'build.stamp');
const require = createRequire(import.meta.url);

function torchCmakeDir() {
  for (const variable of ['Torch_DIR', 'LIBTORCH']) {
    const value = process.env[variable];
    if (!value) continue;
    const candidates = [value, join(value, 'share', 'cmake', 'Torch'), join(value, 'lib', 'cmake', 'Torch')];
    const found = candidates.find((dir) => existsSync(join(dir, 'TorchConfig.cmake')));
    if (!found) throw new Error(`${variable}=${value} holds no TorchConfig.cmake (looked in ${candidates.join(', ')})`);
    return { dir: found, from: variable };
  }
  const python = spawnSync('python3', ['-c', 'import torch.utils; print(torch.utils.cmake_prefix_path)'], { encoding: 'utf8' });
  if (python.status === 0) {
    const dir = join(python.stdout.trim(), 'Torch');
    if (existsSync(join(dir, 'TorchConfig.cmake'))) return { dir, from: 'python torch' };
  }
  for (const dir of ['/usr/lib/x86_64-linux-gnu/cmake/Torch', '/usr/lib/aarch64-linux-gnu/cmake/Torch', '/usr/lib/cmake/Torch', '/usr/share/cmake/Torch']) {
    if (existsSync(join(dir, 'TorchConfig.cmake'))) return { dir, from: 'libtorch-dev' };
  }
  throw new Error(
    'libtorch not found. Install it with `apt-get install -y libtorch-dev libopenblas0-pthread cmake` (Debian/Ubuntu), ' +
      'or set LIBTORCH to an unpacked libtorch from pytorch.org, or Torch_DIR to the folder holding TorchConfig.cmake.',
  );
}

function fingerprint(torch) {
  const hash = createHash('sha256');
  hash.update(torch.dir);
  for (const name of readdirSync(sourceDir).filter((n) => /\.(cpp|h|txt)$/.test(n)).sort()) {
    hash.update(name);
    hash.update(readFileSync(join(sourceDir, name)));
  }
  return hash.digest('hex');
}

const force = process.argv.includes('--force');
const torch = torchCmakeDir();
const stamp = fingerprint(torch);
if (!force && existsSync(addonPath) && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp) {
  process.exit(0);
}

console.log(`Building the libtorch addon against ${torch.dir} (found via ${torch.from}); this takes about a minute.`);
mkdirSync(buildDir, { recursive: true });
const napiHeaders = require('node-api-headers').include_dir;
const addonApi = dirname(require.resolve('node-addon-api/package.json'));
const run = (args) => execFileSync('cmake', args, { stdio: 'inherit' });
run([
  '-S', sourceDir, '-B', buildDir,
  `-DTorch_DIR=${torch.dir}`,
  `-DNODE_API_HEADERS_DIR=${napiHeaders}`,
  `-DNODE_ADDON_API_DIR=${addonApi}`,
  '-DCMAKE_BUILD_TYPE=Release',
  '-Wno-dev',
]);
run(['--build', buildDir, '--parallel', String(availableParallelism())]);
if (!existsSync(addonPath) || statSync(addonPath).size === 0) throw new Error(`build finished but ${addonPath} is missing`);
writeFileSync(stampPath, stamp);
console.log(`Built ${addonPath}`);
