import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { CheckpointAnalysis } from '../src/inspect/analyze.js';
import { ROLES } from '../src/measure/analysis.js';
import { difft } from './helpers/cli.js';

/**
 * `difft analyze` and `difft eval --task` end to end: two checkpoints (standard and diff) trained for a
 * few steps on a needles task, analysed side by side on one probe set.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-analyze-'));

describe('difft analyze and eval --task', () => {
  const work = scratch();
  const runs: Record<string, string> = {};
  const task = [
    'data.task.kind=needles',
    'data.task.needles=2',
    'data.task.examples=64',
    'data.task.valExamples=16',
    'model.seqLen=48',
  ];
  /** difft train of the tiny config on wasm into `out`, with `--set` for each setting. */
  const trainTiny = (out: string, settings: string[]) =>
    difft([
      'train',
      '--config',
      'tiny',
      '--backend',
      'wasm',
      '--out',
      out,
      ...[`data.dir=${join(work, 'data')}`, ...settings].flatMap((setting) => ['--set', setting]),
    ]);
  before(() => {
    for (const attention of ['standard', 'diff']) {
      runs[attention] = join(work, attention);
      const trained = trainTiny(runs[attention], [`model.attention=${attention}`, 'eval.probes=8', ...task]);
      assert.equal(trained.status, 0, trained.stderr);
      assert.match(trained.stderr, /needles-2x1 accuracy \d+\.\d%, answer loss \d/);
    }
  });

  it('prints the scores, allocation and outlier tables, writes analysis.json and the plots', () => {
    const out = join(work, 'analysis');
    const result = difft(['analyze', runs.standard, runs.diff, '--examples', '8', '--out', out, '--backend', 'wasm']);
    const perHead = difft([
      'analyze',
      runs.diff,
      '--examples',
      '4',
      '--heads',
      '--no-plots',
      '--out',
      join(work, 'heads'),
      '--backend',
      'wasm',
    ]);
    assert.equal(perHead.status, 0, perHead.stderr);
    assert.match(perHead.stdout, /\| 0 +\| a2 +\| 1 +\|/, 'diff with 4 baseline heads has differential heads 0 and 1');
    assert.ok(!existsSync(join(work, 'heads', 'allocation.png')));
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /\| standard @20 \| needles-2x1, 49 tokens \| 8 \(8 answers\)/);
    assert.match(result.stdout, /\| diff @20/);
    assert.match(result.stdout, /\| 1 +\| differential \| mean \|/);
    assert.match(result.stdout, /\| 0 +\| a2 +\| mean \|/);
    assert.doesNotMatch(result.stdout, /\| 0 +\| a2 +\| 1 +\|/);
    assert.match(result.stdout, /attention logit: top-1/);
    const analyses = JSON.parse(readFileSync(join(out, 'analysis.json'), 'utf8')) as CheckpointAnalysis[];
    assert.deepEqual(
      analyses.map((a) => a.attention),
      ['standard', 'diff'],
    );
    // one probe set for both: same examples, same answers
    assert.deepEqual(analyses[0].snapshot.example, analyses[1].snapshot.example);
    for (const analysis of analyses) {
      for (const layer of analysis.layers) {
        const [map, { mean }] = Object.entries(layer.allocation)[0];
        const total = ROLES.reduce((sum, role) => sum + mean[role], 0);
        const expected = map === 'differential' ? 1 - layer.lambda! : 1;
        assert.ok(Math.abs(total - expected) < 1e-4, `${map} mass sums to ${expected}: ${total}`);
        assert.ok(layer.logits.top1 >= layer.logits.top10 && layer.logits.top10 >= layer.logits.median);
      }
    }
    assert.equal(typeof analyses[1].layers[0].lambda, 'number');
    for (const plot of ['allocation', 'outliers', 'attention-1-standard', 'attention-2-diff'])
      assert.ok(existsSync(join(out, `${plot}.png`)), plot);
  });

  it('eval --task scores the trained-on task, or another one, with chance beside it', () => {
    const trained = difft(['eval', runs.diff, '--task', '--examples', '8', '--max-tokens', '200', '--backend', 'wasm']);
    assert.equal(trained.status, 0, trained.stderr);
    assert.match(
      trained.stdout,
      /needles-2x1, 49 tokens \| 8 +\| \d+\.\d% +\| \d+\.\d% +\| \d+\.\d{3} +\| 1\.0% \/ 50\.0%/,
    );
    const other = difft([
      'eval',
      runs.diff,
      '--task',
      'mqar:needles=3,queries=2,keyLength=1,answerLength=1,distractor=random,length=33',
      '--examples',
      '4',
      '--json',
      '--backend',
      'cpu',
    ]);
    assert.equal(other.status, 0, other.stderr);
    const [result] = JSON.parse(other.stdout) as {
      task: { task: string; length: number; scores: { answers: number; chance: { digits: number } } };
    }[];
    assert.equal(result.task.task, 'mqar-3x2');
    assert.equal(result.task.length, 33);
    assert.equal(result.task.scores.answers, 8);
    assert.equal(result.task.scores.chance.digits, 0.1);

    // with attention bit widths: scored again through the quantized forward, 24 bits ≈ full precision, 2 bits not
    const bits = difft([
      ...['eval', runs.diff, '--task', '--examples', '8', '--max-tokens', '200'],
      '--attention-bits',
      '24,2',
      '--json',
      '--backend',
      'cpu',
    ]);
    assert.equal(bits.status, 0, bits.stderr);
    const [scored] = JSON.parse(bits.stdout) as {
      task: {
        scores: { answerLoss: number; wrong: Record<string, number>; exactMatch: number };
        attentionBits: { bits: number; scores: { answerLoss: number } }[];
      };
    }[];
    const [at24, at2] = scored.task.attentionBits;
    assert.deepEqual([at24.bits, at2.bits], [24, 2]);
    assert.ok(Math.abs(at24.scores.answerLoss - scored.task.scores.answerLoss) < 1e-4);
    // a 20-step model barely uses its attention (2 bits moves its answer loss by about 1e-4), but it moves it
    assert.notEqual(at2.scores.answerLoss, scored.task.scores.answerLoss);
    const { wrong, exactMatch } = scored.task.scores;
    assert.ok(Math.abs(exactMatch + wrong.otherFact + wrong.absent + wrong.malformed - 1) < 1e-9);
  });

  it('refuses what it cannot do with one line: no task for a text-trained checkpoint, a task longer than the model reads, a bad spec', () => {
    const text = join(work, 'text');
    // trained on text, probed at every evaluation with a generated task (eval.tasks)
    const probe = 'mqar:needles=2,queries=1,keyLength=1,answerLength=1,distractor=random';
    assert.equal(trainTiny(text, [`eval.tasks=["${probe}"]`, 'eval.probes=4']).status, 0);
    const evals = readFileSync(join(text, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((r) => r.type === 'eval');
    assert.ok(evals.length >= 2);
    for (const record of evals) assert.equal(record.tasks[probe].answers, 4);
    const noTask = difft(['analyze', text, '--backend', 'wasm']);
    assert.equal(noTask.status, 2);
    assert.match(noTask.stderr, /was trained on text, not on a task: name one with --task/);
    const tooLong = difft(['analyze', text, '--task', 'needles:length=200', '--backend', 'wasm']);
    assert.equal(tooLong.status, 2);
    assert.match(tooLong.stderr, /--task length 200: .* reads at most model\.seqLen \+ 1 = 17 tokens/);
    const bad = difft(['eval', text, '--task', 'needles:needles=x', '--backend', 'wasm']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /task\.needles must be integer/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
  });
});
