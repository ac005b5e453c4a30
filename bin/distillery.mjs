#!/usr/bin/env node
// The `distillery` command. An installed package runs its compiled JavaScript (dist/). A checkout
// runs the TypeScript sources through tsx (a dev dependency), so it never runs a stale build.
import { existsSync } from 'node:fs';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}
