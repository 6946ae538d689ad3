import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_FILES } from '../../src/formats/run.js';

/**
 * What two runs of the same work must agree on, whatever interrupted one of them: the
 * measurements, never the clock.
 */

/** A run's metrics as `type step loss` lines (validation loss for evaluations), in order. */
export function lossTrail(runDir: string): string[] {
  return readFileSync(join(runDir, RUN_FILES.metrics), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { type: string; step: number; loss?: number; valLoss?: number })
    .map((record) => `${record.type} ${record.step} ${record.loss ?? record.valLoss}`);
}

/** JSON.parse's reviver: drops the fields that measure time (how fast a run went). */
export const withoutTimes = (key: string, value: unknown) =>
  key === 'wallSeconds' || key === 'tokensPerSecond' || key === 'createdAt' ? undefined : value;
