import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gradNormSpikes } from '../src/report/stability.js';
import { DivergenceWatch } from '../src/train/divergence.js';
import { difft, REPO_ROOT } from './helpers/cli.js';

/** Divergence: recorded, listed, left out of the statistics; the experiment goes on. */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-divergence-'));

describe('divergence in a comparison', () => {
  it('the rule: a non-finite loss or gradient, or a 10-step mean above the first loss + 1 nat', () => {
    const watch = new DivergenceWatch();
    assert.equal(watch.check(1, 5, 1), undefined); // the first loss: 5
    for (let step = 2; step <= 9; step++) assert.equal(watch.check(step, 6.5, 1), undefined); // 9 steps: not yet a window
    // window of 10: (5 + 9 × 6.5) / 10 = 6.35 > 6: diverged at step 10
    assert.equal(watch.check(10, 6.5, 1)?.step, 10);
    const calm = new DivergenceWatch();
    for (let step = 1; step <= 30; step++) assert.equal(calm.check(step, 5 + (step % 2) * 0.9, 1), undefined); // mean 5.45
    assert.match(new DivergenceWatch().check(3, Number.NaN, Number.NaN)?.reason ?? '', /^non-finite loss \(NaN/);
    // a finite loss with a NaN gradient is named for what it is
    assert.match(
      new DivergenceWatch().check(3, 4.2, Number.NaN)?.reason ?? '',
      /^non-finite gradient \(norm NaN; loss 4\.2\)/,
    );
  });

  it('a single run that blows up before its first checkpoint says it saved none (not that one exists)', () => {
    const out = join(scratch(), 'run');
    const args = ['--set', 'train.lr=1e30', '--set', 'train.warmupSteps=0', '--set', 'train.backend=wasm'];
    args.push('--set', `data.dir=${scratch()}`);
    const result = difft(['train', '--config', join(REPO_ROOT, 'configs/tiny.yaml'), '--out', out, ...args]);
    assert.equal(result.status, 2, result.stderr);
    assert.match(
      result.stderr,
      /non-finite loss \(\S+; gradient norm \S+\) at step \d: the run stopped; it had saved no checkpoint yet/,
    );
  });

  it('an absurd learning rate: the run ends diverged, compare exits 0, the report lists it, the others are unaffected', () => {
    const data = scratch();
    const experiment = (variants: string[]) => {
      const file = join(scratch(), 'experiment.yaml');
      writeFileSync(
        file,
        [
          'name: divergence-test',
          `base: ${join(REPO_ROOT, 'configs/tiny.yaml')}`,
          'config:',
          `  data.dir: ${data}`,
          '  train.steps: 30',
          '  eval.every: 10',
          '  train.backend: wasm',
          '  train.warmupSteps: 1',
          'variants:',
          ...variants,
          'seeds: [1]',
        ].join('\n'),
      );
      return file;
    };
    const calm = '  - { name: standard, set: { model.attention: standard } }';
    const wild =
      '  - { name: wild, set: { model.attention: diff, train.lr: 30.0, train.minLr: 30.0, train.clipNorm: 1000 } }';
    const both = join(scratch(), 'both');
    const run = difft(['compare', experiment([calm, wild]), '--out', both, '--jobs', '1']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /diverged at step \d+/);
    assert.match(run.stdout, /diverged, left out of the statistics \(1\): wild-seed1 at step \d+/);
    const report = readFileSync(join(both, 'report.md'), 'utf8');
    assert.match(report, /Diverged \(1\), left out of every statistic below: wild-seed1 at step \d+/);
    const diverged = JSON.parse(readFileSync(join(both, 'wild-seed1', 'diverged.json'), 'utf8'));
    assert.ok(diverged.step > 0 && diverged.step < 30);

    // the calm run's numbers are those of an experiment without the wild one
    const alone = join(scratch(), 'alone');
    assert.equal(difft(['compare', experiment([calm]), '--out', alone, '--jobs', '1']).status, 0);
    const metrics = (dir: string) => readFileSync(join(dir, 'standard-seed1', 'metrics.jsonl'), 'utf8').split('\n');
    const losses = (dir: string) =>
      metrics(dir)
        .filter(Boolean)
        .map((line) => JSON.parse(line).loss ?? JSON.parse(line).valLoss);
    assert.deepEqual(losses(both), losses(alone));

    // run again: the diverged run is skipped, not retrained
    const again = difft(['compare', experiment([calm, wild]), '--out', both, '--jobs', '1']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /wild, seed 1 \(diverged before: skipped\)/);
  });
});

describe('gradient-norm spikes', () => {
  it('a norm above 3× the median of the 20 before it, never in the first 5', () => {
    // worked by hand: five values of 1 (history), then 2.9 (below 3), 3.1 (a spike), 1, and 10 at once (a spike)
    assert.deepEqual(gradNormSpikes([1, 1, 1, 1, 1, 2.9, 3.1, 1, 10]), [6, 8]);
    assert.deepEqual(gradNormSpikes([50, 1, 1, 1, 1]), [], 'the first five are warm-up');
    // a new level: index i has 5 ones and i − 5 tens before it; the median stays 1 while the ones are
    // the majority (i ≤ 9) and is (1 + 10) / 2 = 5.5 at i = 10, 10 after: spikes at 5–9 only; then
    // the median forgets the 1s: 25 after twenty 10s is below 3 × 10
    const rising = [1, 1, 1, 1, 1, ...new Array(20).fill(10), 25];
    assert.deepEqual(gradNormSpikes(rising), [5, 6, 7, 8, 9]);
  });
});
