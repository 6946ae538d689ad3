import { parentLock } from '../lock.js';
import { STOP_SIGNALS } from '../signals.js';
import { executeRun, type RunMessage, type RunOrder } from './executor.js';

/**
 * A host for one run of an experiment in its own process, for `difft compare --jobs N`: the parent
 * sends the run, this trains it (src/compare/executor.ts) under the parent's lock and reports back,
 * and finishes the current step and saves when the parent asks it to stop.
 */
export type WorkerMessage =
  | RunMessage
  | { type: 'done'; step: number; interrupted: boolean }
  | { type: 'error'; message: string; userError: boolean };

function send(message: WorkerMessage): void {
  process.send?.(message);
}

let stopRequested = false;
// The parent decides, through a 'stop' message (src/cli/stop.ts): a stop signal sent to this process
// itself (its group is its own) is left to the parent too.
for (const signal of Object.keys(STOP_SIGNALS)) process.on(signal, () => {});
// A parent that died (killed, crashed) closes the channel: stop at once; the last checkpoint stands.
process.on('disconnect', () => process.exit(stopRequested ? 0 : 1));
process.on('message', async (message: { type: 'run'; run: RunOrder } | { type: 'stop' }) => {
  if (message.type === 'stop') {
    stopRequested = true;
    return;
  }
  const { run } = message;
  try {
    const result = await executeRun(run, parentLock(run.dir), send, () => stopRequested);
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
