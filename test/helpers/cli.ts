import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const DIFFT_BIN = fileURLToPath(new URL('../../../bin/difft.js', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function difft(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeout?: number } = {},
): { status: number | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, [DIFFT_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    timeout: options.timeout,
    killSignal: 'SIGKILL', // a hung process may not be able to act on SIGTERM
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', ...options.env },
  });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}
