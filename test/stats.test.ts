import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gapCurve, meanCurve, tokensToReach, zeroCrossings } from '../src/report/gap.js';
import { pairedInterval, spread, tQuantile, verdictOf, welchInterval } from '../src/report/stats.js';

/** Two-sided 95% critical values t_{0.975, df}, df = 1..30, as printed in standard statistical tables. */
const PUBLISHED_T_975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/**
 * P(T ≤ q) for Student's t with ν degrees of freedom, by Simpson's rule on the density written from
 * its formula, f(x) ∝ (1 + x²/ν)^(−(ν+1)/2), normalised numerically over the whole line (x = tan θ).
 * A second formulation, independent of the library behind tQuantile.
 */
function tCdfByIntegration(q: number, nu: number): number {
  const density = (x: number) => (1 + (x * x) / nu) ** (-(nu + 1) / 2);
  const simpson = (f: (t: number) => number, a: number, b: number, n = 20000) => {
    const h = (b - a) / n;
    let sum = f(a) + f(b);
    for (let i = 1; i < n; i++) sum += f(a + i * h) * (i % 2 ? 4 : 2);
    return (sum * h) / 3;
  };
  const halfLine = simpson((theta) => density(Math.tan(theta)) / Math.cos(theta) ** 2, 0, Math.PI / 2 - 1e-9);
  return 0.5 + simpson(density, 0, q) / (2 * halfLine);
}

describe('statistics', () => {
  it('t quantiles match published tables for df = 1..30 to 3 decimals', () => {
    PUBLISHED_T_975.forEach((published, i) => {
      const df = i + 1;
      assert.equal(Number(tQuantile(0.975, df).toFixed(3)), published, `df ${df}`);
    });
    // and the other tail, by symmetry
    assert.ok(Math.abs(tQuantile(0.025, 3) + 3.182) < 5e-4);
  });

  it('t quantiles at fractional degrees of freedom (Welch) agree with a numerically integrated density', () => {
    for (const [p, df] of [
      [0.975, 4.07547],
      [0.975, 1.5],
      [0.95, 7.3],
    ]) {
      const q = tQuantile(p, df);
      assert.ok(Math.abs(tCdfByIntegration(q, df) - p) < 1e-6, `df ${df}: P(T ≤ ${q}) = ${tCdfByIntegration(q, df)}`);
    }
  });

  it('paired interval: a worked example by hand', () => {
    // Δ = −0.03, −0.05, −0.04: mean −0.04, deviations +0.01, −0.01, 0, s² = 0.0002/2 = 1e-4, s = 0.01,
    // SE = 0.01/√3 = 0.0057735, t(2) = 4.3027, half width 0.024842: [−0.064842, −0.015158] → better
    const interval = pairedInterval([-0.03, -0.05, -0.04])!;
    assert.ok(Math.abs(interval.mean + 0.04) < 1e-12);
    assert.ok(Math.abs(interval.standardError - 0.0057735) < 1e-7);
    assert.equal(interval.df, 2);
    assert.ok(
      Math.abs(interval.low + 0.064842) < 1e-5 && Math.abs(interval.high + 0.015158) < 1e-5,
      `${interval.low} ${interval.high}`,
    );
    assert.equal(verdictOf(interval), 'better');
    // the same differences, shifted to straddle zero: no difference; shifted above: worse
    assert.equal(verdictOf(pairedInterval([0.01, -0.01, 0])), 'no difference detectable');
    assert.equal(verdictOf(pairedInterval([0.05, 0.03, 0.04])), 'worse');
    assert.equal(pairedInterval([0.1]), undefined, 'one seed: no spread, no interval');
    assert.equal(verdictOf(undefined), 'undetermined');
  });

  it('Welch interval: a worked example by hand', () => {
    // a = 1,2,3: mean 2, s² = 1; b = 1,3,5,7: mean 4, s² = 20/3. s²/n: 1/3 and 5/3, SE = √2.
    // df = 2² / ((1/3)²/2 + (5/3)²/3) = 4 / (1/18 + 25/27) = 4 / (53/54) = 216/53 = 4.07547
    const interval = welchInterval([1, 2, 3], [1, 3, 5, 7])!;
    assert.equal(interval.mean, -2);
    assert.ok(Math.abs(interval.standardError - Math.SQRT2) < 1e-12);
    assert.ok(Math.abs(interval.df - 216 / 53) < 1e-12);
    // its critical value lies between the published t(4) = 2.776 and t(5) = 2.571, near t(4)
    assert.ok(interval.critical < 2.776 && interval.critical > 2.571);
    assert.ok(Math.abs(interval.high - interval.low - 2 * interval.critical * Math.SQRT2) < 1e-12);
  });

  it('spread uses the sample standard deviation', () => {
    const { mean, std, n } = spread([2, 4, 4, 4, 5, 5, 7, 9]);
    // Σ(x − 5)² = 32, s² = 32/7
    assert.equal(mean, 5);
    assert.ok(Math.abs(std - Math.sqrt(32 / 7)) < 1e-12);
    assert.equal(n, 8);
  });
});

