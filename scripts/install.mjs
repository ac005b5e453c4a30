#!/usr/bin/env node
// npm's `install` script: runs `distillery setup` (system packages through apt when root, then the
// libtorch addon build) where install scripts are allowed. It never fails the install: when setup
// cannot finish, it says what to run instead. npm 11.19 still runs it unapproved, warning that it is not
// covered by the project's allowScripts (`npm install-scripts approve distillery`); --ignore-scripts
// or a denial skip it, so `npx distillery setup` is the path that always works.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const setup = spawnSync(process.execPath, [join(root, 'bin', 'distillery.mjs'), 'setup'], { stdio: 'inherit' });
if (setup.status !== 0) {
  console.error('distillery: setup did not finish during install; run `npx distillery setup` when ready (it prints what is missing).');
}
