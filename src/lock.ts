import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  lstatSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fsyncDirectory } from './atomic.js';
import { isAlive } from './processes.js';
import { onPath, UserError } from './errors.js';

/**
 * A directory written by one process at a time. `.difft.lock` holds the writer's pid, host, command
 * and start time; it is created with O_EXCL, so of two processes starting at once exactly one gets
 * it, and removed when the holder finishes (on exit as well, should it fail).
 *
 * A lock whose holder is no longer running on this host (killed, crashed, the machine rebooted) is
 * stale and taken over. A lock held from another host cannot be checked from here: it is refused,
 * naming the host, and the user removes the file once sure its holder is gone.
 *
 * Weighed: proper-lockfile (npm) decides staleness by a modification time it refreshes on a timer;
 * a training step is synchronous and can outlast any sensible refresh period, so a live run would
 * look stale. A dead pid is the fact that matters here.
 */
export const LOCK_FILE = '.difft.lock';

interface Holder {
  pid: number;
  host: string;
  command: string;
  started: string;
}

export interface DirectoryLock {
  dir: string;
  release(): void;
}

const held = new Set<string>(); // the lock files this process holds

/** A lock file's holder, when the file holds one whole (pid, host, command, start); else undefined. */
function readHolder(path: string): Holder | undefined {
  try {
    const holder = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder> | null;
    const { pid, host, command, started } = holder ?? {};
    const whole = Number.isInteger(pid) && pid! > 0 && [host, command, started].every((v) => typeof v === 'string');
    return whole ? (holder as Holder) : undefined;
  } catch {
    return undefined; // vanished meanwhile, or cut short when its writer died between open and write
  }
}

function describe(holder: Holder): string {
  const where = holder.host === hostname() ? '' : ` on host ${holder.host}`;
  return `process ${holder.pid}${where} (${holder.command}, since ${holder.started})`;
}

function tryCreate(path: string, holder: Holder): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(fd, `${JSON.stringify(holder)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Moves a stale lock aside and removes it. Two processes may find the same stale lock: the rename
 * lets one of them take it; should the one that comes second have moved a fresh lock (the first's
 * new one), it links it back and reports that the directory is taken.
 */
function takeOverStale(path: string, stale: Holder | undefined): boolean {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true; // someone else removed it
    throw error;
  }
  const moved = readHolder(aside);
  if (moved && stale && moved.pid !== stale.pid && isAlive(moved.pid)) {
    try {
      linkSync(aside, path);
    } catch {
      // a third process created one meanwhile: that one stands
    }
    rmSync(aside, { force: true });
    return false;
  }
  rmSync(aside, { force: true });
  return true;
}

/**
 * Takes the lock of `dir` (created if missing) for `purpose` ("training", "comparing"), or refuses
 * in one line naming the holder — this process included: whoever holds a lock passes it on (a
 * comparison hands each run's lock to its training). `onTakeOver` hears about a stale lock taken over.
 */
export function lockDirectory(dir: string, purpose: string, onTakeOver?: (message: string) => void): DirectoryLock {
  const path = join(dir, LOCK_FILE);
  acquire(dir, path, purpose, onTakeOver);
  held.add(path);
  let released = false;
  return {
    dir,
    release: () => {
      if (released) return;
      released = true;
      held.delete(path);
      rmSync(path, { force: true });
    },
  };
}

/**
 * The lock of `dir` held by the process that started this one (a comparison's worker trains under
 * its parent's lock): checked to be the parent's, and released by the parent alone.
 */
export function parentLock(dir: string): DirectoryLock {
  const path = join(dir, LOCK_FILE);
  const holder = readHolder(path);
  if (holder?.pid !== process.ppid || holder.host !== hostname())
    throw new Error(`${path} is not held by this process's parent (${process.ppid}): ${JSON.stringify(holder)}`);
  return { dir, release: () => {} };
}

function acquire(dir: string, path: string, purpose: string, onTakeOver?: (message: string) => void): void {
  const holder: Holder = {
    pid: process.pid,
    host: hostname(),
    command: `${purpose}: difft ${process.argv.slice(2).join(' ')}`.trim(),
    started: new Date().toISOString(),
  };
  onPath(dir, () => {
    mkdirSync(dir, { recursive: true });
    // a directory (or anything else) in the lock's place could be neither read nor taken over
    if (existsSync(path) && !lstatSync(path).isFile())
      throw new UserError(`${path} is not a file, yet difft keeps ${dir}'s lock there: remove it and run again`);
    for (let attempt = 0; attempt < 3; attempt++) {
      if (tryCreate(path, holder)) {
        fsyncDirectory(dir);
        return;
      }
      const current = readHolder(path);
      if (current && current.host !== hostname()) {
        throw new UserError(
          `${dir} is in use by ${describe(current)}; if that process is gone, remove ${path} and run again`,
        );
      }
      if (current && isAlive(current.pid)) {
        throw new UserError(
          `${dir} is in use by ${describe(current)}: wait for it to finish, or use another directory`,
        );
      }
      if (!current && existsSync(path) && attempt === 0) continue; // being written right now: look again
      if (takeOverStale(path, current)) {
        onTakeOver?.(
          `${dir}: took over the lock of ${current ? describe(current) : 'a process'} that is no longer running`,
        );
      }
    }
    throw new UserError(`${dir}: could not take its lock (${path}): another difft started here at the same moment`);
  });
}

// a lock must not outlive its holder, whatever way the process ends (SIGKILL aside: that one is taken over)
process.on('exit', () => {
  for (const path of held) rmSync(path, { force: true });
});