describe('the gap over training', () => {
  const curve = (points: [number, number][]) =>
    points.map(([step, valLoss]) => ({ step, tokens: step * 100, valLoss }));

  it('pairs seeds by step and gives each step its mean gap and interval', () => {
    const gap = gapCurve([
      {
        variant: curve([
          [10, 3.0],
          [20, 2.5],
        ]),
        baseline: curve([
          [10, 2.9],
          [20, 2.6],
        ]),
      },
      {
        variant: curve([
          [10, 3.1],
          [20, 2.4],
        ]),
        baseline: curve([
          [10, 2.9],
          [20, 2.6],
        ]),
      },
      {
        variant: curve([[10, 3.0]]),
        baseline: curve([
          [10, 3.0],
          [20, 2.7],
        ]),
      }, // stopped early: no step 20
    ]);
    assert.deepEqual(
      gap.map((p) => [p.step, p.tokens, p.n]),
      [
        [10, 1000, 3],
        [20, 2000, 2],
      ],
    );
    // step 10: Δ = 0.1, 0.2, 0.0 → mean 0.1; step 20: Δ = −0.1, −0.2 → mean −0.15
    assert.ok(Math.abs(gap[0].mean - 0.1) < 1e-12 && Math.abs(gap[1].mean + 0.15) < 1e-12);
    // step 20: s = 0.0707107, SE = 0.05, t(1) = 12.7062: half width 0.63531
    assert.ok(Math.abs(gap[1].high! - gap[1].low! - 2 * 12.7062 * 0.05) < 1e-3);
  });

  it('finds where the mean gap crosses zero, interpolated', () => {
    const at = (tokens: number, mean: number) => ({ step: tokens, tokens, n: 3, mean });
    // +0.1 at 1000, −0.3 at 2000: zero a quarter of the way, at 1250; back above zero between 3000 and 4000 at 3500
    assert.deepEqual(zeroCrossings([at(1000, 0.1), at(2000, -0.3), at(3000, -0.1), at(4000, 0.1)]), [1250, 3500]);
    assert.deepEqual(zeroCrossings([at(1000, 0.1), at(2000, 0.05)]), []);
  });

  it('tokens to reach a target loss, interpolated between evaluations', () => {
    // 3.0 at 1000, 2.6 at 2000, 2.2 at 3000: 2.5 is reached a quarter of the way from 2000 to 3000
    const points = curve([
      [10, 3.0],
      [20, 2.6],
      [30, 2.2],
    ]);
    const reached = tokensToReach(points, 2.5)!;
    assert.ok(
      Math.abs(reached.tokens - 2250) < 1e-9 && Math.abs(reached.step - 22.5) < 1e-9 && !reached.atFirstEvaluation,
      JSON.stringify(reached),
    );
    assert.deepEqual(tokensToReach(points, 3.5), { tokens: 1000, step: 10, atFirstEvaluation: true });
    assert.equal(tokensToReach(points, 2.0), undefined);
  });

  it('averages curves at the steps every seed evaluated', () => {
    const mean = meanCurve([
      curve([
        [10, 3.0],
        [20, 2.0],
      ]),
      curve([
        [10, 2.0],
        [20, 1.0],
        [30, 0.5],
      ]),
    ]);
    assert.deepEqual(mean, [
      { step: 10, tokens: 1000, valLoss: 2.5 },
      { step: 20, tokens: 2000, valLoss: 1.5 },
    ]);
  });
});
