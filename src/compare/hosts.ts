import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import type { DirectoryLock } from '../lock.js';
import { prepareRunData } from '../train/run-data.js';
import { executeRun, type RunJob, type RunMessage } from './executor.js';
import type { WorkerMessage } from './worker.js';

/**
 * Where a comparison's runs train: in this process, one at a time, or in worker processes, several
 * at once. Either way a run is trained by `executeRun` and reports the same messages.
 */
export interface RunHost {
  /** Trains `run`; true when it stopped early (asked to stop). */
  train(run: RunJob, report: (message: RunMessage) => void): Promise<boolean>;
  /** Asks every run in progress to finish its step, save and return. */
  stop(): void;
}

/** Runs trained here, under the locks the experiment holds. */
export function inProcessHost(locks: Map<string, DirectoryLock>, shouldStop: () => boolean): RunHost {
  let stopping = false;
  return {
    async train(run, report) {
      const result = await executeRun(run, locks.get(run.dir)!, report, () => stopping || shouldStop());
      return result.interrupted;
    },
    stop: () => {
      stopping = true;
    },
  };
}

/**
 * Runs trained each in a worker process (src/compare/worker.ts), `jobs` at a time. The data are
 * prepared here first, so that no two workers write the same token shards; on a native engine each
 * worker gets an equal share of the cores.
 */
export async function workerHost(
  runs: RunJob[],
  jobs: number,
  onWarning?: (message: string) => void,
): Promise<RunHost> {
  const seen = new Set<string>();
  for (const { config } of runs) {
    const key = JSON.stringify(config.data);
    if (seen.has(key)) continue;
    seen.add(key);
    await prepareRunData(config, { onWarning });
  }
  const worker = fileURLToPath(new URL('./worker.js', import.meta.url));
  // several jobs share the cores; one job chooses its own thread count (src/backend/engines.ts)
  const threads: Record<string, string> =
    jobs > 1 ? { TF_NUM_INTRAOP_THREADS: String(Math.max(1, Math.floor(availableParallelism() / jobs))) } : {};
  const children = new Set<ReturnType<typeof fork>>();
  return {
    train: (run, report) =>
      new Promise<boolean>((done, fail) => {
        const child = fork(worker, [], {
          // a process group of its own: a terminal's Ctrl-C or hang-up reaches the parent alone, which asks each
          // worker to stop after its step — one still loading would otherwise die of the signal before it listens
          detached: true,
          env: { ...threads, ...process.env },
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        });
        children.add(child);
        let stderr = '';
        let outcome: WorkerMessage | undefined;
        child.stderr?.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
        child.on('message', (message: WorkerMessage) => {
          if (message.type === 'done' || message.type === 'error') outcome = message;
          else report(message);
        });
        child.on('exit', (code, signal) => {
          children.delete(child);
          if (outcome?.type === 'done') return done(outcome.interrupted);
          fail(workerFailure(run.name, outcome, stderr, signal ?? `exit code ${code}`));
        });
        child.send({ type: 'run', run: { config: run.config, dir: run.dir, status: run.status } });
      }),
    stop: () => {
      for (const child of children) child.send({ type: 'stop' });
    },
  };
}

/** Why a worker ended without finishing its run: its error, or how it ended and its last line. */
function workerFailure(name: string, outcome: WorkerMessage | undefined, stderr: string, ending: string): Error {
  if (outcome?.type === 'error')
    return outcome.userError ? new UserError(`${name}: ${outcome.message}`) : new Error(`${name}: ${outcome.message}`);
  const last = stderr.trim().split('\n').pop() ?? '';
  return new Error(`${name}: its process ended (${ending}) without finishing${last ? `: ${last}` : ''}`);
}
