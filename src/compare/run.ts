import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { useEngine } from '../backend/engines.js';
import { fingerprintChanges } from '../config/fingerprint.js';
import { checkOutputDirectory } from '../formats/directory-kind.js';
import { lockDirectory, type DirectoryLock } from '../lock.js';
import { UserError } from '../errors.js';
import { COMPARISON_FILES, looksLikeComparison, readPlan, writePlan, type Plan } from '../formats/comparison.js';
import { writeReport, type Report } from '../report/report.js';
import { availableMemory, estimateForRun } from '../train/memory.js';
import { storedRunConfig } from '../train/run-dir.js';
import { shardRuns, type Experiment, type PlannedRun } from './experiment.js';
import { isSettled, type RunJob, type RunMessage, runStatus, type RunStatus } from './executor.js';
import { evaluateRuns } from './evaluations.js';
import { inProcessHost, type RunHost, workerHost } from './hosts.js';

/**
 * `difft compare`: trains every variant × seed into one results directory, then writes the report.
 * Re-running skips finished runs and resumes an unfinished one. With `jobs` > 1 the runs train in
 * that many child processes at once (each run is deterministic on its own, so the results are those
 * of a sequential experiment).
 */

export interface CompareCallbacks {
  onRun?(
    info: PlannedRun & {
      dir: string;
      status: RunStatus;
      index: number;
      count: number;
    },
  ): void;
  /** Steps completed over all runs (finished ones included) and the latest loss of any run. */
  onStep?(info: { completedSteps: number; totalSteps: number; loss: number }): void;
  onEval?(info: { name: string; step: number; valLoss: number; accuracy?: Record<string, number> }): void;
  onWarning?(message: string): void;
  /** A finished run's final checkpoint being evaluated (the experiment's `eval` key). */
  onEvaluate?(info: { name: string; index: number; count: number }): void;
}

export interface CompareOptions {
  out?: string;
  /** Runs trained under another configuration than the experiment now asks for: train them again. */
  retrainChanged?: boolean;
  callbacks?: CompareCallbacks;
  shouldStop?: () => boolean;
  /** Runs trained at once, each in its own process; default: `defaultJobs`. */
  jobs?: number;
  /** Train only this deterministic share of the runs (`--shard i/n`), for job arrays across machines. */
  shard?: { index: number; count: number };
}

export interface CompareResult {
  dir: string;
  interrupted: boolean;
  jobs: number;
  /** Runs of the whole experiment not finished yet (other shards' included). */
  unfinished: string[];
  /** Written once every run of the experiment is finished. */
  report?: Report;
}

/**
 * One run per core (at most one per unfinished run, and no more than fit in memory together), each
 * child given an equal share of the cores; one run at a time on a GPU. Measured on 2 cores (6 runs
 * of 100 steps, default.yaml's model): wasm 194 s with one job, 114 s with two; tensorflow 85 s with
 * one job of two threads, 48 s with two jobs of one thread each — at this size a second process gains
 * more than a second thread.
 */
export async function defaultJobs(experiment: Experiment, unfinishedRuns: number): Promise<number> {
  const engine = await useEngine(experiment.runConfig(experiment.runs[0]).train.backend);
  if (engine.name === 'webgpu' || /CUDA/.test(engine.detail)) return 1;
  // and no more runs at once than the memory holds (each child's estimate: src/train/memory.ts)
  const largest = Math.max(
    ...experiment.runs.map((run) => estimateForRun(experiment.runConfig(run), engine.name).bytes),
  );
  const fitting = Math.floor(availableMemory() / largest);
  return Math.max(1, Math.min(availableParallelism(), unfinishedRuns, fitting));
}

/** The plan of the whole experiment as every shard writes it: the experiment's Plan part, fingerprints first. */
export function planOf(experiment: Experiment): Plan {
  return {
    configFingerprints: experiment.configFingerprints,
    name: experiment.name,
    source: experiment.source,
    baseline: experiment.baseline,
    ...(experiment.references ? { references: experiment.references } : {}),
    match: experiment.match,
    variants: experiment.variants,
    sweep: experiment.sweep,
    settings: experiment.settings,
    ...(experiment.sizes.length ? { sizes: experiment.sizes } : {}),
    seeds: experiment.seeds,
    runs: experiment.runs,
    ...(experiment.eval ? { eval: experiment.eval } : {}),
  };
}

