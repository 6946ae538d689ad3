import jstat from 'jstat';

const { jStat } = jstat; // a CommonJS module: no named exports

/**
 * The statistics of a comparison. Runs of two variants with the same seed share the data order and
 * the initial values of their shared parameters, so the natural unit is the per-seed difference
 * Δ_s = variant_s − baseline_s; its mean gets a Student t interval with n − 1 degrees of freedom.
 * The unpaired (Welch) interval is given beside it, for readers used to that view and for runs
 * whose partner seed is missing.
 */
export interface Spread {
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 for a single value. */
  std: number;
  n: number;
}

export function spread(values: number[]): Spread {
  const n = values.length;
  const mean = n ? values.reduce((a, b) => a + b, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/** The p-quantile of Student's t with `df` degrees of freedom (df may be fractional, as Welch's is). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0)) throw new RangeError(`t quantile: p = ${p}, df = ${df}`);
  return jStat.studentt.inv(p, df);
}

/** A two-sided confidence interval for a mean difference. */
export interface Interval {
  /** The estimate: mean Δ. */
  mean: number;
  standardError: number;
  /** Degrees of freedom of the t distribution used. */
  df: number;
  /** The t critical value, t_{1−α/2, df}. */
  critical: number;
  low: number;
  high: number;
  /** Seeds (pairs) for the paired interval; runs of the variant + runs of the baseline for Welch. */
  n: number;
  level: number;
}

function interval(mean: number, standardError: number, df: number, n: number, level: number): Interval {
  const critical = tQuantile(1 - (1 - level) / 2, df);
  // a zero standard error (identical differences) gives a degenerate interval, not NaN
  const half = standardError === 0 ? 0 : critical * standardError;
  return { mean, standardError, df, critical, low: mean - half, high: mean + half, n, level };
}

/** Paired interval from per-seed differences; undefined below two pairs (no spread to measure). */
export function pairedInterval(differences: number[], level = 0.95): Interval | undefined {
  const { mean, std, n } = spread(differences);
  if (n < 2) return undefined;
  return interval(mean, std / Math.sqrt(n), n - 1, n, level);
}

/**
 * Welch's unpaired interval for mean(a) − mean(b), with the Welch–Satterthwaite degrees of freedom
 * (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a−1) + (s_b²/n_b)²/(n_b−1)).
 */
export function welchInterval(a: number[], b: number[], level = 0.95): Interval | undefined {
  const x = spread(a);
  const y = spread(b);
  if (x.n < 2 || y.n < 2) return undefined;
  const va = x.std ** 2 / x.n;
  const vb = y.std ** 2 / y.n;
  const standardError = Math.sqrt(va + vb);
  const df = va + vb === 0 ? x.n + y.n - 2 : (va + vb) ** 2 / (va ** 2 / (x.n - 1) + vb ** 2 / (y.n - 1));
  return interval(x.mean - y.mean, standardError, df, x.n + y.n, level);
}

/**
 * For a loss lower is better: an interval entirely below zero says better, entirely above says
 * worse. For an accuracy (`higher`) the other way round.
 */
export type Verdict = 'better' | 'worse' | 'no difference detectable' | 'undetermined';

export function verdictOf(difference: Interval | undefined, better: 'lower' | 'higher' = 'lower'): Verdict {
  if (!difference) return 'undetermined';
  const [below, above]: Verdict[] = better === 'lower' ? ['better', 'worse'] : ['worse', 'better'];
  if (difference.high < 0) return below;
  if (difference.low > 0) return above;
  return 'no difference detectable';
}
