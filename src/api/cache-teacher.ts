// cacheTeacher(): the teacher's top-k predictions for every target token of the training data,
// written once so that later runs (`teacherCache`) never load the teacher: `distillery cache-teacher`.
import { resolveConfig } from '../distill/config.js';
import { prepareRun } from '../distill/prepare.js';
import type { CacheManifest } from '../distill/teacher-cache/format.js';
import { writeTeacherCache } from '../distill/teacher-cache/writer.js';
import { OnlineTeacher } from '../distill/teacher.js';
import { loadCausalLM } from '../models/decoder/weights.js';
import { checkDevice } from '../tensor/index.js';
import { type Naming, namer } from './naming.js';
import { checkInt, definedOptions, rejectUnknownOptions } from './options.js';

export interface CacheTeacherOptions {
  /** Teacher model folder or Hugging Face repo id. */
  teacher: string;
  /** The training data, exactly as it will be given to distill() (the cache is checked against it). */
  data: string;
  /** Cache folder (new or empty). */
  out: string;
  /** Tokens kept per position (default 128). */
  topK?: number;
  /** Data preparation, as distill's options of the same names. */
  format?: string;
  template?: string;
  responseOnly?: boolean;
  maxLength?: number;
  maxExamples?: number;
  /** Sequences per teacher forward pass (default 8). */
  batchSize?: number;
  /** Examples per shard file (default 2048). */
  examplesPerShard?: number;
  teacherDtype?: 'float32' | 'bfloat16' | 'float16';
  device?: string;
  log?: (line: string) => void;
}

const KEYS = ['teacher', 'data', 'out', 'topK', 'format', 'template', 'responseOnly', 'maxLength', 'maxExamples', 'batchSize', 'examplesPerShard', 'teacherDtype', 'device', 'log'];

/** Writes the cache and returns its manifest (examples, target tokens, bytes per token). */
export async function cacheTeacher(options: CacheTeacherOptions, naming: Naming = 'keys'): Promise<CacheManifest> {
  const name = namer(naming);
  rejectUnknownOptions('cacheTeacher', options, KEYS);
  const { log = () => {} } = options;
  const topK = checkInt(name('topK'), options.topK ?? 128, 1, 65536);
  const batchSize = checkInt(name('batchSize'), options.batchSize ?? 8, 1, 4096);
  const examplesPerShard = checkInt(name('examplesPerShard'), options.examplesPerShard ?? 2048, 1);
  // The data is prepared exactly as distill prepares it, so the fingerprints agree.
  const given = {
    teacher: options.teacher, student: options.teacher, data: options.data, out: options.out, evalRatio: 0,
    ...definedOptions(options, ['format', 'template', 'responseOnly', 'maxLength', 'maxExamples', 'teacherDtype', 'device']),
  };
  const config = resolveConfig(given, {}, { naming });
  const device = checkDevice(config.device, name('device'));
  const prepared = await prepareRun(config, log);
  const teacher = new OnlineTeacher(loadCausalLM(prepared.teacherFolder!, { dtype: config.teacherDtype, device }));
  try {
    return writeTeacherCache(options.out, teacher, prepared.all, {
      topK, fingerprint: prepared.fingerprint, teacherName: prepared.teacherFolder!, batchSize, examplesPerShard, padId: prepared.padId, log,
    });
  } finally {
    teacher.dispose();
  }
}
