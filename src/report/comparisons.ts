import { gapCurve, type GapPoint, meanCurve, tokensToReach, zeroCrossings } from './gap.js';
import type { GroupSummary } from './groups.js';
import type { RunSummary } from './runs.js';
import { type Interval, pairedInterval, spread, type Verdict, verdictOf, welchInterval } from './stats.js';

/**
 * The report's third stage: each variant against the baseline, as pure functions of their groups —
 * paired differences per seed with their intervals, the gap over training, tokens to the baseline's
 * final loss, and the same for every probe task.
 */
/** Variant − baseline on one measure: per-seed differences, the paired and the unpaired interval. */
export interface Difference {
  seeds: number[];
  deltas: number[];
  paired?: Interval;
  unpaired?: Interval;
  verdict: Verdict;
}

export interface VariantComparison {
  variant: string;
  /** The settings compared: each side's best. */
  setting: string;
  baselineSetting: string;
  parameterRatio: number;
  final: Difference;
  best: Difference;
  gap: GapPoint[];
  /** Tokens at which the mean gap changes sign. */
  gapCrossings: number[];
  /** Tokens the variant needs to reach the baseline's final loss (mean curves over the paired seeds). */
  tokensToTarget: {
    target: number;
    baselineTokens: number;
    tokens?: number;
    fraction?: number;
    atFirstEvaluation?: boolean;
  };
  /** Per probe task: accuracy (higher is better), answer loss, and the attention mass on the answer needle. */
  tasks: Record<
    string,
    { accuracy: Difference; answerLoss: Difference; answerMass: Difference; noiseMass: Difference }
  >;
  sentence: string;
  warnings: string[];
}

/** A comparison's numbers, before its sentence and warnings are written (src/report/prose.ts). */
export type ComparisonNumbers = Omit<VariantComparison, 'sentence' | 'warnings'>;

/** Per-seed differences on one measure, over the seeds both groups finished (runs without the measure left out). */
export function difference(
  variant: GroupSummary,
  baseline: GroupSummary,
  pick: (run: RunSummary) => number | undefined,
  better: 'lower' | 'higher' = 'lower',
): Difference {
  const measured = (runs: RunSummary[]) => runs.filter((run) => pick(run) !== undefined);
  const pairs = measured(variant.runs).flatMap((run) => {
    const partner = measured(baseline.runs).find((b) => b.seed === run.seed);
    return partner ? [{ seed: run.seed, delta: pick(run)! - pick(partner)! }] : [];
  });
  const paired = pairedInterval(pairs.map((p) => p.delta));
  return {
    seeds: pairs.map((p) => p.seed),
    deltas: pairs.map((p) => p.delta),
    paired,
    unpaired: welchInterval(
      measured(variant.runs).map((run) => pick(run)!),
      measured(baseline.runs).map((run) => pick(run)!),
    ),
    verdict: verdictOf(paired, better),
  };
}

function compareTasks(variant: GroupSummary, baseline: GroupSummary): VariantComparison['tasks'] {
  const names = Object.keys(variant.tasks).filter((name) => name in baseline.tasks);
  return Object.fromEntries(
    names.map((name) => [
      name,
      {
        accuracy: difference(variant, baseline, (run) => run.tasks[name]?.accuracy, 'higher'),
        answerLoss: difference(variant, baseline, (run) => run.tasks[name]?.answerLoss),
        answerMass: difference(variant, baseline, (run) => run.tasks[name]?.answerMass, 'higher'),
        noiseMass: difference(variant, baseline, (run) => run.tasks[name]?.noiseMass),
      },
    ]),
  );
}

/** A variant's group against the baseline's: every number of the comparison. */
export function compareWithBaseline(variant: GroupSummary, baseline: GroupSummary): ComparisonNumbers {
  const final = difference(variant, baseline, (run) => run.finalValLoss);
  const best = difference(variant, baseline, (run) => run.bestValLoss);
  const pairedSeeds = final.seeds;
  const curvesOf = (group: GroupSummary) =>
    pairedSeeds.map((seed) => group.runs.find((run) => run.seed === seed)!.curve);
  const gap = gapCurve(
    pairedSeeds.map((seed) => ({
      variant: variant.runs.find((r) => r.seed === seed)!.curve,
      baseline: baseline.runs.find((r) => r.seed === seed)!.curve,
    })),
  );
  const baselineRuns = baseline.runs.filter((run) => pairedSeeds.includes(run.seed));
  const target = spread(baselineRuns.map((run) => run.finalValLoss)).mean;
  const baselineTokens = spread(baselineRuns.map((run) => run.curve.at(-1)!.tokens)).mean;
  const reached = pairedSeeds.length ? tokensToReach(meanCurve(curvesOf(variant)), target) : undefined;
  return {
    variant: variant.variant,
    setting: variant.setting,
    baselineSetting: baseline.setting,
    parameterRatio: variant.parameterRatio,
    final,
    best,
    tasks: compareTasks(variant, baseline),
    gap,
    gapCrossings: zeroCrossings(gap),
    tokensToTarget: reached
      ? {
          target,
          baselineTokens,
          tokens: reached.tokens,
          fraction: reached.tokens / baselineTokens,
          atFirstEvaluation: reached.atFirstEvaluation,
        }
      : { target, baselineTokens },
  };
}
