import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { writeFileAtomically } from '../atomic.js';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { readCheckpoint } from '../checkpoint/checkpoint.js';
import { writeReport, type Report } from '../report/report.js';
import { train, type TrainEvents } from '../train/loop.js';
import { runName, type Experiment } from './experiment.js';

/**
 * `difft compare`: trains every variant × seed one after another into one results directory,
 * then writes the report. Re-running skips finished runs and resumes an unfinished one.
 */
export type RunStatus = 'done' | 'resume' | 'new';

export interface CompareEvents {
  onRun?(info: { variant: string; seed: number; dir: string; status: RunStatus; index: number; count: number }): void;
  onStep?(info: { completedSteps: number; totalSteps: number; loss: number }): void;
  training?: TrainEvents;
}

export interface CompareResult {
  dir: string;
  interrupted: boolean;
  report?: Report;
}

export function runStatus(dir: string, steps: number): RunStatus {
  if (!existsSync(dir) || !readdirSync(dir).some((name) => /^step-\d+$/.test(name))) return 'new';
  return readCheckpoint(dir).state.step >= steps ? 'done' : 'resume';
}

export async function runExperiment(experiment: Experiment, options: { out?: string; events?: CompareEvents; shouldStop?: () => boolean } = {}): Promise<CompareResult> {
  const dir = resolve(options.out ?? join('checkpoints', experiment.name));
  mkdirSync(dir, { recursive: true });
  writeFileAtomically(join(dir, 'experiment.yaml'), YAML.stringify({ source: experiment.file, baseline: experiment.baseline, variants: experiment.variants, seeds: experiment.seeds }));

  // seeds outermost: an interrupted experiment already has every variant for the first seeds
  const runs = experiment.seeds.flatMap((seed) => experiment.variants.map((variant) => ({ variant: variant.name, seed, config: experiment.runConfig(variant.name, seed) })));
  const totalSteps = runs.reduce((sum, run) => sum + run.config.train.steps, 0);
  let completedSteps = 0;
  for (const [index, run] of runs.entries()) {
    const runDir = join(dir, runName(run.variant, run.seed));
    const status = runStatus(runDir, run.config.train.steps);
    options.events?.onRun?.({ variant: run.variant, seed: run.seed, dir: runDir, status, index, count: runs.length });
    if (status === 'done') {
      completedSteps += run.config.train.steps;
      options.events?.onStep?.({ completedSteps, totalSteps, loss: NaN });
      continue;
    }
    if (status === 'new') rmSync(runDir, { recursive: true, force: true }); // a run killed before its first checkpoint
    const before = completedSteps;
    const result = await train({
      config: run.config,
      out: runDir,
      resume: status === 'resume' ? runDir : undefined,
      shouldStop: options.shouldStop,
      events: {
        ...options.events?.training,
        onStep: (info) => options.events?.onStep?.({ completedSteps: before + info.step, totalSteps, loss: info.loss }),
      },
    });
    completedSteps = before + result.step;
    if (result.interrupted) return { dir, interrupted: true };
  }
  return { dir, interrupted: false, report: await writeReport(dir) };
}
