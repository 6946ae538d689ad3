import type { RunConfig } from '../config/schema.js';
import { train } from '../train/loop.js';
import { taskAccuracy } from '../train/metrics.js';

/**
 * One run of an experiment in its own process, for `difft compare --jobs N`: the parent sends
 * { config, out, resume }, this trains and reports steps, evaluations and warnings back, and finishes
 * the current step and saves when the parent asks it to stop.
 */
export interface WorkerJob {
  config: RunConfig;
  out: string;
  resume?: string;
}

export type WorkerMessage =
  | { type: 'step'; step: number; loss: number }
  | { type: 'eval'; step: number; valLoss: number; accuracy?: Record<string, number> }
  | { type: 'warning'; message: string }
  | { type: 'done'; step: number; interrupted: boolean }
  | { type: 'error'; message: string; userError: boolean };

function send(message: WorkerMessage): void {
  process.send?.(message);
}

let stopRequested = false;
// Ctrl-C reaches the whole process group: the parent decides, through a 'stop' message.
process.on('SIGINT', () => {});
// A parent that died (killed, crashed) closes the channel: stop at once; the last checkpoint stands.
process.on('disconnect', () => process.exit(stopRequested ? 0 : 1));
process.on('message', async (message: { type: 'job'; job: WorkerJob } | { type: 'stop' }) => {
  if (message.type === 'stop') {
    stopRequested = true;
    return;
  }
  const { job } = message;
  try {
    const result = await train({
      config: job.config,
      out: job.out,
      resume: job.resume,
      overwrite: true, // as in runInProcess (src/compare/run.ts): the parent holds the lock and chose the status
      lockHeld: true,
      recordDivergence: true,
      shouldStop: () => stopRequested,
      callbacks: {
        onStep: ({ step, loss }) => send({ type: 'step', step, loss }),
        onEval: (record) =>
          send({ type: 'eval', step: record.step, valLoss: record.valLoss, accuracy: taskAccuracy(record) }),
        onWarning: (text) => send({ type: 'warning', message: text }),
      },
    });
    send({ type: 'done', step: result.step, interrupted: result.interrupted });
  } catch (error) {
    send({
      type: 'error',
      message: error instanceof Error ? error.message : String(error),
      userError: (error as Error)?.name === 'UserError',
    });
  }
  stopRequested = true; // the disconnect below is ours
  process.disconnect?.();
});
