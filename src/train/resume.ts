import { checkResumable } from '../config/load.js';
import type { RunConfig } from '../config/schema.js';
import { readCheckpoint, type LoadedCheckpoint } from '../checkpoint/checkpoint.js';

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
