import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKPOINT_FORMAT } from '../../src/checkpoint/checkpoint.js';
import { type Experiment, loadExperiment, type PlannedRun } from '../../src/compare/experiment.js';
import { planOf } from '../../src/compare/run.js';
import { resolveModelConfig } from '../../src/config/model.js';
import type { RunConfig } from '../../src/config/schema.js';
import { comparisonFile, writePlan } from '../../src/formats/comparison.js';
import { checkpointFile } from '../../src/formats/checkpoint.js';
import { runFile, stepDirName } from '../../src/formats/run.js';
import { appendMetrics, type MetricsRecord } from '../../src/train/metrics.js';
import { REPO_ROOT } from './cli.js';

/**
 * A comparison directory of hand-made runs for report tests: the experiment's runs, each with a
 * checkpoint's config (no weights: the report reads none) and a metrics.jsonl of one training and one
 * evaluation record whose numbers the test chooses.
 */
export interface HandMadeRun {
  /** Final validation loss. */
  loss: number;
  /** Extra fields of the evaluation record (probe tasks, extremes, …). */
  eval?: Record<string, unknown>;
}

export function handMadeComparison(
  experimentLines: string[],
  runOf: (run: PlannedRun, config: RunConfig) => HandMadeRun,
): { out: string; experiment: Experiment } {
  const dir = mkdtempSync(join(tmpdir(), 'difft-hand-made-'));
  const file = comparisonFile(dir, 'plan');
  writeFileSync(
    file,
    [`base: ${join(REPO_ROOT, 'configs/tiny.yaml')}`, 'config: { train.steps: 10 }', ...experimentLines].join('\n'),
  );
  const experiment = loadExperiment(file);
  const out = join(dir, 'cmp');
  for (const run of experiment.runs) {
    const config = experiment.runConfig(run);
    const runDir = join(out, run.name);
    const checkpoint = join(runDir, stepDirName(10));
    mkdirSync(checkpoint, { recursive: true });
    for (const file of ['weights', 'optimizer'] as const) writeFileSync(checkpointFile(checkpoint, file), '');
    const model = resolveModelConfig({ ...config.model, vocabSize: 256 });
    const stored = {
      difftVersion: 'test',
      format: CHECKPOINT_FORMAT,
      run: config,
      model,
      tokenizer: { kind: 'byte' },
      dataset: { dir: 'none', key: 'none' },
    };
    writeFileSync(checkpointFile(checkpoint, 'config'), JSON.stringify(stored));
    const sampler = { seed: 1, rng: 1, batches: 10 };
    const state = { step: 10, tokens: 640, lr: 1e-3, optimizerStep: 10, sampler, elapsedSeconds: 1, engine: 'cpu' };
    writeFileSync(checkpointFile(checkpoint, 'state'), JSON.stringify(state));
    const made = runOf(run, config);
    const record = { step: 10, tokens: 640, elapsedSeconds: 1 };
    const lines: MetricsRecord[] = [
      { type: 'train', ...record, loss: made.loss, lr: 1e-3, gradNorm: 1, tokensPerSecond: 640, lambdas: [] },
      {
        type: 'eval',
        ...record,
        valLoss: made.loss,
        valPerplexity: 1,
        valBitsPerByte: 1,
        evalTokens: 64,
        evalFingerprint: 'e',
        ...made.eval,
      },
    ];
    for (const line of lines) appendMetrics(runFile(runDir, 'metrics'), line);
  }
  writePlan(out, planOf(experiment));
  return { out, experiment };
}
