import { existsSync, readdirSync } from 'node:fs';
import { filesIn } from './paths.js';

/**
 * A run directory (written by src/train/): its config, its metrics, its TensorBoard event file, the
 * step checkpoints `step-000600`, `best/`, `diverged.json` when a comparison's run diverged, and
 * `evaluation.json` when a comparison evaluated its final checkpoint (the experiment's `eval` key).
 */
export const RUN_FILES = {
  config: 'config.yaml',
  metrics: 'metrics.jsonl',
  diverged: 'diverged.json',
  evaluation: 'evaluation.json',
  best: 'best',
} as const;

/** The path of one of a run directory's entries. */
export const runFile = filesIn(RUN_FILES);

/** TensorBoard's own naming: `events.out.tfevents.<seconds>.<host>`. */
const EVENT_FILE = /^events\.out\.tfevents\./;

export function eventFileName(seconds: number, host: string): string {
  return `events.out.tfevents.${seconds}.${host}`;
}

export function isEventFile(name: string): boolean {
  return EVENT_FILE.test(name);
}

const STEP_DIR = /^step-(\d+)$/;

/**
 * `step-000600`: six digits, or as many as the run's last step needs, so that the checkpoints of a
 * run list in order (difft itself orders them by number, whatever their width).
 */
export function stepDirName(step: number, lastStep = step): string {
  return `step-${String(step).padStart(Math.max(6, String(lastStep).length), '0')}`;
}

/** The step of a `step-N` checkpoint's name; undefined for any other name. */
export function stepOfDirName(name: string): number | undefined {
  const match = STEP_DIR.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** The step checkpoints of a run directory, newest first (by number: names of any width sort right). */
export function stepCheckpoints(runDir: string): string[] {
  if (!existsSync(runDir)) return [];
  const steps = readdirSync(runDir).filter((name) => stepOfDirName(name) !== undefined);
  return steps.sort((a, b) => stepOfDirName(b)! - stepOfDirName(a)!);
}

/** What an interrupted atomic write leaves beside an entry (src/atomic.ts): `<name>.tmp-<pid>`, `<name>.old-<pid>`. */
const LEFTOVER = /(\.(tmp|old)-\d+)?$/;

/** Whether difft writes an entry of this name into a run directory: what `--overwrite` removes, and only that. */
export function isRunEntry(name: string): boolean {
  const base = name.replace(LEFTOVER, '');
  return Object.values(RUN_FILES).includes(base as never) || stepOfDirName(base) !== undefined || isEventFile(base);
}

/** Recognises a run directory from its entries. */
export function looksLikeRun(names: string[]): boolean {
  return (
    names.some((name) => stepOfDirName(name) !== undefined) ||
    names.includes(RUN_FILES.metrics) ||
    names.includes(RUN_FILES.config)
  );
}
