import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parametersAt, paramsToTarget, type CurvePoint } from '../src/report/scaling.js';

/**
 * Params-to-target against values worked by hand: interpolation in log-parameters, "not reached"
 * outside the sizes run, and the Student-t interval of the mean log fraction.
 */
const close = (a: number | undefined, b: number, tolerance = 1e-9) =>
  assert.ok(a !== undefined && Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

describe('params-to-target', () => {
  // sizes 1e5, 1e6, 1e7 parameters: losses 3.0, 2.5, 2.0 (a straight line in log10 N: 0.5 per decade)
  const line: CurvePoint[] = [
    { parameters: 1e5, loss: 3.0 },
    { parameters: 1e6, loss: 2.5 },
    { parameters: 1e7, loss: 2.0 },
  ];

  it('interpolates in log-parameters: loss 2.75 is halfway between 1e5 and 1e6 in logs, 10^5.5', () => {
    close(parametersAt(line, 2.75), 10 ** 5.5, 1e-12);
    close(parametersAt(line, 2.5), 1e6, 1e-12);
    close(parametersAt(line, 2.1), 10 ** 6.8, 1e-12); // 0.4 of a nat below 2.5 at 0.5 per decade: 0.8 decade
  });

  it('outside the sizes run there is no number', () => {
    assert.equal(parametersAt(line, 3.2), undefined); // already better at the smallest size
    assert.equal(parametersAt(line, 1.9), undefined); // not reached at the largest
  });

  it('three seeds: the fraction is exp(mean log f), the interval the t interval of log f', () => {
    // baseline at 1e6 parameters; per seed its loss there is the target
    const baseline = new Map([
      [1, 2.5],
      [2, 2.55],
      [3, 2.45],
    ]);
    // the variant's curves: seed k is the line shifted down by 0.25 + 0.05 (k − 2) nats
    const shifted = (by: number) => line.map((p) => ({ parameters: p.parameters, loss: p.loss - by }));
    const variant = new Map([
      [1, shifted(0.2)],
      [2, shifted(0.25)],
      [3, shifted(0.3)],
    ]);
    // by hand: seed 1 reaches 2.5 at loss 2.7 on the unshifted line: 0.6 decade above 1e5 → 10^5.6 → f = 10^-0.4
    // seed 2 reaches 2.55 at 2.8 unshifted → 10^5.4 → f = 10^-0.6; seed 3 reaches 2.45 at 2.75 → 10^5.5 → f = 10^-0.5
    const logs = [-0.4, -0.6, -0.5].map((decades) => decades * Math.LN10);
    const mean = (logs[0] + logs[1] + logs[2]) / 3; // = −0.5 ln 10
    const sd = Math.sqrt(logs.reduce((s, x) => s + (x - mean) ** 2, 0) / 2); // = 0.1 ln 10
    const half = 4.302652729911275 * (sd / Math.sqrt(3)); // t(0.975, 2), published
    const result = paramsToTarget(1e6, baseline, variant);
    close(result.fraction, 10 ** -0.5, 1e-9);
    close(result.low, Math.exp(mean - half), 1e-9);
    close(result.high, Math.exp(mean + half), 1e-9);
    assert.equal(result.reached, 3);
    assert.equal(result.seeds, 3);
  });

  it('a seed outside the range: the estimate from those that reached it, and no interval', () => {
    const baseline = new Map([
      [1, 2.5],
      [2, 1.5],
    ]);
    const variant = new Map([
      [1, line],
      [2, line],
    ]);
    const result = paramsToTarget(1e6, baseline, variant);
    close(result.fraction, 1, 1e-12);
    assert.equal(result.low, undefined);
    assert.equal(result.reached, 1);
    assert.equal(result.seeds, 2);
    assert.deepEqual(paramsToTarget(1e6, new Map([[1, 1.0]]), new Map([[1, line]])), { reached: 0, seeds: 1 });
  });
});
