/**
 * Faults injected on purpose, for the crash and failure tests: nothing here acts unless its
 * environment variable is set.
 */

/**
 * Fault injection for the crash tests: with DIFFT_CRASH_AT=n in the environment, the process kills
 * itself with SIGKILL at the n-th point between the writes, fsyncs and renames of src/atomic.ts.
 */
let crashCountdown = Number(process.env.DIFFT_CRASH_AT ?? 0);
export function crashPoint(): void {
  if (crashCountdown > 0 && --crashCountdown === 0) process.kill(process.pid, 'SIGKILL');
}

/**
 * Fault injection for the failure tests: with DIFFT_FAIL_WRITE=CODE[:text] (ENOSPC, EROFS, EACCES, …),
 * every write, directory creation and rename of src/atomic.ts (and of token shards) whose path
 * contains `text` (any path without it) fails with that error code, as a full disk or a read-only
 * mount would: from then on, not once.
 */
const failure = /^([A-Z]+)(?::(.*))?$/.exec(process.env.DIFFT_FAIL_WRITE ?? '');
export function injectedFault(path: string, syscall: string): void {
  if (!failure || !path.includes(failure[2] ?? '')) return;
  const error = new Error(`${failure[1]}: injected by DIFFT_FAIL_WRITE, ${syscall} '${path}'`) as NodeJS.ErrnoException;
  Object.assign(error, { code: failure[1], syscall, path });
  throw error;
}
