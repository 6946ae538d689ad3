import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../checkpoint/checkpoint.js';
import { configFingerprint } from '../config/fingerprint.js';
import { attentionLabel, ffnHiddenWidth } from '../config/model.js';
import type { RunConfig } from '../config/schema.js';
import { taskLabel, taskOf } from '../config/task.js';
import { UserError } from '../errors.js';
import type { Plan, PlannedRun } from '../formats/comparison.js';
import { runFile } from '../formats/run.js';
import type { Diff2LayerStats } from '../model/attention/diagnostics.js';
import { countParameters, nonEmbeddingParameters } from '../model/parameters.js';
import { type Divergence, readDivergence } from '../train/divergence.js';
import { readMetrics } from '../train/metrics.js';
import { answers, readRunEvaluation, type RunEvaluation } from '../eval/run-evaluation.js';
import type { CurvePoint } from './gap.js';
import { gradNormSpikes } from './stability.js';
import { type RunTaskResult, runTasks, type TaskCurvePoint } from './tasks.js';

/**
 * The report's first stage: each planned run read from its metrics.jsonl and checkpoint — finished,
 * missing (not started, unfinished or damaged) or diverged. A run trained under another
 * configuration than the plan's is refused.
 */
export interface RunSummary extends PlannedRun {
  dir: string;
  attention: string;
  /** Of the configuration it was trained with (src/config/fingerprint.ts). */
  fingerprint: string;
  parameters: number;
  /** Without the token embedding and an untied LM head. */
  nonEmbedding: number;
  /** The SwiGLU hidden width it ran with (sized to the baseline's count under match: params). */
  ffnHidden: number;
  steps: number;
  /** The steps the run was set to train (it is finished when `steps` reaches them). */
  plannedSteps: number;
  /** The weight of its loss outside a task's answers (train.textWeight; 1: the plain loss). */
  textWeight: number;
  /**
   * The probe task whose answers its loss weighed above the text (textWeight < 1): its objective, on
   * which its verdict is given, since the validation loss then scores text it was not trained on.
   */
  objectiveTask?: string;
  tokens: number;
  /** Seconds spent in training steps (evaluation excluded). */
  wallSeconds: number;
  tokensPerSecond: number;
  finalValLoss: number;
  bestValLoss: number;
  finalBitsPerByte: number;
  bestBitsPerByte: number;
  /** Which tokens the evaluations scored (absent for runs written before fingerprints). */
  evalFingerprint?: string;
  evalTokens: number;
  curve: CurvePoint[];
  lambdas: { step: number; values: number[] }[];
  /** The global gradient norm (before clipping) at every logged step, and how many of them are spikes. */
  gradNorms: { step: number; value: number }[];
  spikes: number;
  /** Largest visible attention logit and residual magnitude per layer at every evaluation. */
  extremes: { step: number; maxLogit: number[]; maxActivation: number[] }[];
  /** Probe tasks at the final evaluation, their course over training, diff2's λ and gate statistics. */
  tasks: Record<string, RunTaskResult>;
  taskCurve: TaskCurvePoint[];
  diff2: { step: number; layers: Diff2LayerStats[] }[];
  /** Its final checkpoint's evaluation, when the plan asked for one and it answers it (src/compare/evaluations.ts). */
  evaluation?: RunEvaluation;
}

/** A run that diverged (src/train/divergence.ts): listed, and left out of every statistic. */
export type DivergedRun = { name: string; variant: string; setting: string; size: string } & Divergence;

export interface RunResults {
  finished: RunSummary[];
  /** Runs of the plan without a finished, readable result. */
  missing: string[];
  diverged: DivergedRun[];
}

export function readRuns(dir: string, plan: Plan): RunResults {
  const results: RunResults = { finished: [], missing: [], diverged: [] };
  const mismatched: string[] = [];
  for (const run of plan.runs) {
    const runDir = join(dir, run.name);
    const divergence = readDivergence(runDir);
    if (divergence) {
      results.diverged.push({ ...run, size: run.size ?? '', ...divergence });
      continue;
    }
    try {
      if (!existsSync(runFile(runDir, 'metrics'))) throw new Error('not started');
      const summary = summarizeRun(runDir, run);
      if (summary.steps < summary.plannedSteps) throw new Error('unfinished');
      const planned = plan.configFingerprints?.[run.name];
      if (planned !== undefined && planned !== summary.fingerprint) mismatched.push(run.name);
      const evaluation = readRunEvaluation(runDir);
      if (plan.eval && answers(evaluation, plan.eval, summary.steps)) summary.evaluation = evaluation;
      results.finished.push(summary);
    } catch {
      results.missing.push(run.name); // not started, unfinished or damaged
    }
  }
  if (mismatched.length > 0)
    throw new UserError(
      `${dir}: ${mismatched.length} run(s) were trained under another configuration than the experiment plans: ` +
        `${mismatched.join(', ')}; run difft compare on ${plan.source || 'the experiment'} to see which keys ` +
        `changed (--retrain-changed trains them again)`,
    );
  return results;
}

export function summarizeRun(dir: string, run: PlannedRun): RunSummary {
  const checkpoint = readCheckpoint(dir);
  const records = readMetrics(runFile(dir, 'metrics'));
  const trainRecords = records.flatMap((r) => (r.type === 'train' ? [r] : []));
  const evalRecords = records.flatMap((r) => (r.type === 'eval' ? [r] : []));
  if (trainRecords.length === 0 || evalRecords.length === 0)
    throw new UserError(`${runFile(dir, 'metrics')}: no training or evaluation records`);
  const last = trainRecords[trainRecords.length - 1];
  const finalEval = evalRecords.reduce((a, b) => (b.step >= a.step ? b : a));
  const bestEval = evalRecords.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
  return {
    ...run,
    dir,
    attention: attentionLabel(checkpoint.config.model),
    fingerprint: configFingerprint(checkpoint.config.run),
    parameters: countParameters(checkpoint.config.model).total,
    nonEmbedding: nonEmbeddingParameters(checkpoint.config.model),
    ffnHidden: ffnHiddenWidth(checkpoint.config.model),
    steps: last.step,
    plannedSteps: checkpoint.config.run.train.steps,
    textWeight: checkpoint.config.run.train.textWeight ?? 1,
    ...objectiveOf(checkpoint.config.run),
    tokens: last.tokens,
    wallSeconds: last.elapsedSeconds,
    tokensPerSecond: last.tokens / last.elapsedSeconds,
    finalValLoss: finalEval.valLoss,
    bestValLoss: bestEval.valLoss,
    finalBitsPerByte: finalEval.valBitsPerByte,
    bestBitsPerByte: bestEval.valBitsPerByte,
    evalFingerprint: finalEval.evalFingerprint,
    evalTokens: finalEval.evalTokens,
    curve: evalRecords.map((r) => ({ step: r.step, tokens: r.tokens, valLoss: r.valLoss })),
    lambdas: trainRecords.filter((r) => r.lambdas.length > 0).map((r) => ({ step: r.step, values: r.lambdas })),
    gradNorms: trainRecords.map((r) => ({ step: r.step, value: r.gradNorm })),
    spikes: gradNormSpikes(trainRecords.map((r) => r.gradNorm)).length,
    extremes: evalRecords.flatMap((r) => (r.extremes ? [{ step: r.step, ...r.extremes }] : [])),
    ...runTasks(evalRecords),
  };
}

function objectiveOf(config: RunConfig): { objectiveTask?: string } {
  const task = taskOf(config.data.task);
  return task && (config.train.textWeight ?? 1) < 1 ? { objectiveTask: taskLabel(task) } : {};
}
