// Atomic file replacement: write to a temporary file in the same folder, fsync it, rename it over
// the target, fsync the folder. A crash leaves either the old file or the new one, never half.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * A write that failed (disk full, permissions, a vanished folder), naming the file the user would
 * look for — the target, not its temporary — and keeping the system's code (ENOSPC, EACCES, ...).
 */
export class FileWriteError extends Error {
  override name = 'FileWriteError';
  constructor(
    readonly path: string,
    readonly code: string | undefined,
    cause: unknown,
  ) {
    const reason = code === 'ENOSPC' ? 'no space left on the device' : code === 'EDQUOT' ? 'disk quota exceeded' : (cause as Error).message;
    super(`cannot write ${path}: ${reason}`, { cause });
  }
}

/** A system call's failure (it has an errno code) as a FileWriteError naming `target`; any other error unchanged. */
function namingTarget(target: string, error: unknown, temporaryFolder?: string): unknown {
  // A file of a folder being built is named where it was going to be, not in its temporary folder.
  if (error instanceof FileWriteError && temporaryFolder && error.path.startsWith(temporaryFolder)) {
    return new FileWriteError(target + error.path.slice(temporaryFolder.length), error.code, error.cause);
  }
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (error instanceof FileWriteError || typeof code !== 'string' || !code.startsWith('E')) return error;
  return new FileWriteError(target, code, error);
}

export function temporaryPathFor(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Makes a rename or creation in `dir` durable. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Creates `target` atomically: `write(fd)` fills an open temporary file, which is then fsynced
 * and renamed into place. On any error the temporary file is removed and the target untouched.
 */
export function writeFileAtomic(target: string, write: (fd: number) => void): void {
  const temporary = temporaryPathFor(target);
  let fd: number;
  try {
    fd = openSync(temporary, 'wx', 0o644);
  } catch (error) {
    throw namingTarget(target, error);
  }
  try {
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw namingTarget(target, error);
  }
  try {
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw namingTarget(target, error);
  }
  fsyncDirectory(dirname(target));
}

/** Writes all of `data` at the fd's current position (writeSync may write less than asked). */
export function writeAll(fd: number, data: Uint8Array): void {
  let offset = 0;
  while (offset < data.byteLength) offset += writeSync(fd, data, offset, data.byteLength - offset);
}

export function writeTextAtomic(target: string, text: string): void {
  writeFileAtomic(target, (fd) => writeAll(fd, Buffer.from(text, 'utf8')));
}

/**
 * Puts the finished folder `temporary` in place of `target`. An existing target is moved aside
 * first and deleted last, so a complete folder — old or new — is at `target` at every moment.
 */
function swapInFolder(temporary: string, target: string): void {
  const previous = existsSync(target) ? temporaryPathFor(target) : null;
  if (previous) renameSync(target, previous);
  renameSync(temporary, target);
  fsyncDirectory(dirname(target));
  if (previous) rmSync(previous, { recursive: true, force: true });
}

/**
 * Creates or replaces the folder `target` atomically: `build(dir)` fills a temporary sibling folder
 * (files written into it should themselves be fsynced), which then takes the target's place. On
 * any error the temporary folder is removed and the target left as it was.
 */
export function buildFolderAtomic<T>(target: string, build: (dir: string) => T): T {
  const temporary = temporaryPathFor(target);
  try {
    const result = build(temporary);
    swapInFolder(temporary, target);
    return result;
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw namingTarget(target, error, temporary);
  }
}

/** buildFolderAtomic for a build that is asynchronous. */
export async function buildFolderAtomicAsync<T>(target: string, build: (dir: string) => Promise<T>): Promise<T> {
  const temporary = temporaryPathFor(target);
  try {
    const result = await build(temporary);
    swapInFolder(temporary, target);
    return result;
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw namingTarget(target, error, temporary);
  }
}
