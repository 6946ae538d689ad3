import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { loadExperiment } from '../src/compare/experiment.js';
import { runExperiment } from '../src/compare/run.js';
import { UserError } from '../src/errors.js';
import type { RunConfig } from '../src/config/schema.js';
import { TokenDataset } from '../src/data/dataset.js';
import { evaluationSet } from '../src/data/eval-set.js';
import type { ComparisonSummary } from '../src/report/summary.js';
import { DIFFT_BIN, REPO_ROOT, difft } from './helpers/cli.js';
import { withoutTimes } from './helpers/outcomes.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'difft-compare-'));

/** A copy of configs/compare-tiny.yaml whose data lives in `dataDir`, with `extra` YAML appended. */
function tinyExperiment(dataDir: string, extra = ''): string {
  const dir = scratch();
  const file = join(dir, 'experiment.yaml');
  const text = readFileSync(join(REPO_ROOT, 'configs/compare-tiny.yaml'), 'utf8')
    .replace('base: tiny.yaml', `base: ${join(REPO_ROOT, 'configs/tiny.yaml')}`)
    .replace('config:\n', `config:\n  data.dir: ${dataDir}\n`);
  writeFileSync(file, text + extra);
  return file;
}

type Record = {
  type: string;
  step: number;
  tokens: number;
  valLoss: number;
  loss: number;
  elapsedSeconds: number;
  evalFingerprint: string;
};
const metricsOf = (runDir: string): Record[] =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record);
const evalsOf = (runDir: string) => metricsOf(runDir).filter((r) => r.type === 'eval');

/** Published two-sided 95% critical value of Student's t with 1 degree of freedom (two seeds). */
const T_975_DF1 = 12.7062;

/** mean and sample standard deviation, written independently of the report code */
function meanStd(values: number[]): [number, number] {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) * (v - mean), 0) / (values.length - 1);
  return [mean, Math.sqrt(variance)];
}

/** Tokens at which a curve of (tokens, loss) first reaches `target`, interpolated: written again for the test. */
function tokensAt(points: { tokens: number; loss: number }[], target: number): number | undefined {
  for (let i = 0; i < points.length; i++) {
    if (points[i].loss > target) continue;
    if (i === 0) return points[0].tokens;
    const [a, b] = [points[i - 1], points[i]];
    return a.tokens + ((b.tokens - a.tokens) * (a.loss - target)) / (a.loss - b.loss);
  }
  return undefined;
}

/** A Markdown report with the cells of its time columns ("train time s", "tokens/s") emptied. */
function withoutTimeColumns(markdown: string): string {
  let timeColumns: number[] = [];
  return markdown
    .split('\n')
    .map((line) => {
      if (!line.startsWith('|')) {
        timeColumns = [];
        return line;
      }
      const cells = line.split('|');
      const header = cells.map((cell) => cell.trim());
      if (header.includes('tokens/s')) timeColumns = [header.indexOf('train time s'), header.indexOf('tokens/s')];
      return cells.map((cell, i) => (timeColumns.includes(i) ? '' : cell)).join('|');
    })
    .join('\n');
}

const close = (a: number | undefined, b: number | undefined, tolerance: number, what: string) =>
  assert.ok(a !== undefined && b !== undefined && Math.abs(a - b) <= tolerance, `${what}: ${a} vs ${b}`);

