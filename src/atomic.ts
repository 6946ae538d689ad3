import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Nothing half-written: files and directories are written next to their destination under a
 * temporary name and renamed into place, so a crash leaves either the old version or the new one.
 */
export function writeFileAtomically(path: string, content: string | Buffer): void {
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, content);
  renameSync(temporary, path);
}

/** Puts a finished directory in place: the old one (if any) is removed only after the new one is there. */
export function replaceDirectory(temporary: string, dir: string): void {
  mkdirSync(dirname(dir), { recursive: true });
  const old = `${dir}.old-${process.pid}`;
  const hadOld = existsSync(dir);
  if (hadOld) renameSync(dir, old);
  renameSync(temporary, dir);
  if (hadOld) rmSync(old, { recursive: true, force: true });
}
