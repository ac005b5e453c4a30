// The teachers of a run that names several (--teacher more than once): each entry's name (what
// --teacher-route's field and the evaluation call it) and where its predictions come from — a
// served teacher's URL, a teacher cache folder (it holds the cache's manifest), or a model folder
// or Hugging Face repo id.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type DistillConfig } from '../config.js';
import { MANIFEST } from '../teacher-cache/format.js';

export interface TeacherEntry {
  name: string;
  kind: 'model' | 'cache' | 'url';
  /** The folder, repo id or URL, without its NAME=. */
  ref: string;
}

/** `NAME=` before an entry names it; a name holds no '/' or ':' (so no path or URL reads as one). */
const NAMED = /^([\w.-]+)=(.+)$/;

/** The default name: a URL's host and port, else a folder's or repo id's last part. */
function defaultName(ref: string, kind: TeacherEntry['kind']): string {
  if (kind === 'url') return new URL(ref).host;
  return ref.replace(/[/\\]+$/, '').split(/[/\\]/).pop() || ref;
}

/** The run's teachers when it has several; null when it has one or none. */
export function teacherEntries(config: Pick<DistillConfig, 'teacher'>): TeacherEntry[] | null {
  if (!Array.isArray(config.teacher)) return null;
  const entries = config.teacher.map((raw): TeacherEntry => {
    const named = NAMED.exec(raw);
    const ref = named ? named[2]! : raw;
    const kind = /^https?:\/\//i.test(ref) ? 'url' : existsSync(join(ref, MANIFEST)) ? 'cache' : 'model';
    if (kind === 'url' && !/^https?:\/\/[^\s/]+/.test(ref)) throw new ConfigError(`--teacher ${raw}: not a valid http(s) URL`);
    return { name: named ? named[1]! : defaultName(ref, kind), kind, ref };
  });
  const seen = new Map<string, string>();
  for (const e of entries) {
    const other = seen.get(e.name);
    if (other !== undefined) throw new ConfigError(`--teacher ${other} and --teacher ${e.ref} are both named '${e.name}': name them, e.g. --teacher a=${other} --teacher b=${e.ref}`);
    seen.set(e.name, e.ref);
  }
  return entries;
}

/** The mixture's weights, normalised to sum 1 (equal when not given). */
export function mixtureWeights(config: Pick<DistillConfig, 'teacherWeights'>, count: number): number[] {
  const given = config.teacherWeights ?? new Array<number>(count).fill(1);
  const total = given.reduce((a, b) => a + b, 0);
  return given.map((w) => w / total);
}

/**
 * The teacher of each record by its `field` (--teacher-route): a teacher's name. Records without
 * the field, or naming no teacher, are refused by number, with the names that would be valid.
 */
export function routeRecords(records: readonly Record<string, unknown>[], field: string, entries: readonly TeacherEntry[], source: string): number[] {
  const byName = new Map(entries.map((e, i) => [e.name, i]));
  const valid = () => entries.map((e) => e.name).join(', ');
  return records.map((record, i) => {
    const value = record[field];
    if (value === undefined || value === null) throw new ConfigError(`--teacher-route ${field}: record ${i + 1} of ${source} has no '${field}' field; each record names its teacher (${valid()})`);
    const teacher = byName.get(String(value));
    if (teacher === undefined) throw new ConfigError(`--teacher-route ${field}: record ${i + 1} of ${source} names teacher ${JSON.stringify(value)}, which is none of ${valid()}`);
    return teacher;
  });
}
