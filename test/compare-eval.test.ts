import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadExperiment } from '../src/compare/experiment.js';
import { runExperiment } from '../src/compare/run.js';
import { orderBlocks } from '../src/report/order-robustness.js';
import type { ComparisonSummary } from '../src/report/summary.js';
import type { RunEvaluation } from '../src/eval/run-evaluation.js';
import { COMPARISON_FILES } from '../src/formats/comparison.js';
import { RUN_FILES } from '../src/formats/run.js';
import { REPO_ROOT, difft } from './helpers/cli.js';

/**
 * The experiment's `eval` key: every finished run's final checkpoint scored by position (at the
 * trained context and past it) and with low-bit attention, on the same windows for every run; the
 * numbers equal `difft eval`'s on the same checkpoint, the report's paired Δ equals the per-seed
 * differences worked out here from the runs' files, and a re-run evaluates only what is missing.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-compare-eval-'));

function experimentFile(dataDir: string, evalKey: string): string {
  const file = join(scratch(), 'experiment.yaml');
  const text = readFileSync(join(REPO_ROOT, 'configs/compare-tiny.yaml'), 'utf8')
    .replace('base: tiny.yaml', `base: ${join(REPO_ROOT, 'configs/tiny.yaml')}`)
    .replace('config:\n', `config:\n  data.dir: ${dataDir}\n`);
  writeFileSync(file, `${text}${evalKey}`);
  return file;
}

const EVAL_KEY = 'eval:\n  byPosition: true\n  seqLen: [32]\n  attentionBits: [8, 4]\n';
const evaluationOf = (runDir: string): RunEvaluation =>
  JSON.parse(readFileSync(join(runDir, RUN_FILES.evaluation), 'utf8')) as RunEvaluation;

describe('comparisons: the eval key', () => {
  it('scores each final checkpoint by position, past the trained context and at low bit widths; the report pairs them', async () => {
    const data = scratch();
    const out = join(scratch(), 'results');
    const evaluated: string[] = [];
    const run = (file: string) =>
      runExperiment(loadExperiment(file), {
        out,
        jobs: 1,
        callbacks: { onEvaluate: ({ name }) => evaluated.push(name) },
      });
    await run(experimentFile(data, EVAL_KEY));
    const names = ['standard-seed1', 'diff-seed1', 'standard-seed2', 'diff-seed2'];
    assert.deepEqual(evaluated, names);
    const evaluations = Object.fromEntries(names.map((name) => [name, evaluationOf(join(out, name))]));

    for (const [name, evaluation] of Object.entries(evaluations)) {
      assert.equal(evaluation.step, 6);
      assert.deepEqual(
        evaluation.contexts.map((c) => [c.seqLen, c.trainedSeqLen]),
        [
          [16, 16],
          [32, 16],
        ],
      );
      // the same windows for every run, at each context
      for (const [i, context] of evaluation.contexts.entries())
        assert.equal(context.fingerprint, evaluations['standard-seed1'].contexts[i].fingerprint, name);
      assert.deepEqual(
        evaluation.contexts[0].attentionBits?.map((b) => b.bits),
        [8, 4],
      );
      assert.equal(evaluation.contexts[1].byPosition?.at(-1)?.to, 32);
    }

    // the same numbers as difft eval on that checkpoint, an independent road (a new process, the CLI's options)
    const cli = difft(['eval', join(out, 'diff-seed1'), '--by-position', '--max-tokens', '512', '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    const [fromCli] = JSON.parse(cli.stdout) as { loss: number; byPosition: { loss: number }[] }[];
    const stored = evaluations['diff-seed1'].contexts[0];
    assert.ok(Math.abs(fromCli.loss - stored.loss) < 1e-6, `${fromCli.loss} vs ${stored.loss}`);
    assert.ok(Math.abs(fromCli.byPosition[0].loss - stored.byPosition![0].loss) < 1e-6);

    // two checkpoints of different attentions on the command line, past the trained length: one table, the same
    // windows, and the numbers the comparison stored
    const both = difft([
      'eval',
      join(out, 'standard-seed1'),
      join(out, 'diff-seed1'),
      '--by-position',
      '--seq-len',
      '32',
      '--max-tokens',
      '512',
      '--json',
    ]);
    assert.equal(both.status, 0, both.stderr);
    const pair = JSON.parse(both.stdout) as { fingerprint: string; byPosition: { loss: number }[] }[];
    assert.equal(pair[0].fingerprint, pair[1].fingerprint);
    for (const [i, name] of ['standard-seed1', 'diff-seed1'].entries())
      assert.ok(
        Math.abs(pair[i].byPosition.at(-1)!.loss - evaluations[name].contexts[1].byPosition!.at(-1)!.loss) < 1e-6,
      );
    const table = difft([
      'eval',
      join(out, 'standard-seed1'),
      join(out, 'diff-seed1'),
      '--by-position',
      '--seq-len',
      '32',
      '--max-tokens',
      '512',
    ]);
    assert.equal(table.stdout.split('\n').filter((line) => line.includes('trained on')).length, 1, 'one table');

    // the report's paired Δ at the first bin past the trained context: the mean of the per-seed differences
    const report = readFileSync(join(out, COMPARISON_FILES.reportMarkdown), 'utf8');
    assert.match(report, /## Loss by position/);
    assert.match(report, /## Low-bit attention/);
    const bin = (name: string) => evaluations[name].contexts[1].byPosition!.at(-1)!.loss;
    const delta = (bin('diff-seed1') - bin('standard-seed1') + bin('diff-seed2') - bin('standard-seed2')) / 2;
    const row = report.split('\n').find((line) => line.startsWith('| 32 (untrained) |'))!;
    const shown = `Δ ${delta >= 0 ? '+' : '−'}${Math.abs(delta).toFixed(4)}`;
    assert.ok(row.includes(shown), `${row} lacks ${shown}`);
    const increase = (name: string) => evaluations[name].contexts[0].attentionBits![1].increase;
    const bitsDelta =
      (increase('diff-seed1') - increase('standard-seed1') + increase('diff-seed2') - increase('standard-seed2')) / 2;
    const lines = report.split('\n');
    const header = lines.findIndex((line) => line.startsWith('| variant | full precision | increase at 8 bits'));
    const bitsRow = lines.slice(header).find((line) => line.startsWith('| diff |'))!;
    assert.ok(bitsRow.includes(`Δ ${bitsDelta >= 0 ? '+' : '−'}${Math.abs(bitsDelta).toFixed(4)}`), bitsRow);

    // a re-run evaluates nothing; another request re-evaluates every run
    evaluated.length = 0;
    await run(experimentFile(data, EVAL_KEY));
    assert.deepEqual(evaluated, []);
    await run(experimentFile(data, 'eval:\n  attentionBits: [6]\n'));
    assert.deepEqual(evaluated, names);
    assert.deepEqual(evaluationOf(join(out, 'diff-seed1')).request, {
      byPosition: false,
      seqLen: [],
      attentionBits: [6],
    });
  });

  it('in-context classification: order robustness from permutations of the same demonstrations, accuracy per bit width', async () => {
    const permutations = [0, 1, 2].map(
      (p) => `icl:needles=4,queries=2,answerLength=1,distractor=random,permutation=${p}`,
    );
    const task =
      '  model.seqLen: 47\n  data.task.kind: icl\n  data.task.needles: 4\n  data.task.queries: 2\n  data.task.answerLength: 1\n' +
      '  data.task.distractor: random\n  data.task.examples: 64\n  data.task.valExamples: 16\n  eval.probes: 8\n' +
      `  eval.tasks: [${permutations.map((p) => JSON.stringify(p)).join(', ')}]\n`;
    const file = experimentFile(scratch(), 'eval:\n  attentionBits: [4]\n');
    writeFileSync(file, readFileSync(file, 'utf8').replace('config:\n', `config:\n${task}`));
    const out = join(scratch(), 'results');
    await runExperiment(loadExperiment(file), { out, jobs: 1 });

    // per run: mean and best − worst of its accuracies over the three orders, from its metrics
    const accuracies = (name: string): number[] => {
      const records = readFileSync(join(out, name, RUN_FILES.metrics), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; tasks?: Record<string, { accuracy: number }> });
      const final = records.filter((r) => r.type === 'eval').at(-1)!;
      return permutations.map((p) => final.tasks![p].accuracy);
    };
    const margin = (values: number[]) => Math.max(...values) - Math.min(...values);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const report = readFileSync(join(out, COMPARISON_FILES.reportMarkdown), 'utf8');
    const row = report.split('\n').find((line) => line.startsWith('| diff | random, N = 4, 3 orders |'))!;
    assert.ok(row, report);
    const deltaOf = (measure: (values: number[]) => number) =>
      (measure(accuracies('diff-seed1')) -
        measure(accuracies('standard-seed1')) +
        measure(accuracies('diff-seed2')) -
        measure(accuracies('standard-seed2'))) /
      2;
    const text = (x: number) => `Δ ${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
    assert.ok(row.includes(text(deltaOf(mean))), `${row}: ${text(deltaOf(mean))}`);
    assert.ok(row.includes(text(deltaOf(margin))), `${row}: ${text(deltaOf(margin))}`);
    // the permutations are read in that section, not each in a table of its own
    assert.ok(!report.includes(`| ${permutations[1]}: variant |`));

    const evaluation = evaluationOf(join(out, 'diff-seed1'));
    assert.equal(evaluation.task?.name, 'icl-4c-4x2');
    assert.deepEqual(
      evaluation.task?.attentionBits.map((b) => b.bits),
      [4],
    );
    assert.match(report, /Accuracy on the trained task \(icl-4c-4x2/);
  });

  it('order robustness: mean, best − worst and the worst order per run, paired by seed, worked by hand', () => {
    // the first order written as a probe usually is, without the key (its default): still one set
    const tasks = ['icl:needles=8', 'icl:needles=8,permutation=1', 'icl:permutation=2,needles=8'];
    const run = (seed: number, accuracies: number[]) => ({
      seed,
      tasks: Object.fromEntries(tasks.map((task, i) => [task, { accuracy: accuracies[i] }])),
    });
    const group = (variant: string, runs: ReturnType<typeof run>[]) => ({
      variant,
      setting: '',
      size: '',
      runs,
      tasks: Object.fromEntries(tasks.map((task) => [task, {}])),
    });
    const summary = {
      baseline: 'standard',
      comparedSize: '',
      bestSettings: { standard: '', diff: '' },
      groups: [
        group('standard', [run(1, [0.5, 0.7, 0.6]), run(2, [0.4, 0.4, 0.8])]),
        group('diff', [run(1, [0.9, 0.8, 0.85]), run(2, [0.6, 0.7, 0.65])]),
      ],
    } as unknown as ComparisonSummary;
    const table = orderBlocks(summary).find((block) => block.kind === 'table') as { rows: string[][] };
    // standard: means 0.6 and 0.5333 (mean 0.5667, std 0.0667/√2 = 0.0471); margins 0.2 and 0.4; worst 0.5, 0.4
    assert.deepEqual(table.rows[0], [
      'standard',
      'random, N = 8, 3 orders',
      '0.567 ± 0.047',
      '0.300 ± 0.141',
      '0.450 ± 0.071',
    ]);
    // diff: means 0.85, 0.65 → Δ (0.25 + 0.1167) / 2 = +0.183; margins 0.1, 0.1 → Δ (−0.1 − 0.3) / 2 = −0.200
    assert.match(table.rows[1][2], /^0\.750 ± 0\.141 \(Δ \+0\.183 \[/);
    assert.match(table.rows[1][3], /^0\.100 ± 0\.000 \(Δ −0\.200 \[/);
    assert.equal(table.rows[1][4], '0.700 ± 0.141');
  });

  it('refuses contexts not past the trained one, and keys it does not know, in one line', () => {
    const data = scratch();
    assert.throws(
      () => loadExperiment(experimentFile(data, 'eval:\n  seqLen: [16]\n')),
      /eval.seqLen 16 is not past run standard-seed1's trained context \(16\)/,
    );
    assert.throws(() => loadExperiment(experimentFile(data, 'eval:\n  bits: [4]\n')), /experiment key eval/);
  });
});
