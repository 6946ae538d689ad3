import { ROLES, type Allocation } from '../measure/analysis.js';
import type { Diff2LayerStats } from '../model/attention/diagnostics.js';
import type { MetricsRecord } from '../train/metrics.js';
import { spread, type Spread } from './stats.js';
import { WRONG_ANSWERS, type WrongAnswer } from '../measure/task-metrics.js';

/**
 * The retrieval side of a comparison: each run's task metrics and attention allocation from its
 * evaluation records (final values and their course over training), and per group the mean ± std
 * over seeds. The paired differences are taken by summary.ts like the loss's.
 */
type EvalRecord = Extract<MetricsRecord, { type: 'eval' }>;

export interface RunTaskResult {
  accuracy: number;
  exactMatch: number;
  answerLoss: number;
  /** The map allocation is read on (attention, or the differential map). */
  map: string;
  /** Per layer, mean over heads, at the final evaluation. */
  allocation: Allocation[];
  /** Mean over layers of the attention mass on the answer needle, and on noise (other needles + distractors). */
  answerMass: number;
  noiseMass: number;
  chance: { digits: number; randomFact: number };
  /** The wrong greedy answers by kind, as shares of all answers (absent from runs written before they were). */
  wrong?: Record<WrongAnswer, number>;
}

export interface TaskCurvePoint {
  step: number;
  tokens: number;
  task: string;
  accuracy: number;
  answerMass: number;
}

export function noiseOf(allocation: Allocation): number {
  return allocation.otherNeedles + allocation.distractors;
}

const meanOf = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

function taskResult(record: NonNullable<EvalRecord['tasks']>[string]): RunTaskResult {
  const map = Object.keys(record.allocation)[0];
  const allocation = record.allocation[map];
  return {
    accuracy: record.accuracy,
    exactMatch: record.exactMatch,
    answerLoss: record.answerLoss,
    map,
    allocation,
    answerMass: meanOf(allocation.map((a) => a.answer)),
    noiseMass: meanOf(allocation.map(noiseOf)),
    chance: record.chance,
    ...(record.wrong ? { wrong: record.wrong } : {}),
  };
}

/** A run's task results at its final evaluation, and their course over all evaluations. */
export function runTasks(evalRecords: EvalRecord[]): {
  tasks: Record<string, RunTaskResult>;
  taskCurve: TaskCurvePoint[];
  diff2: { step: number; layers: Diff2LayerStats[] }[];
} {
  const final = evalRecords.reduce((a, b) => (b.step >= a.step ? b : a));
  const tasks = Object.fromEntries(
    Object.entries(final.tasks ?? {}).map(([name, record]) => [name, taskResult(record)]),
  );
  const taskCurve = evalRecords.flatMap((r) =>
    Object.entries(r.tasks ?? {}).map(([task, record]) => ({
      step: r.step,
      tokens: r.tokens,
      task,
      accuracy: record.accuracy,
      answerMass: taskResult(record).answerMass,
    })),
  );
  const diff2 = evalRecords.flatMap((r) => (r.diff2 ? [{ step: r.step, layers: r.diff2 }] : []));
  return { tasks, taskCurve, diff2 };
}

export interface GroupTaskSummary {
  accuracy: Spread;
  exactMatch: Spread;
  answerLoss: Spread;
  answerMass: Spread;
  noiseMass: Spread;
  map: string;
  /** Kinds of wrong answers, mean ± std over the seeds that recorded them. */
  wrong: Record<WrongAnswer, Spread>;
  /** Per layer and role: mean ± std over seeds. */
  allocation: Record<keyof Allocation, Spread>[];
}

export function groupTasks(runs: { tasks: Record<string, RunTaskResult> }[]): Record<string, GroupTaskSummary> {
  const names = [...new Set(runs.flatMap((run) => Object.keys(run.tasks)))];
  return Object.fromEntries(
    names.map((name) => {
      const results = runs.flatMap((run) => run.tasks[name] ?? []);
      const over = (pick: (r: RunTaskResult) => number) => spread(results.map(pick));
      const layers = results[0].allocation.length;
      return [
        name,
        {
          accuracy: over((r) => r.accuracy),
          exactMatch: over((r) => r.exactMatch),
          answerLoss: over((r) => r.answerLoss),
          answerMass: over((r) => r.answerMass),
          noiseMass: over((r) => r.noiseMass),
          map: results[0].map,
          wrong: Object.fromEntries(
            WRONG_ANSWERS.map((kind) => [kind, spread(results.flatMap((r) => (r.wrong ? [r.wrong[kind]] : [])))]),
          ) as Record<WrongAnswer, Spread>,
          allocation: Array.from(
            { length: layers },
            (_, layer) =>
              Object.fromEntries(ROLES.map((role) => [role, over((r) => r.allocation[layer][role])])) as Record<
                keyof Allocation,
                Spread
              >,
          ),
        },
      ];
    }),
  );
}
