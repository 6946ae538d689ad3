import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadExperiment } from '../src/compare/experiment.js';
import type { RunConfig } from '../src/config/schema.js';
import { writeReport } from '../src/report/report.js';
import { parametersAt, paramsToTarget, type CurvePoint } from '../src/report/scaling.js';
import { REPO_ROOT } from './helpers/cli.js';
import { handMadeComparison } from './helpers/hand-made.js';

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
    assert.equal(result.belowAtSmallest, 0); // seed 2's target 1.5 is below the whole curve: above it at the largest
    assert.deepEqual(paramsToTarget(1e6, new Map([[1, 1.0]]), new Map([[1, line]])), {
      reached: 0,
      seeds: 1,
      belowAtSmallest: 0,
    });
    assert.equal(paramsToTarget(1e6, new Map([[1, 3.5]]), new Map([[1, line]])).belowAtSmallest, 1);
  });
});

/** Non-embedding parameters of a tied multi-head model, by hand: per layer two norms, attention, SwiGLU; a final norm. */
function nonEmbeddingByHand(config: RunConfig): number {
  const { width: D, heads: H, layers: L, attention } = config.model;
  const F =
    config.model.ffnHidden || Math.ceil(Math.ceil((8 * D) / 3) / config.model.ffnMultiple) * config.model.ffnMultiple;
  const d = D / H;
  const attentionParams = { standard: 4 * D * D, diff: 4 * D * D + 4 * d + 2 * d, diff2: 5 * D * D + D * H }[attention];
  return L * (2 * D + attentionParams + 3 * D * F) + D;
}

/** Two variants × three sizes × three seeds of hand-made runs whose final loss is `loss(variant, size, seed)`. */
function handMadeScaling(loss: (variant: string, size: number, seed: number) => number) {
  const sizes = ['w32', 'w64', 'w128'];
  const { out, experiment } = handMadeComparison(
    [
      'name: scaling-test',
      'variants:',
      '  - { name: standard, set: { model.attention: standard } }',
      '  - { name: diff, set: { model.attention: diff } }',
      'sizes:',
      '  - { name: w32, set: { model.width: 32 } }',
      '  - { name: w64, set: { model.width: 64 } }',
      '  - { name: w128, set: { model.width: 128 } }',
      'seeds: [1, 2, 3]',
    ],
    (run) => ({ loss: loss(run.variant, sizes.indexOf(run.size!), run.seed) }),
  );
  const parameters = (variant: string, size: number) =>
    nonEmbeddingByHand(
      experiment.runConfig(experiment.runs.find((r) => r.variant === variant && r.size === sizes[size])!),
    );
  return { out, parameters };
}

