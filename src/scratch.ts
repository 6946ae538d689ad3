import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitOnStopSignals } from './signals.js';

/**
 * Scratch directories under the system's temporary directory (a corpus tokenised for `eval
 * --corpus`, a BPE's training text, a graph on its way into TensorFlow), removed when their work is
 * done — and when the process ends first, however it ends short of SIGKILL: on exit, and on a
 * signal that no command handles itself (train and compare stop after a step; eval, prepare and
 * the rest simply end, and would otherwise leave their scratch behind).
 */
const live = new Set<string>();

let installed = false;
function removeOnExit(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const dir of live) rmSync(dir, { recursive: true, force: true });
  });
  exitOnStopSignals();
}

export interface ScratchDirectory {
  path: string;
  /** Deletes it now (else the process's end does). */
  remove(): void;
}

/** A fresh scratch directory `difft-<prefix>-XXXXXX`. */
export function scratchDirectory(prefix: string): ScratchDirectory {
  removeOnExit();
  const path = mkdtempSync(join(tmpdir(), `difft-${prefix}-`));
  live.add(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      live.delete(path);
    },
  };
}

/** Runs `work` in a fresh scratch directory, removed afterwards. */
export function withScratchDirectory<T>(prefix: string, work: (dir: string) => T): T {
  const dir = scratchDirectory(prefix);
  try {
    return work(dir.path);
  } finally {
    dir.remove();
  }
}
