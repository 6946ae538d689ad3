import { exitCodeOf, STOP_SIGNALS, type StopSignal } from '../signals.js';

export interface StopRequest {
  /** Aborted when a stop signal arrives: what the library's long jobs take to stop after their step. */
  signal: AbortSignal;
  /** 128 + the number of the signal that arrived (130 when none did). */
  exitCode(): number;
  /** Stops listening (the command is done). */
  release(): void;
}

/**
 * The stop signals (src/signals.ts) ask a long command (train, compare) to stop after its current
 * step and save; a second one leaves at once. Either way the exit code is 128 + the signal's number.
 */
export function listenForStop(notice: string): StopRequest {
  let received: StopSignal | undefined;
  const controller = new AbortController();
  const handler = (signal: StopSignal) => {
    if (received) process.exit(exitCodeOf(signal));
    received = signal;
    controller.abort();
    if (signal === 'SIGHUP') {
      // the terminal is gone: what would have been shown there is dropped, not an error that ends the save
      for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
      return;
    }
    process.stderr.write(notice);
  };
  const signals = Object.keys(STOP_SIGNALS) as StopSignal[];
  for (const signal of signals) process.on(signal, handler);
  return {
    signal: controller.signal,
    exitCode: () => exitCodeOf(received ?? 'SIGINT'),
    release: () => {
      for (const signal of signals) process.off(signal, handler);
    },
  };
}
