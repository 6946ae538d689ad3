import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { onPath } from './errors.js';
import { crashPoint, injectedFault } from './faults.js';
import { isAlive } from './processes.js';

/**
 * Nothing half-written, nothing lost. Files and directories are written next to their destination
 * under a temporary name (`<name>.tmp-<pid>`), fsynced, renamed into place, and the parent directory
 * is fsynced so that the rename itself survives a power cut. A crash leaves the old version or the
 * new one — and, while a directory is being replaced, the old one under `<name>.old-<pid>`, which
 * `recoverLeftovers` puts back.
 */

/** Writes and fsyncs a file in place (for files inside a temporary directory that is renamed later). */
export function writeFileDurably(path: string, content: string | Uint8Array | Uint8Array[]): void {
  onPath(path, () => writeAndSync(path, content));
}

function writeAndSync(path: string, content: string | Uint8Array | Uint8Array[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const chunk of Array.isArray(content) ? content : [content]) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      let written = 0;
      while (written < bytes.length) {
        injectedFault(path, 'write');
        written += writeSync(fd, bytes, written, bytes.length - written);
      }
      crashPoint();
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  crashPoint();
}

/** Appends to a log file (metrics.jsonl); made durable by an fsync before each checkpoint. */
export function appendToFile(path: string, text: string | Uint8Array): void {
  onPath(path, () => {
    injectedFault(path, 'write');
    appendFileSync(path, text);
  });
}

/** fsync of a directory: makes the creation, renaming and removal of its entries durable. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (error) {
    // Windows cannot open or fsync a directory; there, NTFS journals renames itself
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function writeFileAtomically(path: string, content: string | Uint8Array): void {
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    onPath(path, () => {
      writeAndSync(temporary, content);
      renameSync(temporary, path);
    });
  } catch (error) {
    rmSync(temporary, { force: true }); // a failed write leaves nothing behind
    throw error;
  }
  crashPoint();
  fsyncDirectory(dirname(path));
}

/** A fresh temporary sibling of `dir` to write a new version into. */
export function temporaryDirectory(dir: string): string {
  const temporary = `${dir}.tmp-${process.pid}`;
  onPath(dir, () => {
    rmSync(temporary, { recursive: true, force: true });
    injectedFault(temporary, 'mkdir');
    mkdirSync(temporary, { recursive: true });
  });
  return temporary;
}

/**
 * Fills a temporary sibling of `dir` with `write` and puts it in place; on any failure the
 * temporary is removed, so a full disk leaves the old version and nothing else.
 */
export function writeDirectoryAtomically(dir: string, write: (temporary: string) => void): void {
  const temporary = temporaryDirectory(dir);
  try {
    write(temporary);
    replaceDirectory(temporary, dir);
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Puts a finished directory (its files already fsynced) in place. The old version is first renamed
 * aside and removed only once the new one is in place, so at every moment one of them is on disk.
 */
export function replaceDirectory(temporary: string, dir: string): void {
  const parent = dirname(dir);
  onPath(parent, () => mkdirSync(parent, { recursive: true }));
  fsyncDirectory(temporary);
  const old = `${dir}.old-${process.pid}`;
  const hadOld = existsSync(dir);
  onPath(dir, () => {
    injectedFault(dir, 'rename');
    if (hadOld) {
      renameSync(dir, old);
      crashPoint();
    }
    try {
      renameSync(temporary, dir);
    } catch (error) {
      if (hadOld) renameSync(old, dir); // put the old version back
      throw error;
    }
  });
  crashPoint();
  fsyncDirectory(parent);
  if (hadOld) rmSync(old, { recursive: true, force: true });
}

/**
 * Cleans what crashed writers left in `dir`: `<name>.tmp-<pid>` (a version never finished) is
 * removed; `<name>.old-<pid>` is put back as `<name>` when the crash came between the two renames of
 * `replaceDirectory`, and removed otherwise. Entries of processes still running are left alone, and
 * with `only`, every entry but those of that one name (for directories difft shares with others).
 * Returns what it did, for the caller to report.
 */
export function recoverLeftovers(dir: string, only?: string): string[] {
  if (!existsSync(dir)) return [];
  const actions: string[] = [];
  for (const name of readdirSync(dir)) {
    const match = /^(.+)\.(tmp|old)-(\d+)$/.exec(name);
    if (!match || isAlive(Number(match[3]))) continue;
    const [, base, kind] = match;
    if (only !== undefined && base !== only) continue;
    if (kind === 'old' && !existsSync(join(dir, base))) {
      renameSync(join(dir, name), join(dir, base));
      actions.push(`restored ${base} from ${name}, left by an interrupted replacement`);
    } else {
      rmSync(join(dir, name), { recursive: true, force: true });
      actions.push(`removed ${name}, left by an interrupted write`);
    }
  }
  if (actions.length) fsyncDirectory(dir);
  return actions;
}
