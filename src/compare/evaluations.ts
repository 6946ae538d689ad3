import { useEngine } from '../backend/engines.js';
import { readCheckpoint } from '../checkpoint/checkpoint.js';
import { writeFileAtomically } from '../atomic.js';
import { taskOf } from '../config/task.js';
import { evaluateCheckpoint, type EvalOptions } from '../eval/evaluate.js';
import { answers, readRunEvaluation, type RunEvaluation } from '../eval/run-evaluation.js';
import type { CheckpointEvalRequest } from '../formats/comparison.js';
import { runFile } from '../formats/run.js';
import { taskScores } from '../inspect/analyze.js';
import { type RunJob, runStatus } from './executor.js';

/**
 * The experiment's `eval` key, carried out: each finished run's final checkpoint scored on the run's
 * evaluation windows (eval.seed, eval.maxTokens: the experiment's, the same tokens for every run) —
 * by position, at each longer context, at each attention bit width — and on a task run its probes at
 * each bit width. Written to the run's evaluation file; a run evaluated for this request at this step
 * already is skipped, so that a re-run (or a resumed one) does only what is missing.
 */
export interface EvaluationProgress {
  onRun?(info: { name: string; index: number; count: number }): void;
  onWarning?(message: string): void;
  shouldStop?(): boolean;
}

/** Evaluates the runs still lacking this request's evaluation; returns whether it stopped before the end. */
export async function evaluateRuns(
  runs: RunJob[],
  request: CheckpointEvalRequest,
  progress: EvaluationProgress = {},
): Promise<boolean> {
  const due = runs.filter(
    (run) =>
      runStatus(run.dir, run.config.train.steps) === 'done' &&
      !answers(readRunEvaluation(run.dir), request, readCheckpoint(run.dir).state.step),
  );
  for (const [index, run] of due.entries()) {
    if (progress.shouldStop?.()) return true;
    progress.onRun?.({ name: run.name, index, count: due.length });
    await useEngine(run.config.train.backend);
    const evaluation = await evaluateRun(run, request, progress.onWarning);
    writeFileAtomically(runFile(run.dir, 'evaluation'), `${JSON.stringify(evaluation, null, 2)}\n`);
  }
  return false;
}

async function evaluateRun(
  run: RunJob,
  request: CheckpointEvalRequest,
  onWarning?: (message: string) => void,
): Promise<RunEvaluation> {
  const { eval: settings } = run.config;
  const common: EvalOptions = {
    maxTokens: settings.maxTokens || undefined,
    seed: settings.seed,
    batchSize: settings.batchSize,
    onWarning,
  };
  const contexts = [
    await evaluateCheckpoint(run.dir, {
      ...common,
      byPosition: request.byPosition,
      attentionBits: request.attentionBits,
    }),
  ];
  for (const seqLen of request.seqLen)
    contexts.push(await evaluateCheckpoint(run.dir, { ...common, seqLen, byPosition: true }));
  const onTask = taskOf(run.config.data.task) && request.attentionBits.length > 0 && settings.probes > 0;
  const task = onTask
    ? await taskScores(run.dir, undefined, settings.probes, settings.batchSize, request.attentionBits)
    : undefined;
  return {
    request,
    step: contexts[0].step,
    contexts,
    ...(task ? { task: { name: task.task, scores: task.scores, attentionBits: task.attentionBits ?? [] } } : {}),
  };
}