describe('difft compare', () => {
  const data = scratch();
  let sequentialOut = '';

  it("reports numbers equal to those recomputed from each run's metrics.jsonl", async () => {
    const out = join(scratch(), 'results');
    const result = await runExperiment(loadExperiment(tinyExperiment(data)), { out, jobs: 1 });
    assert.equal(result.interrupted, false);
    sequentialOut = out;
    const summary = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ComparisonSummary;
    const markdown = readFileSync(join(out, 'report.md'), 'utf8');
    const finals: { [variant: string]: number[] } = {};
    for (const variant of ['standard', 'diff']) {
      const bests: number[] = [];
      const rates: number[] = [];
      finals[variant] = [];
      for (const seed of [1, 2]) {
        const lines = metricsOf(join(out, `${variant}-seed${seed}`));
        const evals = lines.filter((r) => r.type === 'eval');
        const lastTrain = lines.filter((r) => r.type === 'train').at(-1)!;
        finals[variant].push(evals.at(-1)!.valLoss);
        bests.push(Math.min(...evals.map((r) => r.valLoss)));
        rates.push(lastTrain.tokens / lastTrain.elapsedSeconds);
      }
      const reported = summary.groups.find((g) => g.variant === variant)!;
      const [finalMean, finalStd] = meanStd(finals[variant]);
      assert.ok(
        Math.abs(reported.finalValLoss.mean - finalMean) < 1e-12 &&
          Math.abs(reported.finalValLoss.std - finalStd) < 1e-12,
      );
      assert.ok(Math.abs(reported.bestValLoss.mean - meanStd(bests)[0]) < 1e-12);
      assert.ok(Math.abs(reported.tokensPerSecond.mean - meanStd(rates)[0]) < 1e-9);
      assert.ok(
        markdown.includes(`${finalMean.toFixed(4)} ± ${finalStd.toFixed(4)}`),
        `report.md shows ${variant}'s final loss`,
      );
    }

    // paired differences per seed, their mean, standard error and t interval (published t for df = 1)
    const comparison = summary.comparisons.find((c) => c.variant === 'diff')!;
    const deltas = finals.diff.map((loss, i) => loss - finals.standard[i]);
    const [meanDelta, sdDelta] = meanStd(deltas);
    const standardError = sdDelta / Math.SQRT2;
    const paired = comparison.final.paired!;
    assert.deepEqual(comparison.final.seeds, [1, 2]);
    close(paired.mean, meanDelta, 1e-12, 'mean Δ');
    close(paired.standardError, standardError, 1e-12, 'SE');
    close(paired.low, meanDelta - T_975_DF1 * standardError, 1e-4 * standardError + 1e-12, 'CI low');
    close(paired.high, meanDelta + T_975_DF1 * standardError, 1e-4 * standardError + 1e-12, 'CI high');
    const expected =
      meanDelta + T_975_DF1 * standardError < 0
        ? 'better'
        : meanDelta - T_975_DF1 * standardError > 0
          ? 'worse'
          : 'no difference detectable';
    assert.equal(comparison.final.verdict, expected);
    assert.ok(
      markdown.includes(`[${paired.low < 0 ? '−' : '+'}${Math.abs(paired.low).toFixed(4)}, `),
      'report.md shows the interval',
    );
    assert.match(markdown, /only 2 seed\(s\) finished by both diff and standard/, 'warned below 3 seeds');

    // the gap at every evaluation, and tokens to the baseline's final loss on the mean curves
    const curves = (variant: string) => [1, 2].map((seed) => evalsOf(join(out, `${variant}-seed${seed}`)));
    const [diffCurves, standardCurves] = [curves('diff'), curves('standard')];
    comparison.gap.forEach((point, i) => {
      close(
        point.mean,
        (diffCurves[0][i].valLoss -
          standardCurves[0][i].valLoss +
          diffCurves[1][i].valLoss -
          standardCurves[1][i].valLoss) /
          2,
        1e-12,
        `gap at ${point.step}`,
      );
      assert.equal(point.tokens, standardCurves[0][i].tokens);
    });
    const meanPoints = diffCurves[0].map((record, i) => ({
      tokens: record.tokens,
      loss: (record.valLoss + diffCurves[1][i].valLoss) / 2,
    }));
    const target = (finals.standard[0] + finals.standard[1]) / 2;
    const tokens = tokensAt(meanPoints, target);
    assert.equal(comparison.tokensToTarget.tokens === undefined, tokens === undefined, 'reached, or not, alike');
    if (tokens !== undefined)
      close(comparison.tokensToTarget.fraction, tokens / standardCurves[0].at(-1)!.tokens, 1e-12, 'tokens to target');

    for (const plot of ['loss-vs-step', 'loss-vs-tokens', 'gap-vs-tokens', 'lambda']) {
      assert.ok(readFileSync(join(out, `${plot}.svg`), 'utf8').startsWith('<svg'));
      assert.deepEqual([...readFileSync(join(out, `${plot}.png`)).subarray(1, 4)], [...Buffer.from('PNG')]);
    }
    // variants with the same seed received identical batches: same data, same sampler position
    const state = (run: string) => readCheckpoint(join(out, run));
    assert.deepEqual(state('standard-seed1').state.sampler, state('diff-seed1').state.sampler);
    assert.equal(state('standard-seed1').config.dataset.key, state('diff-seed1').config.dataset.key);
    assert.notDeepEqual(state('standard-seed1').state.sampler, state('standard-seed2').state.sampler);
    // and the report can be written again from the directory alone
    const again = difft(['report', out]);
    assert.equal(again.status, 0, again.stderr);
  });

  it('every run, whatever its seed or variant, is scored on byte-identical tokens', () => {
    assert.ok(sequentialOut, 'the sequential experiment ran first');
    const experiment = loadExperiment(tinyExperiment(data));
    const dataset = TokenDataset.open(readCheckpoint(join(sequentialOut, 'standard-seed1')).config.dataset.dir);
    /**
     * The scored windows' token ids, collected, and their sha256 computed here (fingerprint definition: src/data/eval-
     * set.ts).
     */
    const scored = (config: RunConfig) => {
      const set = evaluationSet(dataset.val, {
        seqLen: config.model.seqLen,
        batchSize: config.eval.batchSize,
        maxTokens: config.eval.maxTokens,
        seed: config.eval.seed,
      });
      const ids: number[] = [];
      const hash = createHash('sha256');
      for (const batch of set.batches()) {
        for (let row = 0; row < batch.batch; row++) {
          const window = [
            ...batch.inputs.subarray(row * batch.length, (row + 1) * batch.length),
            batch.targets[(row + 1) * batch.length - 1],
          ];
          ids.push(...window);
          const bytes = Buffer.alloc(4 * window.length);
          window.forEach((id, i) => {
            bytes.writeUInt32LE(id, 4 * i);
          });
          hash.update(bytes);
        }
      }
      return { ids: Buffer.from(Uint32Array.from(ids).buffer), fingerprint: hash.digest('hex').slice(0, 16) };
    };
    const [seed1, seed2] = experiment.runs
      .filter((run) => run.variant === 'standard')
      .map((run) => experiment.runConfig(run));
    assert.notEqual(seed1.train.seed, seed2.train.seed);
    const a = scored(seed1);
    const b = scored(seed2);
    assert.ok(a.ids.length > 0 && a.ids.equals(b.ids), 'byte-identical token lists');
    for (const run of experiment.runs) {
      for (const record of evalsOf(join(sequentialOut, run.name)))
        assert.equal(record.evalFingerprint, a.fingerprint, `${run.name} step ${record.step}`);
    }
    // the check can fail: another eval.seed picks other windows (the split holds more than eval.maxTokens)
    assert.ok(dataset.val.length > 2 * seed1.eval.maxTokens);
    assert.ok(!scored({ ...seed1, eval: { ...seed1.eval, seed: seed1.eval.seed + 1 } }).ids.equals(a.ids));
  });

  it('--jobs 2 trains two runs at a time and gives the numbers of a sequential run', async () => {
    assert.ok(sequentialOut, 'the sequential experiment ran first');
    const out = join(scratch(), 'results');
    const result = await runExperiment(loadExperiment(tinyExperiment(data)), { out, jobs: 2 });
    assert.equal(result.jobs, 2);
    const losses = (dir: string, run: string) =>
      readFileSync(join(dir, run, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
        .map((r) => (r.type === 'eval' ? r.valLoss : r.loss));
    for (const run of ['standard-seed1', 'diff-seed1', 'standard-seed2', 'diff-seed2'])
      assert.deepEqual(losses(out, run), losses(sequentialOut, run), run);
    // the whole report, bit for bit, but for where it is and what measures time (how fast each run went)
    const read = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8').replaceAll(dir, 'OUT');
    const summary = (dir: string) => JSON.parse(read(dir, 'report.json'), withoutTimes);
    assert.deepEqual(summary(out), summary(sequentialOut));
    const markdown = (dir: string) => withoutTimeColumns(read(dir, 'report.md'));
    assert.equal(markdown(out), markdown(sequentialOut));
  });

  it('a closed terminal (SIGHUP to the process group) stops every job after its step, saves, exits 129; a re-run finishes', async () => {
    const experiment = tinyExperiment(data);
    writeFileSync(
      experiment,
      readFileSync(experiment, 'utf8').replace('config:\n', 'config:\n  train.backend: wasm\n'),
    );
    const out = join(scratch(), 'results');
    const child = spawn(process.execPath, [DIFFT_BIN, 'compare', experiment, '--out', out, '--jobs', '2'], {
      cwd: REPO_ROOT,
      detached: true, // its own process group, as a terminal's job is
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((done) => {
      const timer = setInterval(() => {
        if (existsSync(join(out, 'standard-seed1', 'metrics.jsonl'))) {
          clearInterval(timer);
          process.kill(-child.pid!, 'SIGHUP');
        }
      }, 5);
      child.on('exit', (status) => {
        clearInterval(timer);
        done(status);
      });
    });
    assert.equal(code, 129, stderr);
    assert.match(stderr, /interrupted; finished runs are kept/);
    assert.ok(!existsSync(join(out, 'report.md')), 'stopped before the end');
    const rerun = difft(['compare', experiment, '--out', out, '--jobs', '2']);
    assert.equal(rerun.status, 0, rerun.stderr);
    for (const run of ['standard-seed1', 'diff-seed1', 'standard-seed2', 'diff-seed2'])
      assert.deepEqual(
        metricsOf(join(out, run))
          .filter((r) => r.type === 'train')
          .map((r) => r.step),
        [1, 2, 3, 4, 5, 6],
        run,
      );
  });

  it('a sweep (2 variants × 2 learning rates × 2 seeds): killed mid-way and re-run, it finishes without redoing completed runs', async () => {
    const experiment = tinyExperiment(data, 'sweep:\n  train.lr: [1.0e-3, 3.0e-3]\n');
    const out = join(scratch(), 'results');
    const firstDone = join(out, 'standard-lr0.001-seed1', 'step-000006');
    const child = spawn(process.execPath, [DIFFT_BIN, 'compare', experiment, '--out', out, '--jobs', '2'], {
      cwd: REPO_ROOT,
      stdio: 'ignore',
    });
    await new Promise<void>((done) => {
      const timer = setInterval(() => {
        if (existsSync(firstDone) && existsSync(join(out, 'diff-lr0.001-seed1'))) child.kill('SIGKILL');
      }, 5);
      child.on('exit', () => {
        clearInterval(timer);
        done();
      });
    });
    assert.ok(existsSync(firstDone), 'the first run finished before the kill');
    assert.ok(!existsSync(join(out, 'report.md')), 'killed before the end');
    const metricsBefore = readFileSync(join(out, 'standard-lr0.001-seed1', 'metrics.jsonl'), 'utf8');
    const rerun = difft(['compare', experiment, '--out', out, '--jobs', '2']);
    assert.equal(rerun.status, 0, rerun.stderr);
    assert.match(rerun.stderr, /run 1\/8: standard \(train\.lr=0\.001\), seed 1 \(finished before: skipped\)/);
    assert.equal(readFileSync(join(out, 'standard-lr0.001-seed1', 'metrics.jsonl'), 'utf8'), metricsBefore);

    // the grid, each variant's best setting by mean final loss over seeds, and the verdict there
    const summary = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ComparisonSummary;
    assert.deepEqual(summary.settings, ['train.lr=0.001', 'train.lr=0.003']);
    assert.equal(summary.groups.length, 4);
    for (const variant of ['standard', 'diff']) {
      const meanFinal = (slug: string) =>
        meanStd([1, 2].map((seed) => evalsOf(join(out, `${variant}-${slug}-seed${seed}`)).at(-1)!.valLoss))[0];
      const best = meanFinal('lr0.001') < meanFinal('lr0.003') ? 'train.lr=0.001' : 'train.lr=0.003';
      assert.equal(summary.bestSettings[variant], best, variant);
    }
    const comparison = summary.comparisons[0];
    assert.equal(comparison.setting, summary.bestSettings.diff);
    assert.equal(comparison.baselineSetting, summary.bestSettings.standard);
    const markdown = readFileSync(join(out, 'report.md'), 'utf8');
    assert.ok(
      markdown.includes(`diff (at ${summary.bestSettings.diff}) vs standard (at ${summary.bestSettings.standard})`),
    );
    assert.match(markdown, /## Sweep/);
    assert.ok(existsSync(join(out, 'sweep.png')));
  });

  it('a shard that starts while another has locked its runs but not yet written the plan (or is writing it) goes ahead', () => {
    const experimentFile = tinyExperiment(data);
    const out = join(scratch(), 'results');
    const runs = loadExperiment(experimentFile).runs;
    const second = runs.filter((_, i) => i % 2 === 1); // shard 2/2's runs
    // as shard 2 leaves its directory in the instant after locking: its run directories, locked, no plan
    for (const run of second) {
      mkdirSync(join(out, run.name), { recursive: true });
      const holder = { pid: process.pid, host: hostname(), command: 'comparing: difft compare', started: 'now' };
      writeFileSync(join(out, run.name, '.difft.lock'), JSON.stringify(holder));
    }
    // and the plan half written, under its temporary name (src/atomic.ts)
    writeFileSync(join(out, `experiment.yaml.tmp-${process.pid}`), 'name: compare-');
    const first = difft(['compare', experimentFile, '--out', out, '--jobs', '1', '--shard', '1/2']);
    assert.equal(first.status, 0, first.stderr);
    assert.ok(existsSync(join(out, 'experiment.yaml')));
  });

  it('--shard 1/2 and --shard 2/2 in two processes into one directory: difft report gives the numbers of an unsharded run', async () => {
    assert.ok(sequentialOut, 'the sequential experiment ran first');
    const experiment = tinyExperiment(data);
    const out = join(scratch(), 'results');
    const shard = (which: string) =>
      new Promise<{ code: number | null; stderr: string }>((done) => {
        const child = spawn(
          process.execPath,
          [DIFFT_BIN, 'compare', experiment, '--out', out, '--jobs', '1', '--shard', which],
          {
            cwd: REPO_ROOT,
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
        let stderr = '';
        child.stderr.on('data', (chunk) => (stderr += chunk));
        child.on('exit', (code) => done({ code, stderr }));
      });
    const results = await Promise.all([shard('1/2'), shard('2/2')]);
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    assert.match(results.map((r) => r.stderr).join('\n'), /run 1\/2: standard, seed 1/, 'shard 1 trains the first run');
    const report = difft(['report', out]);
    assert.equal(report.status, 0, report.stderr);
    const numbers = (dir: string) => {
      const summary = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ComparisonSummary;
      return {
        finals: summary.groups.map((g) => [g.variant, g.finalValLoss, g.bestValLoss]),
        comparisons: summary.comparisons.map((c) => [
          c.final.deltas,
          c.final.paired,
          c.best.paired,
          c.gap,
          c.tokensToTarget,
        ]),
        missing: summary.missing,
      };
    };
    assert.deepEqual(numbers(out), numbers(sequentialOut));
  });

  it('difft report on a partly finished experiment lists what is missing', () => {
    const out = join(scratch(), 'results');
    const experiment = tinyExperiment(data);
    const first = difft(['compare', experiment, '--out', out, '--jobs', '1', '--shard', '1/2']);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stderr, /2 run\(s\) of other shards not finished yet: diff-seed1, diff-seed2/);
    const report = difft(['report', out]);
    assert.equal(report.status, 0, report.stderr);
    assert.match(report.stdout, /not finished \(2\): diff-seed1, diff-seed2/);
    assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /Not finished yet \(2\): diff-seed1, diff-seed2/);
    const bad = difft(['compare', experiment, '--out', out, '--shard', '3/2']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--shard 3\/2: expected i\/n with 1 ≤ i ≤ n/);
  });

  it('a retrieval experiment: task accuracy, allocation and their paired differences equal those recomputed from metrics.jsonl', async () => {
    const out = join(scratch(), 'results');
    const extra =
      '  train.backend: wasm\n  data.task.kind: needles\n  data.task.needles: 2\n  data.task.examples: 64\n  data.task.valExamples: 16\n  model.seqLen: 48\n  eval.probes: 8\n';
    const file = tinyExperiment(data).replace(/experiment\.yaml$/, 'experiment.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace('config:\n', `config:\n${extra}`)
        .replace(/seeds: \[1, 2\]/, 'seeds: [1, 2, 3]'),
    );
    await runExperiment(loadExperiment(file), { out, jobs: 2 });
    const summary = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ComparisonSummary;
    type TaskRecord = {
      accuracy: number;
      answerLoss: number;
      allocation: { [map: string]: { answer: number; otherNeedles: number; distractors: number }[] };
    };
    const finalTask = (variant: string, seed: number): TaskRecord => {
      const last = (
        evalsOf(join(out, `${variant}-seed${seed}`)) as unknown as { tasks: { [name: string]: TaskRecord } }[]
      ).at(-1)!;
      return last.tasks['needles-2x1'];
    };
    const answerMass = (t: TaskRecord) => {
      const layers = Object.values(t.allocation)[0];
      return layers.reduce((sum, a) => sum + a.answer, 0) / layers.length;
    };
    for (const variant of ['standard', 'diff']) {
      const group = summary.groups.find((g) => g.variant === variant)!;
      const [mean] = meanStd([1, 2, 3].map((seed) => finalTask(variant, seed).accuracy));
      close(group.tasks['needles-2x1'].accuracy.mean, mean, 1e-12, `${variant} accuracy`);
      close(
        group.tasks['needles-2x1'].answerMass.mean,
        meanStd([1, 2, 3].map((seed) => answerMass(finalTask(variant, seed))))[0],
        1e-12,
        `${variant} answer mass`,
      );
    }
    const deltas = [1, 2, 3].map(
      (seed) => answerMass(finalTask('diff', seed)) - answerMass(finalTask('standard', seed)),
    );
    const [meanDelta, stdDelta] = meanStd(deltas);
    const paired = summary.comparisons[0].tasks['needles-2x1'].answerMass.paired!;
    close(paired.mean, meanDelta, 1e-12, 'paired Δ answer mass');
    close(paired.high - paired.mean, 4.3027 * (stdDelta / Math.sqrt(3)), 1e-3, 'half-width with t(2) = 4.3027'); // published t table
    const markdown = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(markdown, /## Retrieval/);
    assert.match(
      markdown,
      /Chance on needles-2x1: 1\.0% guessing the digits, 50\.0% copying the value of a random fact/,
    );
    for (const plot of ['retrieval', 'allocation']) assert.ok(existsSync(join(out, `${plot}.png`)), plot);
  });

  it('refuses a bad experiment file with a message naming the key', () => {
    const dir = scratch();
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `name: bad\nbase: ${join(REPO_ROOT, 'configs/tiny.yaml')}\nvariants:\n  - name: a\n    set: { model.atention: diff }\nseeds: [1]\n`,
    );
    assert.throws(
      () => loadExperiment(file),
      (e: Error) => e instanceof UserError && /a: model\.atention: unknown config key/.test(e.message),
    );
    writeFileSync(file, `name: bad\nvariants: [{ name: a }]\nseeds: [1]\nbaseline: b\n`);
    assert.throws(() => loadExperiment(file), /baseline b is not one of the variants: a/);
    const tiny = join(REPO_ROOT, 'configs/tiny.yaml');
    writeFileSync(
      file,
      `name: bad\nbase: ${tiny}\nvariants:\n  - { name: a, set: { train.lr: 0.01 } }\nsweep:\n  train.lr: [0.001, 0.003]\nseeds: [1]\n`,
    );
    assert.throws(() => loadExperiment(file), /a sets train\.lr, which the sweep also sets/);
    writeFileSync(
      file,
      `name: bad\nbase: ${tiny}\nvariants:\n  - { name: a }\nsweep:\n  eval.seed: [1, 2]\nseeds: [1]\n`,
    );
    assert.throws(() => loadExperiment(file), /sweep eval\.seed: eval\.seed chooses the tokens every run is scored on/);
    writeFileSync(
      file,
      `name: bad\nbase: ${tiny}\nvariants:\n  - { name: a }\nsweep:\n  train.lr: [0.001, 0.001]\nseeds: [1]\n`,
    );
    assert.throws(() => loadExperiment(file), /sweep train\.lr: a value is listed twice/);
    // a run's seed is listed under seeds: a variant setting it would be overwritten without a word
    writeFileSync(file, `name: bad\nbase: ${tiny}\nvariants:\n  - { name: a, set: { train.seed: 7 } }\nseeds: [1]\n`);
    assert.throws(() => loadExperiment(file), /a sets train\.seed: train\.seed is each run's own/);
    writeFileSync(
      file,
      `name: bad\nbase: ${tiny}\nvariants:\n  - { name: a }\nsizes:\n  - { name: s, set: { model.width: 32 } }\n` +
        `sweep:\n  model.width: [32, 64]\nseeds: [1]\n`,
    );
    assert.throws(
      () => loadExperiment(file),
      /size s sets model\.width, which the sweep also sets: remove one of them/,
    );
  });
});
