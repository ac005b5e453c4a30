// Must NOT type-check: scripts/test-package.sh asserts that tsc rejects `maxSteps` given as a string.
import { type DistillOptions } from 'distillery';

export const options: DistillOptions = { teacher: 'teacher', student: 'student', data: 'data.jsonl', out: 'run', maxSteps: 'two' };