export async function runExperiment(experiment: Experiment, options: CompareOptions = {}): Promise<CompareResult> {
  const dir = resolve(options.out ?? join('checkpoints', experiment.name));
  checkResultsDirectory(dir, experiment);
  const mine = options.shard ? shardRuns(experiment.runs, options.shard) : experiment.runs;
  // the runs this process trains are its own until it ends: a second compare (or train) is refused
  const locks = lockRuns(
    mine.map((run) => join(dir, run.name)),
    options.callbacks?.onWarning,
  );
  try {
    const changed = changedRuns(experiment, dir);
    if (changed.size > 0 && !options.retrainChanged) throw changedRefusal(experiment, dir, changed);
    writePlan(dir, planOf(experiment));
    const jobsOf = (runs: PlannedRun[]): RunJob[] =>
      runs.map((run) => {
        const config = experiment.runConfig(run);
        const runDir = join(dir, run.name);
        const status = changed.has(run.name) ? 'new' : runStatus(runDir, config.train.steps);
        return { ...run, config, dir: runDir, status };
      });
    const runs = jobsOf(mine);
    const unfinished = runs.filter((run) => !isSettled(run.status)).length;
    const jobs = options.jobs ?? (await defaultJobs(experiment, unfinished));
    if (!Number.isInteger(jobs) || jobs < 1) throw new UserError(`--jobs must be a whole number ≥ 1, got ${jobs}`);

    const progress = new StepCounter(runs, options.callbacks);
    const host =
      jobs === 1
        ? inProcessHost(new Map(locks.map((lock) => [lock.dir, lock])), () => options.shouldStop?.() ?? false)
        : await workerHost(runs, jobs, options.callbacks?.onWarning);
    let interrupted = await trainRuns(runs, jobs, host, progress, options);
    if (!interrupted && experiment.eval)
      interrupted = await evaluateRuns(runs, experiment.eval, {
        onRun: options.callbacks?.onEvaluate,
        onWarning: options.callbacks?.onWarning,
        shouldStop: options.shouldStop,
      });
    // other shards may still be training: the report waits for the last run of the whole experiment
    const left = jobsOf(experiment.runs)
      .filter((run) => !isSettled(run.status))
      .map((run) => run.name);
    if (interrupted || left.length > 0) return { dir, interrupted, jobs, unfinished: left };
    return { dir, interrupted: false, jobs, unfinished: [], report: await writeReport(dir) };
  } finally {
    for (const lock of locks) lock.release();
  }
}

/** A results directory is new, empty, or this experiment's own: never a run, a checkpoint or someone's folder. */
function checkResultsDirectory(dir: string, experiment: Experiment): void {
  // another shard of this experiment that has locked its runs but not yet written the plan (or is writing it:
  // src/atomic.ts's temporary name beside it)
  const planned = new Set(experiment.runs.map((run) => run.name));
  const ours = (name: string) => planned.has(name) || name.startsWith(`${COMPARISON_FILES.plan}.tmp-`);
  const entries = existsSync(dir) && statSync(dir).isDirectory() ? readdirSync(dir) : [];
  if (entries.length > 0 && !looksLikeComparison(entries) && entries.every(ours)) return;
  const kind = checkOutputDirectory(dir, 'compare --out', ['comparison'], 'choose a new or empty --out');
  if (kind !== 'comparison') return;
  const plan = readPlan(dir);
  if (plan.name !== experiment.name)
    throw new UserError(
      `compare --out: ${dir} holds the results of experiment ${plan.name}, not ${experiment.name}; choose ` +
        `another --out`,
    );
}

/** Takes every run directory's lock, or none: refuses naming the holder of the first one taken. */
function lockRuns(dirs: string[], onWarning?: (message: string) => void): DirectoryLock[] {
  const locks: DirectoryLock[] = [];
  try {
    for (const dir of dirs) locks.push(lockDirectory(dir, 'comparing', onWarning));
  } catch (error) {
    for (const lock of locks) lock.release();
    throw error;
  }
  return locks;
}

