import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fsyncDirectory, recoverLeftovers } from '../atomic.js';
import { readCheckpoint } from '../checkpoint/checkpoint.js';
import { readConfigFile, resolveConfig } from '../config/load.js';
import type { RunConfig } from '../config/schema.js';
import { describeDirectory, directoryKind } from '../formats/directory-kind.js';
import { UserError } from '../errors.js';
import { holdsWeights } from '../formats/checkpoint.js';
import { isRunEntry, runFile, stepCheckpoints } from '../formats/run.js';
import { lockDirectory, type DirectoryLock } from '../lock.js';

/**
 * A run directory belongs to one run: training takes its lock for as long as it writes, a new run
 * goes only into a new or empty directory (or, asked explicitly, into its own old one, cleared
 * first), and a resume continues the run the directory holds. Nothing of two runs ever mixes.
 */
export interface ClaimOptions {
  /** A new run into a directory that holds an old one: remove the old run first. */
  overwrite?: boolean;
  /** The directory's lock, already held by the caller (a comparison trains its runs under its own). */
  lock?: DirectoryLock;
  onWarning?: (message: string) => void;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** `<output.dir>/<name>-<time>`, with -2, -3, … when a run started in the same second took it. */
export function defaultRunDirectory(config: RunConfig): string {
  const base = resolve(join(config.output.dir, `${config.name}-${timestamp()}`));
  let dir = base;
  for (let n = 2; existsSync(dir); n++) dir = `${base}-${n}`;
  return dir;
}

/** The run directory of a checkpoint or run directory given to --resume. */
export function runDirectoryOf(path: string): string {
  const dir = resolve(path);
  return holdsWeights(dir) ? dirname(dir) : dir;
}

/** A run that stopped before its first checkpoint: its config and metrics, no step checkpoint. */
export function neverSaved(runDir: string): boolean {
  return (
    directoryKind(runDir) === 'run' &&
    stepCheckpoints(runDir).length === 0 &&
    !existsSync(runFile(runDir, 'best')) &&
    existsSync(runFile(runDir, 'config'))
  );
}

/** The run directory of `path` when it holds a run to continue; else a refusal naming what it is. */
function resumableRun(path: string): string {
  const runDir = runDirectoryOf(path);
  const kind = directoryKind(runDir);
  if (kind !== 'run' && kind !== 'checkpoint')
    throw new UserError(`--resume ${path}: ${describeDirectory(runDir, kind)}, not a run to continue`);
  return runDir;
}

/** The config a resume continues with: its newest checkpoint's, or config.yaml of a run that never saved. */
export function storedRunConfig(path: string): RunConfig {
  const runDir = resumableRun(path);
  if (!holdsWeights(resolve(path)) && neverSaved(runDir)) {
    return resolveConfig(readConfigFile(runFile(runDir, 'config')), runFile(runDir, 'config'));
  }
  return readCheckpoint(path).config.run;
}

function lock(dir: string, options: ClaimOptions): DirectoryLock {
  if (options.lock) {
    if (resolve(options.lock.dir) !== resolve(dir)) throw new Error(`the lock of ${options.lock.dir} given for ${dir}`);
    return { dir, release: () => {} }; // the caller's to release
  }
  return lockDirectory(dir, 'training', options.onWarning);
}

/** Removes a run's own entries (not files someone else put beside them), keeping the lock. */
function clearRun(runDir: string): void {
  for (const name of readdirSync(runDir).filter(isRunEntry))
    rmSync(join(runDir, name), { recursive: true, force: true });
  fsyncDirectory(runDir);
}

/** Takes `runDir` for a new run: missing or empty, or a run of its own to start over with `overwrite`. */
export function claimForNewRun(runDir: string, options: ClaimOptions = {}): DirectoryLock {
  const refuse = (why: string) => new UserError(`${describeDirectory(runDir)}; ${why}`);
  const before = directoryKind(runDir);
  if (!['missing', 'empty', 'run'].includes(before))
    throw refuse('a run goes into a new or empty directory: choose another --out');
  const held = lock(runDir, options);
  try {
    const kind = directoryKind(runDir);
    if (kind === 'run') {
      if (!options.overwrite) {
        const progress = lastStep(runDir);
        throw refuse(
          `${progress}: continue it with --resume ${runDir}, choose another --out, or pass --overwrite to ` +
            `remove it and start over`,
        );
      }
      clearRun(runDir);
      options.onWarning?.(`${runDir}: removed the run it held (--overwrite)`);
    } else if (kind !== 'missing' && kind !== 'empty') {
      throw refuse('a run goes into a new or empty directory: choose another --out');
    }
    return held;
  } catch (error) {
    held.release();
    throw error;
  }
}

export function removeIfEmpty(dir: string): void {
  if (directoryKind(dir) === 'empty') rmSync(dir, { recursive: true, force: true });
}

/** How far the run in `runDir` got, for the refusal. */
function lastStep(runDir: string): string {
  const newest = stepCheckpoints(runDir)[0];
  if (!newest) return 'it stopped before its first checkpoint';
  try {
    const { state, config } = readCheckpoint(join(runDir, newest));
    return `its run is at step ${state.step} of ${config.run.train.steps}`;
  } catch {
    return `its newest checkpoint is ${newest}`;
  }
}

/**
 * Takes the run directory of `path` to resume it; cleans what an interrupted save left. A run that
 * never saved a checkpoint returns `startOver`: it trains again from step 0 with its own config.
 */
export function claimForResume(path: string, options: ClaimOptions = {}): { lock: DirectoryLock; startOver: boolean } {
  const runDir = resumableRun(path);
  const held = lock(runDir, options);
  try {
    for (const action of recoverLeftovers(runDir)) options.onWarning?.(`${runDir}: ${action}`);
    const startOver = neverSaved(runDir) && !holdsWeights(resolve(path));
    if (startOver) {
      clearRun(runDir);
      options.onWarning?.(
        `${runDir} stopped before its first checkpoint: training it again from step 0 with its config`,
      );
    }
    return { lock: held, startOver };
  } catch (error) {
    held.release();
    throw error;
  }
}
