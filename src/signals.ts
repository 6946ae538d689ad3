/**
 * The signals a user sends to stop difft — Ctrl-C, a kill, a closed terminal or ssh session — and the
 * exit code of a process they ended: the shell's convention, 128 + the signal's number.
 */
export const STOP_SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

export function exitCodeOf(signal: StopSignal): number {
  return 128 + STOP_SIGNALS[signal];
}

let exiting = false;
/**
 * A stop signal that no command handles itself (train and compare stop after their step; eval,
 * prepare and the rest simply end) ends the process with 128 + its number through `process.exit`,
 * so that its 'exit' listeners (scratch directories) run: left to Node's default, the process would
 * die of the signal and run none. Called as early as a process starts, so that it holds while the
 * command's modules are still loading.
 */
export function exitOnStopSignals(): void {
  if (exiting) return;
  exiting = true;
  for (const signal of Object.keys(STOP_SIGNALS) as StopSignal[]) {
    const leave = () => {
      if (process.listenerCount(signal) === 1) process.exit(exitCodeOf(signal));
    };
    process.on(signal, leave);
  }
}
