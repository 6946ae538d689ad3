import { existsSync } from 'node:fs';
import { readCheckpoint } from '../checkpoint/checkpoint.js';
import { stepCheckpoints } from '../formats/run.js';
import { readDivergence } from '../train/divergence.js';
import type { RunConfig } from '../config/schema.js';
import type { PlannedRun } from '../formats/comparison.js';
import type { DirectoryLock } from '../lock.js';
import { train } from '../train/loop.js';
import { taskAccuracy } from '../train/metrics.js';
import type { TrainResult } from '../train/options.js';

/**
 * The one road for a comparison's run: `executeRun` trains it, hosted in this process (`--jobs 1`)
 * or in a worker process (src/compare/worker.ts), and reports what happens as `RunMessage`s, which
 * the experiment turns into progress the same way whichever the host.
 */
export type RunStatus = 'done' | 'diverged' | 'resume' | 'new';

/** A planned run with its resolved config, its directory and what is left to do there. */
export interface RunJob extends PlannedRun {
  config: RunConfig;
  dir: string;
  status: RunStatus;
}

/** Where a run's directory stands against the steps it should train. */
export function runStatus(dir: string, steps: number): RunStatus {
  if (readDivergence(dir)) return 'diverged'; // stays so (checkpoint or not): the report lists it apart
  if (!existsSync(dir) || stepCheckpoints(dir).length === 0) return 'new';
  return readCheckpoint(dir).state.step >= steps ? 'done' : 'resume';
}

/** Finished, or diverged: nothing more to train either way. */
export const isSettled = (status: RunStatus) => status === 'done' || status === 'diverged';

export type RunMessage =
  | { type: 'step'; step: number; loss: number }
  | { type: 'eval'; step: number; valLoss: number; accuracy?: Record<string, number> }
  | { type: 'warning'; message: string };

/** What a host needs to train a run: plain data, so that it crosses to a worker process as it is. */
export type RunOrder = Pick<RunJob, 'config' | 'dir' | 'status'>;

/** Trains one run under `lock`, which its host holds; stops after a whole step when `shouldStop` says so. */
export function executeRun(
  run: RunOrder,
  lock: DirectoryLock,
  report: (message: RunMessage) => void,
  shouldStop: () => boolean,
): Promise<TrainResult> {
  return train({
    config: run.config,
    out: run.dir,
    resume: run.status === 'resume' ? run.dir : undefined,
    overwrite: true, // a 'new' run's directory may hold one killed before its first checkpoint, or a changed one
    lock,
    recordDivergence: true,
    shouldStop,
    callbacks: {
      onStep: ({ step, loss }) => report({ type: 'step', step, loss }),
      onEval: (record) =>
        report({ type: 'eval', step: record.step, valLoss: record.valLoss, accuracy: taskAccuracy(record) }),
      onWarning: (message) => report({ type: 'warning', message }),
    },
  });
}
