import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import type { RunConfig } from '../config/schema.js';
import type { TrainOptions, TrainResult } from './options.js';
import { keepOneHistory, openForResume, resumedConfig } from './resume.js';
import { resumeConfig } from '../config/load.js';
import {
  claimForNewRun,
  claimForResume,
  defaultRunDirectory,
  removeIfEmpty,
  runDirectoryOf,
  storedRunConfig,
} from './run-dir.js';
import { TrainingRun } from './training-run.js';

/**
 * Trains one run. Its directory is taken first (src/train/run-dir.ts: locked, and checked to hold
 * this run and no other), then everything happens under that lock.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const callbacks = options.callbacks ?? {};
  const claim = { overwrite: options.overwrite, lock: options.lock, onWarning: callbacks.onWarning };
  if (!options.resume) {
    if (!options.config) throw new Error('a new run needs a config');
    const runDir = resolve(options.out ?? defaultRunDirectory(options.config));
    const created = !existsSync(runDir);
    const lock = claimForNewRun(runDir, claim);
    try {
      return await trainIn(runDir, undefined, options.config, options);
    } finally {
      lock.release();
      if (created) removeIfEmpty(runDir); // a run that failed before writing anything leaves no trace
    }
  }
  // resolved before the directory is claimed (which may clear a run that never saved): a bad change changes nothing
  const given = options.config ?? resumeConfig(storedRunConfig(options.resume), options.overrides ?? []);
  const { lock, startOver } = claimForResume(options.resume, claim);
  try {
    const resumed = startOver ? undefined : openForResume(options.resume, callbacks.onWarning);
    const runDir = runDirectoryOf(options.resume);
    // a run directory resumes from its newest usable checkpoint; a checkpoint named inside it may be an older one
    const named = resumed && resolve(options.resume) !== runDir;
    if (named) keepOneHistory(runDir, resumed, options.discardLater ?? false, callbacks.onWarning);
    const config = resumed ? resumedConfig(resumed, given, callbacks.onWarning) : given;
    return await trainIn(runDir, resumed, config, options);
  } finally {
    lock.release();
  }
}

async function trainIn(
  runDir: string,
  resumed: LoadedCheckpoint | undefined,
  config: RunConfig,
  options: TrainOptions,
): Promise<TrainResult> {
  const run = await TrainingRun.open(runDir, resumed, config, options);
  try {
    return await run.run(options.shouldStop);
  } finally {
    run.dispose();
  }
}
