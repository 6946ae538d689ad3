import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { writeReport } from '../src/report/report.js';
import { retrievalGrids } from '../src/report/retrieval-grid.js';
import type { RunConfig } from '../src/config/schema.js';
import { taskLabel, taskOf } from '../src/config/task.js';
import type { PlannedRun } from '../src/compare/experiment.js';
import { handMadeComparison } from './helpers/hand-made.js';

/**
 * The retrieval grid (the paper's Table 2 shape): which probe tasks form one, and its cells'
 * accuracies, paired intervals and attention masses, from hand-written probe records.
 */
const cell = (needles: number, length: number) =>
  `needles:needles=${needles},queries=${Math.min(2, needles)},keys=lookalike,length=${length}`;

describe('retrieval grids', () => {
  it('groups tasks that differ only in N, queries and length; leaves others alone', () => {
    const grids = retrievalGrids([
      cell(1, 65),
      cell(4, 65),
      cell(1, 129),
      cell(4, 129),
      'needles-4x1', // a task dataset's own label
      'needles:needles=2,answerLength=3', // another format: alone, so no grid
      'needles:needlesMin=1,needles=8', // a range is not a cell
    ]);
    assert.equal(grids.length, 1);
    assert.deepEqual(grids[0].needles, [1, 4]);
    assert.deepEqual(grids[0].lengths, [65, 129]);
    assert.equal(grids[0].cells.length, 4);
    assert.match(grids[0].title, /up to 2 queries, lookalike keys of 3 letters/);
    // the same settings written in another order are the same grid
    const reordered = retrievalGrids([
      'needles:needles=2,length=65,keys=prefix',
      'needles:keys=prefix,length=65,needles=4',
    ]);
    assert.equal(reordered.length, 1);
    assert.deepEqual(reordered[0].needles, [2, 4]);
  });

  it('accuracy with paired Δ and its interval, chance and masses per cell, worked by hand', async () => {
    // standard: accuracy 0.9 − 0.2·(N − 1)/3 at every length and seed; diff: that + 0.05, 0.10, 0.15 for
    // seeds 1–3 at N = 4, 129 tokens (+0 elsewhere). Two layers of masses: answer 0.2 and 0.4, other
    // needles 0.1 and 0.3, filler 0.5 and 0.1.
    const accuracy = (variant: string, needles: number, length: number, seed: number) =>
      0.9 - (0.2 * (needles - 1)) / 3 + (variant === 'diff' && needles === 4 && length === 129 ? 0.05 * seed : 0);
    const probe = (value: number, needles: number) => ({
      examples: 8,
      answers: 16,
      accuracy: value,
      tokenAccuracy: value,
      exactMatch: value,
      answerLoss: 1,
      chance: { digits: 0.01, randomFact: 1 / needles },
      byDepth: [],
      allocation: {
        attention: [
          { answer: 0.2, otherNeedles: 0.1, distractors: 0.5, query: 0.2 },
          { answer: 0.4, otherNeedles: 0.3, distractors: 0.1, query: 0.2 },
        ],
      },
    });
    const { out } = handMadeComparison(
      [
        'name: grid-test',
        'variants:',
        '  - { name: standard, set: { model.attention: standard } }',
        '  - { name: diff, set: { model.attention: diff } }',
        'seeds: [1, 2, 3]',
      ],
      (run) => ({
        loss: 2,
        eval: {
          tasks: Object.fromEntries(
            [1, 4].flatMap((needles) =>
              [65, 129].map((length) => [
                cell(needles, length),
                probe(accuracy(run.variant, needles, length, run.seed), needles),
              ]),
            ),
          ),
        },
      }),
    );
    await writeReport(out);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    const row = (needles: number, which: number) =>
      report
        .split('\n')
        .filter((line) => line.startsWith(`| ${needles} |`))
        [which].split(' | ')
        .map((cellText) => cellText.replace(/^\| |\s*\|$/g, ''));
    // columns: N, then (65 tokens: standard, diff), (129 tokens: standard, diff)
    const accuracyRow = row(4, 0);
    assert.equal(accuracyRow[1], '0.700 ± 0.000');
    assert.equal(accuracyRow[2], '0.700 ± 0.000 (Δ +0.000 [+0.000, +0.000])');
    // Δ per seed 0.05, 0.10, 0.15: mean 0.10, s = 0.05, half-width t(0.975, 2)·0.05/√3 = 0.1242
    const half = (4.302652729911275 * 0.05) / Math.sqrt(3);
    const f = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;
    assert.equal(accuracyRow[4], `0.800 ± 0.050 (Δ +0.100 [${f(0.1 - half)}, ${f(0.1 + half)}])`);
    // masses: mean over the two layers
    assert.deepEqual(row(1, 1).slice(1), Array(4).fill('0.300 / 0.200 / 0.300'));
    assert.match(report, /N = 1: 100\.0%, N = 4: 25\.0%/);
  });

  it('runs trained on the answers alone: a warning, and the verdict on their objective task, not the loss', async () => {
    const lines = (textWeight: number) => [
      'name: weighted',
      'variants:',
      `  - { name: standard, set: { model.attention: standard, data.task.kind: needles, train.textWeight: ${textWeight} } }`,
      `  - { name: diff, set: { model.attention: diff, data.task.kind: needles, train.textWeight: ${textWeight} } }`,
      'seeds: [1, 2, 3]',
    ];
    // diff answers 20, 25, 30 points better per seed, while its validation loss is worse
    const runOf = (run: PlannedRun, config: RunConfig) => {
      const label = taskLabel(taskOf(config.data.task)!);
      const accuracy = 0.5 + (run.variant === 'diff' ? 0.15 + 0.05 * run.seed : 0);
      const probe = { examples: 8, answers: 16, accuracy, tokenAccuracy: accuracy, exactMatch: accuracy };
      return {
        loss: run.variant === 'diff' ? 9.5 : 9,
        eval: {
          tasks: {
            [label]: {
              ...probe,
              answerLoss: 1,
              chance: { digits: 0.01, randomFact: 0.25 },
              byDepth: [],
              allocation: { attention: [{ answer: 0.2, otherNeedles: 0.1, distractors: 0.5, query: 0.2 }] },
            },
          },
        },
      };
    };
    const warning = /trained with train\.textWeight = 0: their objective weighed the text outside the answers/;
    const weighted = handMadeComparison(lines(0), runOf);
    await writeReport(weighted.out);
    const report = readFileSync(join(weighted.out, 'report.md'), 'utf8');
    assert.match(report, warning);
    // Δ 0.20, 0.25, 0.30: mean 0.25, s = 0.05, half-width t(0.975, 2)·0.05/√3 = 0.1242
    assert.match(
      report,
      /diff vs standard: better than standard on its objective, the answers of needles-\S+ \(the validation loss scores text it was not trained on\) — Δ accuracy \+25\.0 points, 95% CI \[\+12\.6, \+37\.4\] \(paired over 3 seeds/,
    );
    const plain = handMadeComparison(lines(1), runOf);
    await writeReport(plain.out);
    const plainReport = readFileSync(join(plain.out, 'report.md'), 'utf8');
    assert.doesNotMatch(plainReport, /train\.textWeight/);
    assert.match(plainReport, /diff vs standard: worse than standard — Δ final validation loss \+0\.5000 nats/);
  });
});
