/**
 * The signals a user sends to stop difft — Ctrl-C, a kill, a closed terminal or ssh session — and the
 * exit code of a process they ended: the shell's convention, 128 + the signal's number.
 */
export const STOP_SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
export type StopSignal = keyof typeof STOP_SIGNALS;

export function exitCodeOf(signal: StopSignal): number {
  return 128 + STOP_SIGNALS[signal];
}
