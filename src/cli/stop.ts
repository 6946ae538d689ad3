/**
 * The signals that ask a long command (train, compare) to stop after its current step and save:
 * Ctrl-C, a kill, and a closed terminal or ssh session. A second one leaves at once. Either way the
 * exit code is the shell's convention for death by that signal, 128 + its number.
 */
const STOP_SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type StopSignal = keyof typeof STOP_SIGNALS;

export interface StopRequest {
  /** Whether a stop signal has arrived. */
  requested(): boolean;
  /** 128 + the number of the signal that arrived (130 when none did). */
  exitCode(): number;
  /** Stops listening (the command is done). */
  release(): void;
}

export function listenForStop(notice: string): StopRequest {
  let received: StopSignal | undefined;
  const handler = (signal: StopSignal) => {
    if (received) process.exit(128 + STOP_SIGNALS[signal]);
    received = signal;
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
    requested: () => received !== undefined,
    exitCode: () => 128 + STOP_SIGNALS[received ?? 'SIGINT'],
    release: () => {
      for (const signal of signals) process.off(signal, handler);
    },
  };
}