/**
 * Runs of the experiment (any shard's) already trained, finished or not, under another
 * configuration than the experiment now plans for them, with the keys that differ.
 */
function changedRuns(experiment: Experiment, dir: string): Map<string, string[]> {
  const changed = new Map<string, string[]>();
  for (const run of experiment.runs) {
    const runDir = join(dir, run.name);
    if (runStatus(runDir, Infinity) === 'new') continue;
    const keys = fingerprintChanges(storedRunConfig(runDir), experiment.runConfig(run));
    if (keys.length > 0) changed.set(run.name, keys);
  }
  return changed;
}

/** One line: which runs changed in which keys, and the two ways on. */
function changedRefusal(experiment: Experiment, dir: string, changed: Map<string, string[]>): UserError {
  const byKeys = new Map<string, string[]>();
  for (const [run, keys] of changed) byKeys.set(keys.join(', '), [...(byKeys.get(keys.join(', ')) ?? []), run]);
  const list = [...byKeys].map(([keys, runs]) => `${runs.join(', ')} (${keys})`).join('; ');
  return new UserError(
    `${experiment.source} changed since ${changed.size} run(s) in ${dir} were trained: ${list}; their results ` +
      `would be reported under a configuration they were not trained with. Pass --retrain-changed to train them ` +
      `again, or choose a new --out`,
  );
}

/** Steps done per run, summed into the experiment's progress. */
class StepCounter {
  private readonly done = new Map<string, number>();
  private readonly totalSteps: number;

  constructor(
    runs: RunJob[],
    private readonly callbacks: CompareCallbacks | undefined,
  ) {
    this.totalSteps = runs.reduce((sum, run) => sum + run.config.train.steps, 0);
  }

  update(run: RunJob, step: number, loss: number): void {
    this.done.set(run.dir, step);
    const completedSteps = [...this.done.values()].reduce((a, b) => a + b, 0);
    this.callbacks?.onStep?.({ completedSteps, totalSteps: this.totalSteps, loss });
  }
}

function announce(run: RunJob, index: number, count: number, callbacks: CompareCallbacks | undefined): void {
  callbacks?.onRun?.({
    name: run.name,
    variant: run.variant,
    setting: run.setting,
    size: run.size,
    seed: run.seed,
    dir: run.dir,
    status: run.status,
    index,
    count,
  });
}

/** What a run reports, turned into the experiment's progress and callbacks (the same from every host). */
function relay(run: RunJob, progress: StepCounter, callbacks: CompareCallbacks | undefined) {
  return (message: RunMessage) => {
    if (message.type === 'step') progress.update(run, message.step, message.loss);
    else if (message.type === 'eval') {
      const { step, valLoss, accuracy } = message;
      callbacks?.onEval?.({ name: run.name, step, valLoss, accuracy });
    } else callbacks?.onWarning?.(message.message);
  };
}

/**
 * Trains the runs on `host`, `lanes` at a time, in order; settled runs are only counted. A stop
 * request (polled every 100 ms) or a failing run stops the others after their current step. Returns
 * whether the experiment stopped before its end.
 */
async function trainRuns(
  runs: RunJob[],
  lanes: number,
  host: RunHost,
  progress: StepCounter,
  options: CompareOptions,
): Promise<boolean> {
  let next = 0;
  let stopping = false;
  let failure: Error | undefined;
  const stop = () => {
    stopping = true;
    host.stop();
  };
  const watch = setInterval(() => !stopping && options.shouldStop?.() && stop(), 100);
  const lane = async () => {
    while (next < runs.length && !stopping && !failure) {
      const index = next++;
      const run = runs[index];
      announce(run, index, runs.length, options.callbacks);
      if (isSettled(run.status)) {
        progress.update(run, run.config.train.steps, NaN);
        continue;
      }
      try {
        if (await host.train(run, relay(run, progress, options.callbacks))) stopping = true;
      } catch (error) {
        failure ??= error as Error;
        stop();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: lanes }, lane));
  } finally {
    clearInterval(watch);
  }
  if (failure) throw failure;
  return stopping;
}
