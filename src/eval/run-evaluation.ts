import { existsSync, readFileSync } from 'node:fs';
import type { CheckpointEvalRequest } from '../formats/comparison.js';
import { runFile } from '../formats/run.js';
import type { TaskScores } from '../measure/task-metrics.js';
import type { EvalResult } from './evaluate.js';

/**
 * What a comparison measures on each run's final checkpoint once it has trained (the experiment's
 * `eval` key), and where it keeps it: the run directory's evaluation file. The windows are the run's
 * evaluation set (eval.seed and eval.maxTokens, the experiment's, so every run is scored on the
 * same tokens at each context).
 */
export interface RunEvaluation {
  request: CheckpointEvalRequest;
  /** The checkpoint's step: an evaluation of an earlier checkpoint is redone. */
  step: number;
  /** At the trained context, then at each of `request.seqLen`. */
  contexts: EvalResult[];
  /** A run trained on a task: its probe scores at full precision and at each attention bit width. */
  task?: { name: string; scores: TaskScores; attentionBits: { bits: number; scores: TaskScores }[] };
}

export function readRunEvaluation(runDir: string): RunEvaluation | undefined {
  const path = runFile(runDir, 'evaluation');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RunEvaluation;
  } catch {
    return undefined; // damaged: evaluated again
  }
}

/** Whether an evaluation answers `request` for the checkpoint at `step`. */
export function answers(evaluation: RunEvaluation | undefined, request: CheckpointEvalRequest, step: number): boolean {
  return (
    evaluation !== undefined &&
    evaluation.step === step &&
    JSON.stringify(evaluation.request) === JSON.stringify(request)
  );
}
