// The source tree keeps DESIGN.md's layer map: imports point down the map (or within a folder, or
// between folders of one level), never up, and no file reaches itself through its imports (type-only
// imports included: a cycle of types still ties the files' meanings together).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = resolve(import.meta.dirname, '../src');

/** DESIGN.md: cli → demo → distill → eval → data → models/tokenizer/report → nn/io/distributed → tensor → native; api beside demo; serve beside eval. */
const LEVEL: Record<string, number> = {
  native: 0, tensor: 1, nn: 2, io: 2, distributed: 2, models: 3, tokenizer: 3, report: 3, data: 4, eval: 5, serve: 5, distill: 6, demo: 7, api: 7, cli: 8,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Each file's relative imports and re-exports (`from './x.js'`), as absolute .ts paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/gms)].map((m) => resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')));
    graph.set(file, targets);
  }
  return graph;
}

const folderOf = (file: string) => {
  const parts = relative(SRC, file).split('/');
  return parts.length > 1 ? parts[0]! : null; // null: the package's entry points (index.ts, tensor-api.ts)
};
const name = (file: string) => relative(SRC, file);

test('every folder of src/ has its level in the layer map', () => {
  const folders = new Set([...importGraph().keys()].map(folderOf).filter((f): f is string => f !== null));
  assert.deepEqual([...folders].filter((f) => !(f in LEVEL)), []);
});

test('imports point down the layer map, never up', () => {
  const upward: string[] = [];
  for (const [file, targets] of importGraph()) {
    const from = folderOf(file);
    if (from === null) continue;
    for (const target of targets) {
      const to = folderOf(target);
      if (to === null || LEVEL[to]! > LEVEL[from]!) upward.push(`${name(file)} imports ${name(target)} (${from} → ${to})`);
    }
  }
  assert.deepEqual(upward, []);
});

test('no import cycle among src files', () => {
  const graph = importGraph();
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push([...path.slice(path.indexOf(next)), next].map(name).join(' → '));
      else if (!state.has(next) && graph.has(next)) visit(next);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  assert.deepEqual(cycles, []);
});
