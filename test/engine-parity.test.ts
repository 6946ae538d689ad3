import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { EngineName } from '../src/backend/engines.js';
import { ATTENTIONS } from '../src/config/model.js';
import { Decoder } from '../src/model/decoder.js';
import { readMetrics } from '../src/train/metrics.js';
import { createOptimizer, Trainer } from '../src/train/step.js';
import { REPO_ROOT, difft } from './helpers/cli.js';
import { FAST_ENGINES } from './helpers/engines.js';
import { patternBatches } from './helpers/pattern.js';
import { engine, maxAbsDiff, randomTokens, scrambleParameters, tinyConfig } from './helpers/setup.js';

/** Runs `f` on cpu and on `name` and returns both results. */
async function onBoth<T>(name: EngineName, f: () => T): Promise<{ cpu: T; other: T }> {
  await engine('cpu');
  const cpu = f();
  await engine(name);
  const other = f();
  return { cpu, other };
}

/**
 * A batched matrix product written out with loops, batch axes broadcast numpy-style — independent
 * of every tfjs kernel (tfjs's own cpu kernel gets mutual broadcasting, [2,1]·[3], wrong).
 */
function productByHand(
  a: number[],
  aShape: number[],
  b: number[],
  bShape: number[],
  transposeA: boolean,
  transposeB: boolean,
) {
  const matrix = (shape: number[], transpose: boolean) => {
    const [r, c] = shape.slice(-2);
    return {
      rows: transpose ? c : r,
      cols: transpose ? r : c,
      at: (data: number[], entry: number, i: number, j: number) =>
        data[entry * r * c + (transpose ? j * c + i : i * c + j)],
    };
  };
  const left = matrix(aShape, transposeA);
  const right = matrix(bShape, transposeB);
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const padA = [...Array(rank - batchA.length).fill(1), ...batchA];
  const padB = [...Array(rank - batchB.length).fill(1), ...batchB];
  const batch = padA.map((n, i) => Math.max(n, padB[i]));
  const entryOf = (pad: number[], index: number[]) =>
    index.reduce((flat, position, axis) => flat * pad[axis] + (pad[axis] === 1 ? 0 : position), 0);
  const out: number[] = [];
  const total = batch.reduce((x, y) => x * y, 1);
  for (let flat = 0; flat < total; flat++) {
    const index: number[] = [];
    for (let axis = rank - 1, rest = flat; axis >= 0; axis--) {
      index.unshift(rest % batch[axis]);
      rest = Math.floor(rest / batch[axis]);
    }
    const ea = entryOf(padA, index);
    const eb = entryOf(padB, index);
    for (let i = 0; i < left.rows; i++) {
      for (let j = 0; j < right.cols; j++) {
        let sum = 0;
        for (let k = 0; k < left.cols; k++) sum += left.at(a, ea, i, k) * right.at(b, eb, k, j);
        out.push(sum);
      }
    }
  }
  return { shape: [...batch, left.rows, right.cols], values: out };
}

const PRODUCTS: Array<[number[], number[], boolean, boolean]> = [
  [[2, 5, 3], [2, 3, 4], false, false], // rank 3, equal batches
  [[2, 5, 3], [2, 4, 3], false, true], // transposed B (every backward pass)
  [[2, 3, 5], [2, 3, 4], true, false], // transposed A (every weight gradient)
  [[2, 3, 4, 5], [2, 3, 5, 2], false, false], // rank 4
  [[1, 2, 3], [4, 3, 5], false, false], // batch broadcast from the first operand
  [[4, 2, 3], [1, 3, 5], false, false], // ... and from the second
  [[2, 1, 2, 3], [3, 3, 5], false, false], // both broadcast, ranks differ
  [[3, 2], [2, 4, 3, 5], true, false], // a plain matrix against a batch
  [[2, 1, 3, 4], [1, 3, 5, 4], false, true], // both broadcast, transposed
];

