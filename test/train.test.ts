import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ATTENTIONS } from '../src/config/model.js';
import { Decoder } from '../src/model/decoder.js';
import { AdamW, clipByGlobalNorm } from '../src/train/adamw.js';
import { createOptimizer, lossAndGradients, Trainer } from '../src/train/step.js';
import { crossEntropy } from '../src/model/loss.js';
import { TEST_ENGINES } from './helpers/engines.js';
import { engine, maxAbsDiff, tinyConfig } from './helpers/setup.js';
import { patternBatches } from './helpers/pattern.js';

before(() => engine('cpu'));

describe('AdamW', () => {
  it('applies the configured learning rate and decoupled decay, to matrices only', () => {
    const params = { matrix: tf.variable(tf.tensor2d([[1, -2]])), vector: tf.variable(tf.tensor1d([0.5, 3])) };
    const options = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
    const optimizer = new AdamW(params, (name) => name === 'matrix', options);
    const gradients = [
      [
        [0.3, -0.1],
        [2, 0],
      ],
      [
        [-0.2, 0.4],
        [1, -1],
      ],
    ]; // per step: matrix row, vector
    const lrs = [0.01, 0.02];

    // the same two steps by hand, in float64
    const expected = { matrix: [1, -2], vector: [0.5, 3] };
    const moments = { matrix: { m: [0, 0], v: [0, 0] }, vector: { m: [0, 0], v: [0, 0] } };
    gradients.forEach((step, t) => {
      (['matrix', 'vector'] as const).forEach((name, which) => {
        const g = step[which];
        const state = moments[name];
        state.m = state.m.map((m, i) => 0.9 * m + 0.1 * g[i]);
        state.v = state.v.map((v, i) => 0.99 * v + 0.01 * g[i] * g[i]);
        expected[name] = expected[name].map((w, i) => {
          const mHat = state.m[i] / (1 - 0.9 ** (t + 1));
          const vHat = state.v[i] / (1 - 0.99 ** (t + 1));
          const decay = name === 'matrix' ? lrs[t] * 0.1 * w : 0;
          return w - decay - (lrs[t] * mHat) / (Math.sqrt(vHat) + 1e-8);
        });
      });
      // the path training takes: one flat gradient, proposed, then committed
      tf.tidy(() => {
        const gradient = optimizer.flatten({ matrix: tf.tensor2d([step[0]]), vector: tf.tensor1d(step[1]) });
        optimizer.commit(optimizer.propose(gradient, { lr: lrs[t], clipNorm: 0, microBatches: 1 }));
      });
    });
    const close = (a: ArrayLike<number>, b: number[]) => b.every((v, i) => Math.abs(a[i] - v) < 1e-6);
    assert.ok(close(params.matrix.dataSync(), expected.matrix), `${params.matrix.dataSync()} vs ${expected.matrix}`);
    assert.ok(close(params.vector.dataSync(), expected.vector), `${params.vector.dataSync()} vs ${expected.vector}`);
    assert.equal(optimizer.step, 2);
    optimizer.dispose();
    tf.dispose(params);
  });
});

describe('gradient clipping', () => {
  it('scales to the global norm and reports the norm before clipping', () => {
    tf.tidy(() => {
      const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) }; // global norm 5
      const { grads: clipped, norm } = clipByGlobalNorm(grads, 1);
      assert.ok(Math.abs(norm.dataSync()[0] - 5) < 1e-6);
      assert.deepEqual(
        Array.from(clipped.a.dataSync()).map((v) => +v.toFixed(6)),
        [0.6, 0],
      );
      assert.deepEqual(
        Array.from(clipped.b.dataSync()).map((v) => +v.toFixed(6)),
        [0, 0.8],
      );
      const loose = clipByGlobalNorm(grads, 10);
      assert.deepEqual(Array.from(loose.grads.a.dataSync()), [3, 0]);
    });
  });
});

