// A JSON Lines file written in batches over a long job that may be interrupted: lines go to
// OUT.partial (each batch appended and fsynced), with OUT.partial.json describing the job that
// writes them. A rerun of the same job keeps the whole batches already there and continues; a
// rerun of another job is refused rather than mixing outputs. On completion OUT.partial is renamed
// to OUT, so OUT is either absent or complete.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsyncDirectory, writeAll, writeTextAtomic } from './atomic.js';

export class ResumableLinesError extends Error {
  override name = 'ResumableLinesError';
}

export class ResumableLines {
  readonly #fd: number;
  #open = true;
  /** Lines already written (whole batches), by earlier runs of this job or this one. */
  #lines: number;

  private constructor(
    readonly target: string,
    fd: number,
    lines: number,
  ) {
    this.#fd = fd;
    this.#lines = lines;
  }

  /**
   * Opens the job writing `target`: `job` describes it (any JSON), `batchLines` is its unit of
   * progress — a rerun resumes at a multiple of it, dropping a batch the interruption cut short.
   */
  static open(target: string, job: unknown, batchLines: number, what = 'the output'): ResumableLines {
    ResumableLines.check(target, what, job);
    const partial = `${target}.partial`;
    const jobFile = `${partial}.json`;
    let keepBytes = 0;
    let lines = 0;
    if (existsSync(partial) && existsSync(jobFile)) {
      const bytes = readFileSync(partial);
      // Whole lines only, and whole batches of them: the batch an interruption cut short is redone.
      const ends: number[] = [];
      for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) ends.push(i + 1);
      lines = Math.floor(ends.length / batchLines) * batchLines;
      keepBytes = lines === 0 ? 0 : ends[lines - 1]!;
    } else {
      writeTextAtomic(jobFile, JSON.stringify(job));
    }
    if (existsSync(partial)) truncateSync(partial, keepBytes);
    const fd = openSync(partial, 'a');
    fsyncSync(fd);
    return new ResumableLines(target, fd, lines);
  }

  /**
   * Throws what open() would refuse, writing nothing: so a long job can check its output before it
   * loads anything. Its folder must exist, `target` must not; with `job`, an unfinished output of
   * another job is refused too.
   */
  static check(target: string, what = 'the output', job?: unknown): void {
    const folder = dirname(target);
    if (!existsSync(folder)) throw new ResumableLinesError(`${what} ${target}: the folder ${folder} does not exist; create it first or choose another path`);
    if (!statSync(folder).isDirectory()) throw new ResumableLinesError(`${what} ${target}: ${folder} is not a folder`);
    if (existsSync(target)) throw new ResumableLinesError(`${what} ${target} already exists; choose another path or delete it`);
    const partial = `${target}.partial`;
    const jobFile = `${partial}.json`;
    if (job === undefined || !existsSync(partial) || !existsSync(jobFile)) return;
    const saved = readFileSync(jobFile, 'utf8');
    const jobText = JSON.stringify(job);
    if (saved !== jobText) {
      throw new ResumableLinesError(
        `${partial} is the unfinished output of a job with other settings (${describeDifference(saved, jobText)}); rerun with those settings to continue it, or delete ${partial} to start over`,
      );
    }
  }

  get lines(): number {
    return this.#lines;
  }

  /** Appends one batch of lines and makes it durable. */
  append(lines: readonly string[]): void {
    writeAll(this.#fd, Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'));
    fsyncSync(this.#fd);
    this.#lines += lines.length;
  }

  /** All batches are in: the output takes its final name. */
  finish(): void {
    this.close();
    renameSync(`${this.target}.partial`, this.target);
    fsyncDirectory(dirname(this.target));
    rmSync(`${this.target}.partial.json`, { force: true });
  }

  /** Abandons the job: the partial output and its description are removed. */
  discard(): void {
    this.close();
    rmSync(`${this.target}.partial`, { force: true });
    rmSync(`${this.target}.partial.json`, { force: true });
  }

  /** Stops without finishing: what was appended stays for a rerun to continue. Closing twice is harmless. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    closeSync(this.#fd);
  }
}

function describeDifference(saved: string, now: string): string {
  try {
    const [a, b] = [JSON.parse(saved) as Record<string, unknown>, JSON.parse(now) as Record<string, unknown>];
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    return keys.map((k) => `${k}: ${JSON.stringify(a[k])} then, ${JSON.stringify(b[k])} now`).join('; ');
  } catch {
    return 'its description is unreadable';
  }
}
