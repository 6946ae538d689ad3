import { train as trainRun } from '../train/loop.js';
import type { TrainCallbacks, TrainResult } from '../train/options.js';
import type { EngineRequest } from '../backend/engines.js';
import { UserError } from '../errors.js';
import { type ConfigChanges, type ConfigInput, overridesOf, resolveRunConfig } from './config.js';

export interface TrainOptions {
  /** A preset name (`default`, `baseline`, …), a YAML/JSON config file, or a config object; default: `default`. */
  config?: string | ConfigInput;
  /** Changes on top of `config` (or, with `resume`, of the run's own config: train.steps, the engine). */
  set?: ConfigChanges;
  /** The engine (same as `set: { 'train.backend': … }`). */
  backend?: EngineRequest;
  /** The run directory, new or empty; default: <output.dir>/<name>-<time>. */
  out?: string;
  /** Continue a run (its directory or one of its checkpoints) where it stopped, with its own config. */
  resume?: string;
  /** When `out` holds an earlier run: remove it and start over. */
  overwrite?: boolean;
  /** With `resume` from a checkpoint older than the run's newest: remove the later ones. */
  discardLater?: boolean;
  /** Train even when the memory estimate exceeds what this machine has. */
  skipMemoryCheck?: boolean;
  /** Aborting it finishes the current step, saves a checkpoint and resolves with `interrupted: true`. */
  signal?: AbortSignal;
  /** Progress: the engine, data preparation, the start, every step, every evaluation, warnings. */
  callbacks?: TrainCallbacks;
}

/** Trains a model (what `difft train` does): resolves with where its checkpoint is and how it scored. */
export async function train(options: TrainOptions = {}): Promise<TrainResult> {
  const changes = [...overridesOf(options.set), ...(options.backend ? [`train.backend=${options.backend}`] : [])];
  const signal = options.signal;
  if (options.resume && options.config !== undefined)
    throw new UserError(
      'config cannot be given with resume: a resumed run keeps its own config (change ' +
        'train.steps or the engine through set or backend)',
    );
  return trainRun({
    ...(options.resume
      ? { resume: options.resume, overrides: changes }
      : { config: resolveRunConfig(options.config, changes) }),
    out: options.out,
    overwrite: options.overwrite,
    discardLater: options.discardLater,
    skipMemoryCheck: options.skipMemoryCheck,
    shouldStop: signal ? () => signal.aborted : undefined,
    callbacks: options.callbacks,
  });
}