describe('training steps', () => {
  for (const name of TEST_ENGINES)
    it(`leak no tensors over 10 steps (${name})`, async () => {
      await engine(name);
      for (const attention of ATTENTIONS) {
        const model = Decoder.create(tinyConfig({ attention }), 1);
        const optimizer = createOptimizer(model);
        const trainer = new Trainer(model, optimizer);
        const next = patternBatches(4, 8, 1);
        const batch = next();
        const counts: number[] = [];
        for (let step = 0; step < 10; step++) {
          trainer.step([batch, batch], 1e-3, 1);
          counts.push(tf.memory().numTensors);
        }
        assert.deepEqual(counts, new Array(10).fill(counts[0]), `${attention}: ${counts}`);
        tf.dispose([batch.inputs, batch.targets]);
        trainer.dispose();
        optimizer.dispose();
        model.dispose();
      }
      await engine('cpu');
    });

  it("the logged gradient norm is the norm before clipping: the loss's slope along the gradient, by central differences", () => {
    const config = tinyConfig({ attention: 'diff' });
    const model = Decoder.create(config, 4);
    const batch = patternBatches(4, 8, 9)();
    const lossAt = () => tf.tidy(() => crossEntropy(model.forward(batch.inputs).logits, batch.targets).dataSync()[0]);
    // the direction to probe: the gradient's, from tf.grads (only its direction is used)
    const direction = tf.tidy(() => {
      const { grads } = lossAndGradients(model, batch);
      const norm = Math.sqrt(Object.values(grads).reduce((sum, g) => sum + g.square().sum().dataSync()[0], 0));
      return Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, tf.keep(g.div(norm))]));
    });
    const originals = Object.fromEntries(Object.entries(model.params).map(([name, p]) => [name, tf.keep(p.clone())]));
    const shift = (by: number) => {
      for (const [name, p] of Object.entries(model.params))
        p.assign(tf.tidy(() => originals[name].add(direction[name].mul(by))));
    };
    const epsilon = 1e-3;
    shift(epsilon);
    const plus = lossAt();
    shift(-epsilon);
    const minus = lossAt();
    shift(0);
    const slope = (plus - minus) / (2 * epsilon); // = |∇L| when the direction is ∇L / |∇L|

    const optimizer = createOptimizer(model);
    const trainer = new Trainer(model, optimizer);
    const outcome = trainer.step([batch], 1e-3, 1e-3); // clipping at 0.001: active
    assert.ok(slope > 0.05, `slope ${slope}`);
    assert.ok(Math.abs(outcome.gradNorm / slope - 1) < 0.01, `logged ${outcome.gradNorm}, slope ${slope}`);
    tf.dispose([batch.inputs, batch.targets, ...Object.values(direction), ...Object.values(originals)]);
    for (const x of [trainer, optimizer, model]) x.dispose();
  });

  it('accumulating two micro-batches equals one step on both together', () => {
    const config = tinyConfig({ attention: 'diff' });
    const [a, b] = [Decoder.create(config, 1), Decoder.create(config, 1)];
    const [optA, optB] = [createOptimizer(a), createOptimizer(b)];
    const next = patternBatches(4, 8, 3);
    const [first, second] = [next(), next()];
    const joined = {
      inputs: tf.concat([first.inputs, second.inputs]) as tf.Tensor2D,
      targets: tf.concat([first.targets, second.targets]) as tf.Tensor2D,
    };
    const [trainerA, trainerB] = [new Trainer(a, optA), new Trainer(b, optB)];
    const accumulated = trainerA.step([first, second], 1e-2, 0.5);
    const together = trainerB.step([joined], 1e-2, 0.5);
    assert.ok(Math.abs(accumulated.loss - together.loss) < 1e-6);
    assert.ok(Math.abs(accumulated.gradNorm - together.gradNorm) < 1e-5);
    for (const name of Object.keys(a.params)) {
      assert.ok(maxAbsDiff(a.params[name].dataSync(), b.params[name].dataSync()) < 1e-6, name);
    }
    tf.dispose([first, second, joined] as unknown as tf.TensorContainer);
    for (const x of [trainerA, trainerB, optA, optB, a, b]) x.dispose();
  });

  it('a non-finite loss leaves the weights untouched', () => {
    const model = Decoder.create(tinyConfig({ attention: 'standard' }), 1);
    const optimizer = createOptimizer(model);
    model.params['norm.weight'].assign(tf.fill(model.params['norm.weight'].shape, NaN));
    const before = model.params['layers.0.attn.q_proj.weight'].dataSync().slice();
    const batch = patternBatches(2, 8, 1)();
    const trainer = new Trainer(model, optimizer);
    const outcome = trainer.step([batch], 1e-2, 1);
    assert.equal(outcome.applied, false);
    assert.ok(Number.isNaN(outcome.loss));
    assert.deepEqual(model.params['layers.0.attn.q_proj.weight'].dataSync(), before);
    assert.equal(optimizer.step, 0);
    tf.dispose([batch.inputs, batch.targets]);
    trainer.dispose();
    optimizer.dispose();
    model.dispose();
  });
});
