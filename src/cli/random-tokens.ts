// Benchmark data: uniformly random token ids in a model's vocabulary, as `input_ids` JSONL (the
// `tokens` data format), seeded so every configuration of a benchmark sees the same sequences.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../data/index.js';
import { resolveModelPath } from '../io/hub/index.js';
import { readModelConfig } from '../models/decoder/config.js';

export async function writeRandomTokens(path: string, model: string, sequences: number, length: number, seed: number): Promise<void> {
  const vocab = readModelConfig(join(await resolveModelPath(model), 'config.json')).vocabSize;
  const random = mulberry32(seed);
  const rows = Array.from({ length: sequences }, () => Array.from({ length }, () => Math.floor(random() * vocab)));
  writeFileSync(path, rows.map((r) => `${JSON.stringify({ input_ids: r })}\n`).join(''));
}