for (const name of FAST_ENGINES) {
  describe(`${name} engine`, () => {
    it('gives the same logits as cpu for the same weights, every attention with GQA (max abs difference < 1e-4)', async () => {
      for (const attention of ATTENTIONS) {
        const config = tinyConfig({ attention, width: 32, heads: 4, kvHeads: 2, seqLen: 16, vocabSize: 40 });
        // Built anew on each engine from the same seeds (tfjs-node cannot read tensors another engine holds).
        const logits = () => {
          const model = Decoder.create(config, 1);
          scrambleParameters(model.params, 2, 0.2);
          const tokens = randomTokens(3, config.seqLen, config.vocabSize, 3);
          const values = tf.tidy(() => model.forward(tokens).logits.dataSync());
          tokens.dispose();
          model.dispose();
          return values;
        };
        const { cpu, other } = await onBoth(name, logits);
        assert.ok(maxAbsDiff(cpu, other) < 1e-4, `${attention}: ${maxAbsDiff(cpu, other)}`);
      }
    });

    it('computes batched, transposed and broadcast products as written out by hand, and segment sums as cpu does', async () => {
      await engine(name);
      for (const [aShape, bShape, transposeA, transposeB] of PRODUCTS) {
        const a = Array.from({ length: aShape.reduce((x, y) => x * y, 1) }, (_, i) => Math.sin(i + 1));
        const b = Array.from({ length: bShape.reduce((x, y) => x * y, 1) }, (_, i) => Math.cos(i));
        const expected = productByHand(a, aShape, b, bShape, transposeA, transposeB);
        const got = tf.tidy(() => {
          const product = tf.matMul(tf.tensor(a, aShape), tf.tensor(b, bShape), transposeA, transposeB);
          return { shape: product.shape, values: product.dataSync() };
        });
        const label = `${JSON.stringify(aShape)}${transposeA ? 'ᵀ' : ''}·${JSON.stringify(bShape)}${transposeB ? 'ᵀ' : ''}`;
        assert.deepEqual(got.shape, expected.shape, label);
        assert.ok(
          maxAbsDiff(got.values, expected.values) < 1e-5,
          `${label}: ${maxAbsDiff(got.values, expected.values)}`,
        );
      }
      const values = [...Array(15).keys()].map((i) => Math.sin(i));
      const { cpu, other } = await onBoth(name, () =>
        tf.tidy(() =>
          Array.from(
            tf.unsortedSegmentSum(tf.tensor2d(values, [5, 3]), tf.tensor1d([2, 0, 2, 1, 3], 'int32'), 4).dataSync(),
          ),
        ),
      );
      assert.ok(maxAbsDiff(cpu, other) < 1e-6);
      // splits and unstacks: contiguous pieces (1-D, or only length-1 axes before the axis) and strided ones
      const splits = await onBoth(name, () =>
        tf.tidy(() => {
          const flat = tf.tensor1d(values);
          const pieces = [
            ...tf.split(flat, [4, 0, 11]),
            ...tf.split(flat.reshape([1, 5, 3]), [2, 3], 1),
            ...tf.split(flat.reshape([5, 3]), [1, 2], 1),
            ...tf.split(flat.reshape([3, 5]), 3, 0),
            ...tf.unstack(flat.reshape([3, 5]), 1), // pieces of one entry per row
            ...tf.unstack(flat.reshape([3, 5]), 0),
            ...tf.unstack(flat.reshape([1, 3, 1, 5]), 1),
            ...tf.unstack(tf.range(0, 2 * 3 * 2 * 40).reshape([2, 3, 2, 40]), 2), // blocks of 40 entries
            ...tf.unstack(tf.range(0, 2 * 3 * 2 * 80).reshape([2, 3, 2, 80]), 2), // blocks of 80: typed-array copies
            ...tf.unstack(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), 1),
          ];
          return pieces.map((piece) => ({ shape: piece.shape, values: Array.from(piece.dataSync()) }));
        }),
      );
      assert.deepEqual(splits.other, splits.cpu);
      // identity (wasm shares the input's memory, counted by reference): a copy outlives its source,
      // a variable assigned from it keeps its values, and the memory is freed once both are gone
      const bytesBefore = tf.memory().numBytes;
      const source = tf.tensor1d([1, 2, 3]);
      const copy = tf.clone(source);
      const zeros = tf.zeros([3]);
      const variable = tf.variable(zeros);
      zeros.dispose();
      variable.assign(copy);
      source.dispose();
      assert.deepEqual(Array.from(copy.dataSync()), [1, 2, 3]);
      copy.dispose();
      assert.deepEqual(Array.from(variable.dataSync()), [1, 2, 3]);
      variable.dispose();
      assert.equal(tf.memory().numBytes, bytesBefore);
    });

    it('trains: three full steps (embedding gradient included) match cpu', async () => {
      const config = tinyConfig({ attention: 'diff', width: 32, seqLen: 16, vocabSize: 20 });
      const runOnce = () => {
        const model = Decoder.create(config, 5);
        const optimizer = createOptimizer(model);
        const trainer = new Trainer(model, optimizer);
        const batch = patternBatches(4, config.seqLen, 1)();
        const losses: number[] = [];
        for (let step = 0; step < 3; step++) losses.push(trainer.step([batch], 1e-2, 1).loss);
        tf.dispose([batch.inputs, batch.targets]);
        trainer.dispose();
        optimizer.dispose();
        model.dispose();
        return losses;
      };
      const { cpu, other } = await onBoth(name, runOnce);
      assert.ok(maxAbsDiff(cpu, other) < 1e-4, `${cpu} vs ${other}`);
    });

    for (const attention of ATTENTIONS) {
      it(`${attention} learns: 200 steps on a repeating pattern bring the loss close to 0`, async () => {
        await engine(name);
        const config = tinyConfig({ attention, vocabSize: 4, width: 32, heads: 4, layers: 2, seqLen: 16 });
        const model = Decoder.create(config, 1);
        const optimizer = createOptimizer(model, { weightDecay: 0 });
        const trainer = new Trainer(model, optimizer);
        const next = patternBatches(8, config.seqLen, 2);
        let loss = Infinity;
        for (let step = 0; step < 200; step++) {
          const batch = next();
          const lr = 1e-2 * Math.min(1, (step + 1) / 20); // short warm-up
          const result = trainer.step([batch], lr, 1);
          if (step >= 190) loss = Math.min(loss, result.loss);
          tf.dispose([batch.inputs, batch.targets]);
        }
        // the first position of a window is ambiguous (0 is followed by 1, 2 or 3): ≈ 0.03 nats is irreducible
        assert.ok(loss < 0.1, `${attention}: loss ${loss}`);
        trainer.dispose();
        optimizer.dispose();
        model.dispose();
      });
    }

    it('runs `difft train` on the tiny config from start to finish', () => {
      const scratch = mkdtempSync(join(tmpdir(), `difft-${name}-`));
      const out = join(scratch, 'run');
      const result = difft([
        'train',
        '--config',
        join(REPO_ROOT, 'configs/tiny.yaml'),
        '--backend',
        name,
        '--out',
        out,
        '--set',
        `data.dir=${join(scratch, 'data')}`,
      ]);
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout + result.stderr, new RegExp(`engine: ${name}`));
      const records = readMetrics(join(out, 'metrics.jsonl'));
      const losses = records.flatMap((r) => (r.type === 'train' ? [r.loss] : []));
      assert.equal(losses.length, 20);
      assert.ok(losses.every(Number.isFinite) && losses[19] < losses[0], `losses ${losses}`);
      assert.ok(records.some((r) => r.type === 'eval'));
    });
  });
}
