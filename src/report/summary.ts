import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { readCheckpoint } from '../checkpoint/checkpoint.js';
import { UserError } from '../errors.js';
import { countParameters } from '../model/parameters.js';
import { readMetrics } from '../train/metrics.js';

/**
 * The numbers of a comparison, recomputed from each run's metrics.jsonl and checkpoint: per run,
 * then per variant as mean ± sample standard deviation over seeds, then a verdict per variant.
 */
export interface RunSummary {
  variant: string;
  seed: number;
  dir: string;
  attention: string;
  parameters: number;
  steps: number;
  tokens: number;
  /** Seconds spent in training steps (evaluation excluded). */
  wallSeconds: number;
  tokensPerSecond: number;
  finalValLoss: number;
  bestValLoss: number;
  finalBitsPerByte: number;
  bestBitsPerByte: number;
  curve: { step: number; tokens: number; valLoss: number }[];
  lambdas: { step: number; values: number[] }[];
}

export interface Spread {
  mean: number;
  std: number;
  n: number;
}

export interface VariantSummary {
  name: string;
  attention: string;
  runs: RunSummary[];
  missingSeeds: number[];
  parameters: number;
  parameterRatio: number;
  tokens: number;
  wallSeconds: Spread;
  tokensPerSecond: Spread;
  finalValLoss: Spread;
  bestValLoss: Spread;
  finalBitsPerByte: Spread;
  bestBitsPerByte: Spread;
  verdict: string;
}

export interface ComparisonSummary {
  dir: string;
  baseline: string;
  seeds: number[];
  variants: VariantSummary[];
}

export function spread(values: number[]): Spread {
  const n = values.length;
  const mean = n ? values.reduce((a, b) => a + b, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

export function summarizeRun(dir: string, variant: string, seed: number): RunSummary {
  const checkpoint = readCheckpoint(dir);
  const records = readMetrics(join(dir, 'metrics.jsonl'));
  const trainRecords = records.flatMap((r) => (r.type === 'train' ? [r] : []));
  const evalRecords = records.flatMap((r) => (r.type === 'eval' ? [r] : []));
  if (trainRecords.length === 0 || evalRecords.length === 0) throw new UserError(`${dir}/metrics.jsonl: no training or evaluation records`);
  const last = trainRecords[trainRecords.length - 1];
  const finalEval = evalRecords.reduce((a, b) => (b.step >= a.step ? b : a));
  const bestEval = evalRecords.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
  return {
    variant,
    seed,
    dir,
    attention: checkpoint.config.model.attention,
    parameters: countParameters(checkpoint.config.model).total,
    steps: last.step,
    tokens: last.tokens,
    wallSeconds: last.elapsedSeconds,
    tokensPerSecond: last.tokens / last.elapsedSeconds,
    finalValLoss: finalEval.valLoss,
    bestValLoss: bestEval.valLoss,
    finalBitsPerByte: finalEval.valBitsPerByte,
    bestBitsPerByte: bestEval.valBitsPerByte,
    curve: evalRecords.map((r) => ({ step: r.step, tokens: r.tokens, valLoss: r.valLoss })),
    lambdas: trainRecords.filter((r) => r.lambdas.length > 0).map((r) => ({ step: r.step, values: r.lambdas })),
  };
}

/**
 * The verdict compares final validation losses: the difference of the means against its standard
 * error over seeds, sqrt(s_v²/n_v + s_b²/n_b). "Larger than the seed spread" means more than twice it.
 */
function verdict(variant: VariantSummary, baseline: VariantSummary): string {
  if (variant.name === baseline.name) return 'baseline';
  const a = variant.finalValLoss;
  const b = baseline.finalValLoss;
  if (!a.n || !b.n) return 'no finished runs to compare';
  const delta = a.mean - b.mean;
  const direction = delta < 0 ? 'lower' : 'higher';
  const relative = Math.abs(delta / b.mean) * 100;
  const parameters = variant.parameterRatio === 1 ? 'with the same parameter count' : `with ${variant.parameterRatio.toFixed(3)}× the parameters`;
  const head = `${variant.name}: final validation loss ${Math.abs(delta).toFixed(4)} nats ${direction} than ${baseline.name} (${relative.toFixed(2)}%), ${parameters}`;
  if (a.n < 2 || b.n < 2) return `${head}; one seed only, so the seed spread is unknown: run more seeds before concluding.`;
  const standardError = Math.sqrt(a.std ** 2 / a.n + b.std ** 2 / b.n);
  const ratio = standardError > 0 ? Math.abs(delta) / standardError : Infinity;
  return ratio > 2
    ? `${head}; that is ${ratio.toFixed(1)}× its standard error over seeds (${standardError.toFixed(4)}): larger than the seed spread.`
    : `${head}; that is only ${ratio.toFixed(1)}× its standard error over seeds (${standardError.toFixed(4)}): within the seed spread, no difference can be claimed at this scale.`;
}

export function summarizeComparison(dir: string): ComparisonSummary {
  const experimentFile = join(dir, 'experiment.yaml');
  if (!existsSync(experimentFile)) throw new UserError(`${dir} is not a comparison directory (no experiment.yaml): run difft compare first`);
  const experiment = YAML.parse(readFileSync(experimentFile, 'utf8')) as { baseline: string; variants: { name: string }[]; seeds: number[] };
  const variants = experiment.variants.map(({ name }) => {
    const runs: RunSummary[] = [];
    const missingSeeds: number[] = [];
    for (const seed of experiment.seeds) {
      const runDir = join(dir, `${name}-seed${seed}`);
      if (existsSync(join(runDir, 'metrics.jsonl')) && existsSync(runDir)) {
        try {
          runs.push(summarizeRun(runDir, name, seed));
          continue;
        } catch {
          // unfinished or damaged: reported as missing
        }
      }
      missingSeeds.push(seed);
    }
    const over = (pick: (run: RunSummary) => number) => spread(runs.map(pick));
    return {
      name,
      attention: runs[0]?.attention ?? '?',
      runs,
      missingSeeds,
      parameters: runs[0]?.parameters ?? NaN,
      parameterRatio: 1,
      tokens: runs[0]?.tokens ?? 0,
      wallSeconds: over((r) => r.wallSeconds),
      tokensPerSecond: over((r) => r.tokensPerSecond),
      finalValLoss: over((r) => r.finalValLoss),
      bestValLoss: over((r) => r.bestValLoss),
      finalBitsPerByte: over((r) => r.finalBitsPerByte),
      bestBitsPerByte: over((r) => r.bestBitsPerByte),
      verdict: '',
    } satisfies VariantSummary;
  });
  const baseline = variants.find((v) => v.name === experiment.baseline) ?? variants[0];
  for (const variant of variants) {
    variant.parameterRatio = variant.parameters / baseline.parameters;
    variant.verdict = verdict(variant, baseline);
  }
  return { dir, baseline: baseline.name, seeds: experiment.seeds, variants };
}
