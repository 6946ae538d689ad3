import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { TokenDataset } from '../src/data/dataset.js';
import { UserError } from '../src/errors.js';
import { TrainingBatches } from '../src/train/batches.js';
import { train } from '../src/train/loop.js';
import { prepareRunData } from '../src/train/run-data.js';
import { REPO_ROOT } from './helpers/cli.js';

/**
 * A warm start from short contexts (train.shortSteps, train.shortLength): the first steps draw whole
 * short examples, as many per step as keep the tokens per step, then the run's own windows; the
 * position of both samplers survives a checkpoint. Checked on the text of the windows.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-curriculum-'));

const TASK = [
  'data.task.kind=needles',
  'data.task.needles=4',
  'data.task.queries=2',
  'data.task.examples=64',
  'data.task.valExamples=8',
  'model.seqLen=200',
  'train.batchSize=2',
  'train.backend=wasm',
];

describe('a warm start from short examples', () => {
  it('short whole examples first (batch × ⌊201 / 65⌋ = 3×), then windows of the run; both positions resume', async () => {
    const config = loadConfig(join(REPO_ROOT, 'configs/tiny.yaml'), [
      `data.dir=${scratch()}`,
      ...TASK,
      'train.shortSteps=2',
      'train.shortLength=65',
      'train.textWeight=0.5',
    ]);
    const dataset = TokenDataset.open((await prepareRunData(config)).dir);
    const batches = await TrainingBatches.open(config, dataset);
    const [first] = batches.next(1);
    assert.equal(first.batch, 6);
    assert.equal(first.length, 64);
    for (let row = 0; row < first.batch; row++) {
      // a whole short example: it ends with a query's answer (" The code KEY" then two digits), weighted 1
      const ids = [...first.inputs.subarray(row * 64, row * 64 + 64), first.targets[row * 64 + 63]];
      assert.match(Buffer.from(ids).toString('latin1'), / The code [A-Z]{3}\d\d$/);
      assert.equal(first.weights![row * 64 + 63], 1);
      assert.equal(first.weights![row * 64], 0.5);
    }
    const saved = batches.state();
    assert.ok(saved.shortSampler, 'the short sampler has a position of its own');
    const [second] = batches.next(2);
    const [third] = batches.next(3);
    assert.equal(second.length, 64);
    assert.equal(third.length, 200);
    assert.equal(third.batch, 2);
    const resumed = await TrainingBatches.open(config, dataset);
    resumed.restore(saved);
    assert.deepEqual(resumed.next(2), [second]);
    assert.deepEqual(resumed.next(3), [third]);
    batches.close();
    resumed.close();
    dataset.close();
  });

  it('a run counts the tokens it trained on: short steps at 6 × 64, the rest at 2 × 200', async () => {
    const runDir = join(scratch(), 'run');
    const config = loadConfig(join(REPO_ROOT, 'configs/tiny.yaml'), [
      `data.dir=${scratch()}`,
      ...TASK,
      'train.steps=4',
      'train.shortSteps=2',
      'train.shortLength=65',
      'eval.every=0',
      'output.saveEvery=0',
    ]);
    await train({ config, out: runDir });
    const tokens = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; step: number; tokens: number })
      .filter((record) => record.type === 'train')
      .map((record) => record.tokens);
    assert.deepEqual(tokens, [384, 768, 1168, 1568]);
  });

  it('refuses a warm start without a task, or longer than a window, naming the key', () => {
    const refused = (overrides: string[], pattern: RegExp) =>
      assert.throws(
        () => loadConfig(join(REPO_ROOT, 'configs/tiny.yaml'), overrides),
        (error: Error) => error instanceof UserError && pattern.test(error.message),
      );
    refused(['train.shortSteps=10'], /train\.shortSteps = 10: a warm start from short examples needs a task/);
    refused([...TASK, 'train.shortSteps=10', 'train.shortLength=201'], /train\.shortLength = 201: must be shorter/);
  });
});
