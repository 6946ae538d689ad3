import { fileSystemError, UserError } from '../errors.js';
import { OutputClosed } from './output.js';

/** Exit codes: 0 done, 1 a bug, 2 a user mistake; 128 + the signal's number when one stopped it (./stop.ts). */
export const EXIT = { ok: 0, bug: 1, usage: 2 } as const;

let verbose = false;
export function setVerbose(value: boolean): void {
  verbose = value;
}

/**
 * Runs a command's action: a UserError becomes one line on stderr and exit code 2; anything else is
 * a bug, shown with its stack when --verbose is on.
 */
export function action<Args extends unknown[]>(
  run: (...args: Args) => Promise<void> | void,
): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    try {
      await run(...args);
    } catch (error) {
      process.exitCode = reportError(error);
    }
  };
}

export function reportError(thrown: unknown): number {
  if (thrown instanceof OutputClosed) return EXIT.ok;
  const error = fileSystemError(thrown) ?? thrown;
  if (error instanceof UserError) {
    process.stderr.write(`difft: ${error.message}\n`);
    if (verbose && thrown instanceof Error && thrown.stack) process.stderr.write(`${thrown.stack}\n`);
    return EXIT.usage;
  }
  const text = error instanceof Error ? error.message : String(error);
  process.stderr.write(`difft: internal error: ${text}\n`);
  if (verbose && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  else process.stderr.write('(run again with --verbose for the stack trace)\n');
  return EXIT.bug;
}
