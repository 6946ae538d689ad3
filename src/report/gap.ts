import { pairedInterval, spread } from './stats.js';

/**
 * The gap over training: Δ = variant − baseline validation loss at every evaluation step, paired by
 * seed, and the tokens a variant needs to reach the baseline's final loss — the paper's headline
 * form ("the same loss with ~64% of the tokens").
 */
export interface CurvePoint {
  step: number;
  tokens: number;
  valLoss: number;
}

export interface GapPoint {
  step: number;
  /** Tokens the baseline had seen at this step. */
  tokens: number;
  /** Seeds with an evaluation of both runs at this step. */
  n: number;
  mean: number;
  /** 95% paired t interval; absent below two seeds. */
  low?: number;
  high?: number;
}

/** One seed's pair of validation curves. */
export interface CurvePair {
  variant: CurvePoint[];
  baseline: CurvePoint[];
}

export function gapCurve(pairs: CurvePair[], level = 0.95): GapPoint[] {
  const byStep = new Map<number, { tokens: number; deltas: number[] }>();
  for (const { variant, baseline } of pairs) {
    const variantAt = new Map(variant.map((point) => [point.step, point.valLoss]));
    for (const point of baseline) {
      const other = variantAt.get(point.step);
      if (other === undefined) continue;
      const entry = byStep.get(point.step) ?? { tokens: point.tokens, deltas: [] };
      entry.deltas.push(other - point.valLoss);
      byStep.set(point.step, entry);
    }
  }
  return [...byStep.entries()]
    .sort(([a], [b]) => a - b)
    .map(([step, { tokens, deltas }]) => {
      const band = pairedInterval(deltas, level);
      const point: GapPoint = { step, tokens, n: deltas.length, mean: spread(deltas).mean };
      if (band) Object.assign(point, { low: band.low, high: band.high });
      return point;
    });
}

/** Tokens at which the mean gap changes sign, linearly interpolated between evaluations. */
export function zeroCrossings(gap: GapPoint[]): number[] {
  const crossings: number[] = [];
  for (let i = 1; i < gap.length; i++) {
    const [a, b] = [gap[i - 1], gap[i]];
    if ((a.mean < 0 && b.mean >= 0) || (a.mean > 0 && b.mean <= 0))
      crossings.push(a.tokens + (a.mean / (a.mean - b.mean)) * (b.tokens - a.tokens));
  }
  return crossings;
}

/** The mean of several seeds' curves at the steps all of them evaluated. */
export function meanCurve(curves: CurvePoint[][]): CurvePoint[] {
  if (curves.length === 0) return [];
  const steps = curves[0]
    .map((point) => point.step)
    .filter((step) => curves.every((curve) => curve.some((point) => point.step === step)));
  return steps.map((step) => {
    const points = curves.map((curve) => curve.find((point) => point.step === step)!);
    return {
      step,
      tokens: spread(points.map((p) => p.tokens)).mean,
      valLoss: spread(points.map((p) => p.valLoss)).mean,
    };
  });
}

/**
 * The first point where `curve` reaches `target` (loss ≤ target), interpolated linearly in tokens
 * between the evaluation before and the one that reached it. Undefined when it never does; when the
 * first evaluation already does, its tokens (an upper bound: nothing was measured before it).
 */
export function tokensToReach(
  curve: CurvePoint[],
  target: number,
): { tokens: number; step: number; atFirstEvaluation: boolean } | undefined {
  const index = curve.findIndex((point) => point.valLoss <= target);
  if (index < 0) return undefined;
  const reached = curve[index];
  if (index === 0) return { tokens: reached.tokens, step: reached.step, atFirstEvaluation: true };
  const before = curve[index - 1];
  const fraction = (before.valLoss - target) / (before.valLoss - reached.valLoss);
  return {
    tokens: before.tokens + fraction * (reached.tokens - before.tokens),
    step: before.step + fraction * (reached.step - before.step),
    atFirstEvaluation: false,
  };
}
