import { curveTurnWarning } from './prose.js';
import { pairedInterval } from './stats.js';

/**
 * Params-to-target, the paper's scaling form: at what parameter count a variant's loss-vs-parameters
 * curve reaches the baseline's loss at a given size, as a fraction of the baseline's parameters.
 *
 * Each curve is one seed's final validation losses at the sizes run, against non-embedding parameters
 * N. Between two measured sizes the loss is interpolated linearly in log N (scaling curves are near
 * straight there). A seed's crossing is the first segment where the curve comes down through the
 * target; a target above the curve's first point or below its last is outside the measured range and
 * gives no number. Seeds are paired (the same seed's baseline sets the target), the fraction is taken in
 * logs, and the estimate is exp(mean log f) with the Student-t interval of the mean log fraction, mapped
 * back by exp: a ratio's interval is symmetric in logs, not in the ratio.
 */
export interface CurvePoint {
  parameters: number;
  loss: number;
}

/** N at which a curve (sorted by N) first reaches `target` from above, or undefined outside the range. */
export function parametersAt(curve: CurvePoint[], target: number): number | undefined {
  const points = [...curve].sort((a, b) => a.parameters - b.parameters);
  // better than the target already at the smallest size
  if (points.length === 0 || points[0].loss < target) return undefined;
  for (let i = 0; i + 1 < points.length; i++) {
    const [a, b] = [points[i], points[i + 1]];
    if (a.loss >= target && b.loss <= target) {
      if (a.loss === b.loss) return a.parameters;
      const share = (a.loss - target) / (a.loss - b.loss);
      return Math.exp(Math.log(a.parameters) + share * (Math.log(b.parameters) - Math.log(a.parameters)));
    }
  }
  return points[0].loss === target ? points[0].parameters : undefined;
}

export interface ParamsToTarget {
  /** exp(mean over seeds of log(N*_seed / N_baseline)); undefined when no seed reached it. */
  fraction?: number;
  low?: number;
  high?: number;
  /** Seeds whose curve reached the target inside the sizes run, of all paired seeds. */
  reached: number;
  seeds: number;
  /** Of the others: seeds already below the target at their smallest size (the rest stay above it at their largest). */
  belowAtSmallest: number;
}

/**
 * For one baseline size: `baseline[seed]` is the baseline's final loss at that size (the target) and its
 * non-embedding parameters `baselineParameters`; `variant[seed]` the variant's curve over the sizes run.
 */
export function paramsToTarget(
  baselineParameters: number,
  baseline: Map<number, number>,
  variant: Map<number, CurvePoint[]>,
  level = 0.95,
): ParamsToTarget {
  const logs: number[] = [];
  let seeds = 0;
  let belowAtSmallest = 0;
  for (const [seed, target] of baseline) {
    const curve = variant.get(seed);
    if (!curve) continue;
    seeds++;
    const reached = parametersAt(curve, target);
    if (reached !== undefined) logs.push(Math.log(reached / baselineParameters));
    else if (curve.reduce((a, b) => (b.parameters < a.parameters ? b : a)).loss < target) belowAtSmallest++;
  }
  if (logs.length === 0) return { reached: 0, seeds, belowAtSmallest };
  const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
  // the interval needs every seed to have reached it: a seed outside the range has no log to average
  const interval = logs.length === seeds ? pairedInterval(logs, level) : undefined;
  return {
    fraction: Math.exp(mean),
    ...(interval ? { low: Math.exp(interval.low), high: Math.exp(interval.high) } : {}),
    reached: logs.length,
    seeds,
    belowAtSmallest,
  };
}

/** One variant at one size, at the setting its verdict uses: what the scaling section reads. */
export interface SizedGroup {
  variant: string;
  size: string;
  runs: { seed: number; nonEmbedding: number; finalValLoss: number }[];
}

/** A variant's final validation loss at one size: mean over seeds and its 95% Student-t interval. */
export interface ScalingPoint {
  variant: string;
  size: string;
  nonEmbedding: number;
  mean: number;
  low?: number;
  high?: number;
  seeds: number;
}

