import { loadExperiment } from '../compare/experiment.js';
import { type CompareCallbacks, type CompareResult, runExperiment } from '../compare/run.js';
import { type Report, writeReport } from '../report/report.js';

export interface CompareOptions {
  /** The results directory (default: checkpoints/<experiment name>). */
  out?: string;
  /** Runs trained at once, each in its own process (default: one per core that memory allows). */
  jobs?: number;
  /** Train only share `index` of `count` of the runs, for job arrays across machines. */
  shard?: { index: number; count: number };
  /** Runs trained under another configuration than the experiment now gives them: train them again. */
  retrainChanged?: boolean;
  /** Aborting it stops every run after its step; finished runs are kept, and the same call continues. */
  signal?: AbortSignal;
  callbacks?: CompareCallbacks;
}

/**
 * Trains every variant × seed of an experiment (a YAML file, or a shipped one by name such as
 * `compare-default`) and writes its report once all are finished (what `difft compare` does).
 */
export async function compare(experiment: string, options: CompareOptions = {}): Promise<CompareResult> {
  const { signal, ...rest } = options;
  return runExperiment(loadExperiment(experiment), {
    ...rest,
    shouldStop: signal ? () => signal.aborted : undefined,
  });
}

/** Writes the report of a results directory from the runs finished so far, merging shards. */
export function report(dir: string): Promise<Report> {
  return writeReport(dir);
}
