import type { EngineChoice, EngineRequest } from '../backend/engines.js';
import { parseTaskSpec } from '../config/task.js';
import { evaluateCheckpoint, type EvalOptions, type EvalResult, sharedEvalSeed } from '../eval/evaluate.js';
import { type CheckpointTaskScores, taskScores } from '../inspect/analyze.js';
import { UserError } from '../errors.js';
import { engineFor } from './engine.js';

export interface EvaluateOptions extends Omit<EvalOptions, 'onProgress'> {
  /**
   * Also score a retrieval or in-context task: `true` for the task the checkpoint trained on, or a spec
   * (`needles:needles=6,length=129`).
   */
  task?: true | string;
  /** Task examples scored (default 256). */
  examples?: number;
  backend?: EngineRequest;
  onEngine?: (choice: EngineChoice) => void;
  /** Tokens scored so far of the checkpoint at `index` in the list. */
  onProgress?: (progress: { index: number; tokensDone: number; tokensTotal: number }) => void;
}

export interface EvaluateResult extends EvalResult {
  /** With `task`: accuracy, exact match, answer loss, by depth, wrong answers by kind. */
  task?: CheckpointTaskScores;
}

/**
 * Scores checkpoints (what `difft eval` does) on the same tokens: one seed for all, the first checkpoint's
 * eval.seed unless `seed` is given. Results whose fingerprints differ were scored on different tokens,
 * which `onWarning` says.
 */
export async function evaluate(
  checkpoints: string | string[],
  options: EvaluateOptions = {},
): Promise<EvaluateResult[]> {
  const paths = typeof checkpoints === 'string' ? [checkpoints] : checkpoints;
  if (paths.length === 0) throw new UserError('checkpoints: give at least one checkpoint or run directory');
  const seed = options.seed ?? sharedEvalSeed(paths);
  const task = typeof options.task === 'string' ? parseTaskSpec(options.task) : undefined;
  await engineFor(options.backend, options.onEngine);
  const results: EvaluateResult[] = [];
  for (const [index, path] of paths.entries()) {
    const result = await evaluateCheckpoint(path, {
      ...options,
      seed,
      onProgress: (tokensDone, tokensTotal) => options.onProgress?.({ index, tokensDone, tokensTotal }),
    });
    const scores = options.task
      ? await taskScores(path, task, options.examples ?? 256, options.batchSize ?? 16, options.attentionBits)
      : undefined;
    results.push({ ...result, ...(scores ? { task: scores } : {}) });
  }
  if (new Set(results.map((r) => r.fingerprint)).size > 1)
    options.onWarning?.(
      'these checkpoints were scored on different tokens (different datasets or context lengths: see the ' +
        'fingerprint column), so their losses are not directly comparable',
    );
  return results;
}