describe('params-to-target in the report, from hand-made metrics.jsonl', () => {
  // standard: 3.4, 3.0, 2.6 at the three sizes, shifted per seed by 0, +0.05, −0.05.
  // diff: 0.2 below, shifted per seed by the same and a further 0, +0.1, −0.1.
  const seedShift = [0, 0.05, -0.05];
  const diffShift = [0, 0.1, -0.1];
  const loss = (variant: string, size: number, seed: number) =>
    [3.4, 3.0, 2.6][size] + seedShift[seed - 1] - (variant === 'diff' ? 0.2 - diffShift[seed - 1] : 0);

  it('matches the fractions and intervals worked by hand, and says "not reached" below the smallest size', async () => {
    const { out, parameters } = handMadeScaling(loss);
    const { summary } = await writeReport(out);
    const scaling = summary.scaling!;
    const target = (size: string) => scaling.targets.find((t) => t.variant === 'diff' && t.size === size)!;

    // standard's smallest size (3.4): every diff seed is already below it at its smallest size
    assert.equal(target('w32').fraction, undefined);
    assert.equal(target('w32').reached, 0);
    assert.equal(target('w32').belowAtSmallest, 3);

    // standard at w64, seed s aims at 3.0 + shift_s; diff's seed s curve passes it between its w32 and
    // w64 points at shares 0.5, 0.75, 0.25 (seed 1: 3.2 → 2.8 through 3.0; seed 2: 3.35 → 2.95 through
    // 3.05; seed 3: 3.05 → 2.65 through 2.95), so log N* = log N₃₂ + share·(log N₆₄ − log N₃₂)
    for (const [size, lower, upper] of [
      ['w64', 0, 1],
      ['w128', 1, 2],
    ] as const) {
      const [a, b] = [Math.log(parameters('diff', lower)), Math.log(parameters('diff', upper))];
      const baselineLog = Math.log(parameters('standard', upper));
      const logs = [0.5, 0.75, 0.25].map((share) => a + share * (b - a) - baselineLog);
      const mean = a + 0.5 * (b - a) - baselineLog; // the shares average to one half
      const sd = 0.25 * (b - a); // deviations ±0.25·(b − a) and 0: sqrt((2·0.0625)/2)
      const half = (4.302652729911275 * sd) / Math.sqrt(3);
      assert.ok(Math.abs(logs.reduce((x, y) => x + y) / 3 - mean) < 1e-12);
      const t = target(size);
      close(t.fraction, Math.exp(mean), 1e-9);
      close(t.low, Math.exp(mean - half), 1e-9);
      close(t.high, Math.exp(mean + half), 1e-9);
      assert.equal(t.reached, 3);
      assert.equal(t.baselineParameters, parameters('standard', upper));
    }

    // the points: standard at w64 is 3.0, 3.05, 2.95 → mean 3.0, sd 0.05, 95% t half-width t(2)·0.05/√3
    const point = scaling.points.find((p) => p.variant === 'standard' && p.size === 'w64')!;
    close(point.mean, 3.0, 1e-12);
    close(point.high, 3.0 + (4.302652729911275 * 0.05) / Math.sqrt(3), 1e-9);
    assert.equal(point.nonEmbedding, parameters('standard', 1));

    // the verdict is given at the largest size
    assert.equal(summary.comparedSize, 'w128');
    assert.match(summary.comparisons[0].sentence, /at size w128/);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(report, /## Scaling/);
    assert.match(report, /not reached within the sizes run: already below it at the smallest size/);
    assert.ok(existsSync(join(out, 'loss-vs-params.png')));
  });
});

describe('a curve that turns up with size', () => {
  it('is named in a warning, and the baseline sizes past its turn get no params-to-target', async () => {
    // w128 is worse than w64 for both: undertrained at this budget
    const loss = (variant: string, size: number, seed: number) =>
      [3.4, 3.0, 3.1][size] + 0.01 * seed - (variant === 'diff' ? 0.2 : 0);
    const { out } = handMadeScaling(loss);
    const { summary } = await writeReport(out);
    const scaling = summary.scaling!;
    assert.equal(scaling.warnings.length, 2);
    assert.match(scaling.warnings[0], /^standard's final loss does not fall from w64 to w128 \(3\.0200 → 3\.1200\)/);
    assert.match(scaling.warnings[1], /^diff's final loss does not fall from w64 to w128/);
    const target = (size: string) => scaling.targets.find((t) => t.size === size)!;
    assert.equal(target('w128').pastTurn, true);
    assert.equal(target('w128').fraction, undefined);
    assert.equal(target('w64').pastTurn, undefined);
    assert.ok(target('w64').fraction! < 1, 'below the turn the fraction is given');
    assert.ok(summary.warnings.includes(scaling.warnings[0]), 'the report lists it with the other warnings');
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /none: w128 is past the turn of the baseline's curve/);
  });
});

describe('sizes in an experiment file', () => {
  const experimentWith = (lines: string[]) => {
    const file = join(mkdtempSync(join(tmpdir(), 'difft-sizes-')), 'e.yaml');
    writeFileSync(
      file,
      [
        'name: sizes',
        `base: ${join(REPO_ROOT, 'configs/tiny.yaml')}`,
        'match: params',
        'variants:',
        '  - { name: standard, set: { model.attention: standard } }',
        '  - { name: diff2, set: { model.attention: diff2 } }',
        'seeds: [1]',
        ...lines,
      ].join('\n'),
    );
    return file;
  };

  it('expands variant × size, names runs by size, and matches each variant at its own size', () => {
    const experiment = loadExperiment(
      experimentWith([
        'sizes:',
        '  - { name: s, set: { model.width: 32 } }',
        '  - { name: l, set: { model.width: 64, model.layers: 3 } }',
      ]),
    );
    assert.deepEqual(
      experiment.runs.map((run) => run.name),
      ['standard-s-seed1', 'diff2-s-seed1', 'standard-l-seed1', 'diff2-l-seed1'],
    );
    const config = (name: string) => experiment.runConfig(experiment.runs.find((run) => run.name === name)!);
    assert.equal(config('diff2-l-seed1').model.width, 64);
    assert.equal(config('diff2-l-seed1').model.layers, 3);
    const total = (name: string) => nonEmbeddingByHand(config(name)) + 256 * config(name).model.width;
    for (const size of ['s', 'l']) {
      const ratio = total(`diff2-${size}-seed1`) / total(`standard-${size}-seed1`);
      assert.ok(Math.abs(ratio - 1) <= 0.005, `size ${size}: diff2 / standard = ${ratio}`);
    }
    assert.notEqual(config('diff2-s-seed1').model.ffnHidden, config('diff2-l-seed1').model.ffnHidden);
  });

  it('refuses a size that sets a non-model key, a key a variant sets, or a name used twice', () => {
    assert.throws(
      () => loadExperiment(experimentWith(['sizes:', '  - { name: s, set: { train.lr: 0.01 } }'])),
      /size s sets train\.lr: a size sets model keys only/,
    );
    assert.throws(
      () => loadExperiment(experimentWith(['sizes:', '  - { name: s, set: { model.attention: diff } }'])),
      /size s and variant standard both set model\.attention/,
    );
    assert.throws(
      () => loadExperiment(experimentWith(['sizes:', '  - { name: s }', '  - { name: s }'])),
      /size name s is used twice/,
    );
  });

  it('refuses two runs that would share a name (and so a directory), and names made of dots', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'difft-sizes-')), 'e.yaml');
    const write = (text: string) => {
      writeFileSync(file, text);
      return file;
    };
    const ambiguous = [
      'name: sizes',
      `base: ${join(REPO_ROOT, 'configs/tiny.yaml')}`,
      'variants:',
      '  - { name: a, set: { model.attention: standard } }',
      '  - { name: a-w1, set: { model.attention: diff } }',
      'sizes:',
      '  - { name: w1-x, set: { model.layers: 1 } }',
      '  - { name: x, set: { model.layers: 2 } }',
      'seeds: [1]',
    ].join('\n');
    assert.throws(
      () => loadExperiment(write(ambiguous)),
      /variant a, size w1-x, seed 1 and variant a-w1, size x, seed 1 would both be run a-w1-x-seed1/,
    );
    for (const name of ['.', '..'])
      assert.throws(
        () => loadExperiment(write(ambiguous.replace('name: sizes', `name: '${name}'`).replace('w1-x', 'y'))),
        new RegExp(`: name ${name.replaceAll('.', '\\.')} would name a directory above the runs`),
      );
  });
});
