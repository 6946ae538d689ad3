import { checkResumable } from '../config/load.js';
import type { RunConfig } from '../config/schema.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDirectory } from '../atomic.js';
import { checkpointsAfter, readCheckpoint, type LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { UserError } from '../errors.js';

/**
 * The checkpoint a resume continues from: the newest whose files all verify; newer ones that do not
 * are named, with the reason, and left in place.
 */
export function openForResume(path: string, onWarning?: (message: string) => void): LoadedCheckpoint {
  return readCheckpoint(path, {
    verify: true,
    onSkip: (dir, why) => onWarning?.(`skipping checkpoint ${dir}: ${why}`),
  });
}

/**
 * A run directory holds one history. Resuming from a checkpoint older than the run's newest would train
 * a second one beside it: the abandoned checkpoints stay the newest (for info, eval, export and the next
 * resume) while the metrics hold the new branch. So that is refused, unless the caller discards what came
 * after (`--discard-later`): the later checkpoints are removed here, their metrics when the log reopens.
 */
export function keepOneHistory(
  runDir: string,
  resumed: LoadedCheckpoint,
  discardLater: boolean,
  onWarning?: (message: string) => void,
): void {
  const step = resumed.state.step;
  const later = checkpointsAfter(runDir, step);
  if (later.length === 0) return;
  if (!discardLater)
    throw new UserError(
      `${resumed.dir} is not the newest checkpoint of ${runDir} (${later.join(', ')} came after step ${step}): ` +
        'resuming from it would start a second history there; add --discard-later to remove the later ' +
        'checkpoints and their metrics, or resume the run itself',
    );
  for (const name of later) rmSync(join(runDir, name), { recursive: true, force: true });
  fsyncDirectory(runDir);
  onWarning?.(`removed ${later.join(', ')} (after step ${step}): the run continues from step ${step}`);
}

/**
 * The config a resumed run continues with: its own, or `given` when that differs only in what a
 * resume may change (train.steps, train.backend, train.threads) — said out loud.
 */
export function resumedConfig(
  resumed: LoadedCheckpoint,
  given: RunConfig | undefined,
  onWarning?: (message: string) => void,
): RunConfig {
  const stored = resumed.config.run;
  if (!given) return stored;
  checkResumable(stored, given, `resuming ${resumed.dir}`);
  if (given.train.steps !== stored.train.steps) {
    const step = resumed.state.step;
    onWarning?.(
      given.train.steps > step
        ? `train.steps ${stored.train.steps} → ${given.train.steps}: the learning-rate schedule from step ${step} ` +
            `on now decays to step ${given.train.steps} (steps before it are unchanged)`
        : `train.steps ${given.train.steps}: the run is already at step ${step}, nothing left to train`,
    );
  }
  if (given.train.backend !== stored.train.backend) {
    onWarning?.(
      `train.backend ${stored.train.backend} → ${given.train.backend}: same data order and schedule; from here ` +
        `on the arithmetic is the new engine's (agreeing to float32 round-off, not bit for bit)`,
    );
  }
  return given;
}
