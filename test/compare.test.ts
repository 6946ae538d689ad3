import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { loadExperiment } from '../src/compare/experiment.js';
import { runExperiment } from '../src/compare/run.js';
import { UserError } from '../src/errors.js';
import type { ComparisonSummary } from '../src/report/summary.js';
import { DIFFT_BIN, REPO_ROOT, difft } from './helpers/cli.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'difft-compare-'));

/** A copy of configs/compare-tiny.yaml whose data lives in `dataDir`. */
function tinyExperiment(dataDir: string): string {
  const dir = scratch();
  const file = join(dir, 'experiment.yaml');
  const text = readFileSync(join(REPO_ROOT, 'configs/compare-tiny.yaml'), 'utf8')
    .replace('base: tiny.yaml', `base: ${join(REPO_ROOT, 'configs/tiny.yaml')}`)
    .replace('config:\n', `config:\n  data.dir: ${dataDir}\n`);
  writeFileSync(file, text);
  return file;
}

/** mean and sample standard deviation, written independently of the report code */
function meanStd(values: number[]): [number, number] {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) * (v - mean), 0) / (values.length - 1);
  return [mean, Math.sqrt(variance)];
}

describe('difft compare', () => {
  const data = scratch();
  let sequentialOut = '';

  it('reports numbers equal to those recomputed from each run\'s metrics.jsonl', async () => {
    const out = join(scratch(), 'results');
    const result = await runExperiment(loadExperiment(tinyExperiment(data)), { out, jobs: 1 });
    assert.equal(result.interrupted, false);
    sequentialOut = out;
    const summary = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ComparisonSummary;
    const markdown = readFileSync(join(out, 'report.md'), 'utf8');
    for (const variant of ['standard', 'diff']) {
      const finals: number[] = [];
      const bests: number[] = [];
      const rates: number[] = [];
      for (const seed of [1, 2]) {
        const lines = readFileSync(join(out, `${variant}-seed${seed}`, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
        const evals = lines.filter((r) => r.type === 'eval');
        const lastTrain = lines.filter((r) => r.type === 'train').at(-1);
        finals.push(evals.at(-1).valLoss);
        bests.push(Math.min(...evals.map((r: { valLoss: number }) => r.valLoss)));
        rates.push(lastTrain.tokens / lastTrain.elapsedSeconds);
      }
      const reported = summary.groups.find((g) => g.variant === variant)!;
      const [finalMean, finalStd] = meanStd(finals);
      assert.ok(Math.abs(reported.finalValLoss.mean - finalMean) < 1e-12 && Math.abs(reported.finalValLoss.std - finalStd) < 1e-12);
      assert.ok(Math.abs(reported.bestValLoss.mean - meanStd(bests)[0]) < 1e-12);
      assert.ok(Math.abs(reported.tokensPerSecond.mean - meanStd(rates)[0]) < 1e-9);
      assert.ok(markdown.includes(`${finalMean.toFixed(4)} ± ${finalStd.toFixed(4)}`), `report.md shows ${variant}'s final loss`);
    }
    for (const plot of ['loss-vs-step', 'loss-vs-tokens', 'lambda']) {
      assert.ok(readFileSync(join(out, `${plot}.svg`), 'utf8').startsWith('<svg'));
      assert.deepEqual([...readFileSync(join(out, `${plot}.png`)).subarray(1, 4)], [...Buffer.from('PNG')]);
    }
    assert.match(markdown, /- diff: final validation loss [\d.]+ nats (lower|higher) than standard/);
    // variants with the same seed received identical batches: same data, same sampler position
    const state = (run: string) => readCheckpoint(join(out, run));
    assert.deepEqual(state('standard-seed1').state.sampler, state('diff-seed1').state.sampler);
    assert.equal(state('standard-seed1').config.dataset.key, state('diff-seed1').config.dataset.key);
    assert.notDeepEqual(state('standard-seed1').state.sampler, state('standard-seed2').state.sampler);
    // and the report can be written again from the directory alone
    const again = difft(['report', out]);
    assert.equal(again.status, 0, again.stderr);
  });

  it('--jobs 2 trains two runs at a time and gives the numbers of a sequential run', async () => {
    assert.ok(sequentialOut, 'the sequential experiment ran first');
    const out = join(scratch(), 'results');
    const result = await runExperiment(loadExperiment(tinyExperiment(data)), { out, jobs: 2 });
    assert.equal(result.jobs, 2);
    const losses = (dir: string, run: string) =>
      readFileSync(join(dir, run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line)).map((r) => (r.type === 'eval' ? r.valLoss : r.loss));
    for (const run of ['standard-seed1', 'diff-seed1', 'standard-seed2', 'diff-seed2']) assert.deepEqual(losses(out, run), losses(sequentialOut, run), run);
    const summary = (dir: string) => JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ComparisonSummary;
    const finals = (dir: string) => summary(dir).groups.map((g) => [g.variant, g.finalValLoss, g.bestValLoss]);
    assert.deepEqual(finals(out), finals(sequentialOut));
  });

  it('killed mid-way and re-run, it finishes without redoing completed runs', async () => {
    const experiment = tinyExperiment(data);
    const out = join(scratch(), 'results');
    const firstDone = join(out, 'standard-seed1', 'step-000006');
    const child = spawn(process.execPath, [DIFFT_BIN, 'compare', experiment, '--out', out, '--jobs', '1'], { cwd: REPO_ROOT, stdio: 'ignore' });
    await new Promise<void>((done) => {
      const timer = setInterval(() => {
        if (existsSync(firstDone) && existsSync(join(out, 'diff-seed1'))) child.kill('SIGKILL');
      }, 5);
      child.on('exit', () => {
        clearInterval(timer);
        done();
      });
    });
    assert.ok(existsSync(firstDone), 'the first run finished before the kill');
    assert.ok(!existsSync(join(out, 'report.md')), 'killed before the end');
    const metricsBefore = readFileSync(join(out, 'standard-seed1', 'metrics.jsonl'), 'utf8');
    const rerun = difft(['compare', experiment, '--out', out, '--jobs', '1']);
    assert.equal(rerun.status, 0, rerun.stderr);
    assert.match(rerun.stderr, /run 1\/4: standard, seed 1 \(finished before: skipped\)/);
    assert.equal(readFileSync(join(out, 'standard-seed1', 'metrics.jsonl'), 'utf8'), metricsBefore);
    assert.ok(existsSync(join(out, 'report.md')));
  });

  it('refuses a bad experiment file with a message naming the key', () => {
    const dir = scratch();
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `name: bad\nbase: ${join(REPO_ROOT, 'configs/tiny.yaml')}\nvariants:\n  - name: a\n    set: { model.atention: diff }\nseeds: [1]\n`);
    assert.throws(() => loadExperiment(file), (e: Error) => e instanceof UserError && /a: model\.atention: unknown config key/.test(e.message));
    writeFileSync(file, `name: bad\nvariants: [{ name: a }]\nseeds: [1]\nbaseline: b\n`);
    assert.throws(() => loadExperiment(file), /baseline b is not one of the variants: a/);
  });
});