/** Params-to-target of one variant against the baseline at one of the baseline's sizes. */
export interface ScalingTarget extends ParamsToTarget {
  variant: string;
  size: string;
  baselineParameters: number;
  /** The baseline's mean final loss at that size, over the seeds paired. */
  target: number;
  /**
   * The baseline's mean loss at this size is no lower than at a smaller one: a target past the turn
   * of its curve is easier than a smaller size's, so no fraction is given for it.
   */
  pastTurn?: boolean;
}

export interface ScalingSummary {
  points: ScalingPoint[];
  targets: ScalingTarget[];
  /** Curves whose mean loss rises with size, named with the sizes where it does. */
  warnings: string[];
}

/** The sizes (in order of parameters) where a variant's mean loss is no lower than at the size before. */
function turns(points: ScalingPoint[]): { from: ScalingPoint; to: ScalingPoint }[] {
  const sorted = [...points].sort((a, b) => a.nonEmbedding - b.nonEmbedding);
  return sorted.slice(1).flatMap((to, i) => (to.mean >= sorted[i].mean ? [{ from: sorted[i], to }] : []));
}

/**
 * Loss against non-embedding parameters per variant, and each non-baseline variant's params-to-target
 * at every baseline size. A variant's curve for a seed is that seed's final losses at the sizes it
 * finished.
 */
export function scalingSummary(groups: SizedGroup[], baseline: string, level = 0.95): ScalingSummary {
  const points = groups.filter((g) => g.runs.length > 0).map((g) => scalingPoint(g, level));
  const names = [...new Set(groups.map((g) => g.variant))];
  const warnings = names.flatMap((variant) =>
    turns(points.filter((p) => p.variant === variant)).map(({ from, to }) => curveTurnWarning(variant, from, to)),
  );
  // past the baseline's first turn every target is easier than a smaller size's: no fraction is given
  const firstTurn = turns(points.filter((p) => p.variant === baseline))[0]?.to.nonEmbedding ?? Infinity;
  const baselineGroups = groups.filter((g) => g.variant === baseline && g.runs.length > 0);
  const targets = names
    .filter((name) => name !== baseline)
    .flatMap((variant) => {
      const curve = seedCurves(groups, variant);
      return baselineGroups.map((g) => scalingTarget(variant, g, curve, firstTurn, level));
    });
  return { points, targets, warnings };
}

/** A group's mean final loss with its one-sample t interval, at its non-embedding parameters. */
function scalingPoint(g: SizedGroup, level: number): ScalingPoint {
  const losses = g.runs.map((run) => run.finalValLoss);
  const interval = pairedInterval(losses, level); // a one-sample t interval of the mean
  return {
    variant: g.variant,
    size: g.size,
    nonEmbedding: g.runs[0].nonEmbedding,
    mean: losses.reduce((a, b) => a + b, 0) / losses.length,
    ...(interval ? { low: interval.low, high: interval.high } : {}),
    seeds: losses.length,
  };
}

/** Each seed's curve of a variant: its final loss at every size it finished. */
function seedCurves(groups: SizedGroup[], variant: string): Map<number, CurvePoint[]> {
  const bySeed = new Map<number, CurvePoint[]>();
  for (const g of groups.filter((x) => x.variant === variant))
    for (const run of g.runs)
      bySeed.set(run.seed, [...(bySeed.get(run.seed) ?? []), { parameters: run.nonEmbedding, loss: run.finalValLoss }]);
  return bySeed;
}

/** Params-to-target of `variant` at one baseline size (none past the baseline's first turn). */
function scalingTarget(
  variant: string,
  g: SizedGroup,
  curve: Map<number, CurvePoint[]>,
  firstTurn: number,
  level: number,
): ScalingTarget {
  const losses = new Map(g.runs.map((run) => [run.seed, run.finalValLoss]));
  const paired = g.runs.filter((run) => curve.has(run.seed)).map((run) => run.finalValLoss);
  const baselineParameters = g.runs[0].nonEmbedding;
  const target = paired.reduce((a, b) => a + b, 0) / paired.length;
  if (baselineParameters >= firstTurn)
    return {
      variant,
      size: g.size,
      baselineParameters,
      target,
      pastTurn: true,
      reached: 0,
      seeds: 0,
      belowAtSmallest: 0,
    };
  return {
    variant,
    size: g.size,
    baselineParameters,
    target,
    ...paramsToTarget(baselineParameters, losses, curve, level),
  };
}
