#!/usr/bin/env node
// The `distillery` command. Sources are TypeScript, run through tsx so there is no stale build.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
