import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { compileProgram } from '../src/backend/graph/compile.js';
import { ATTENTIONS, type Attention } from '../src/config/model.js';
import { Decoder } from '../src/model/decoder.js';
import { createOptimizer, Trainer } from '../src/train/step.js';
import { TEST_ENGINES } from './helpers/engines.js';
import { engine, maxAbsDiff, randomTokens, tinyConfig } from './helpers/setup.js';

/**
 * Compiled programs (backend/graph/compile.ts): on tensorflow, traced once into a TensorFlow graph and run
 * as one session call. What would go wrong if the trace were wrong: an input recorded as a constant
 * (later calls would repeat the traced values), a missing attribute (the graph would not load), a
 * captured variable (frozen parameters), a leak per call. Each has a case here; the training cases
 * compare graph steps with op-by-op steps on batches other than the traced one.
 */
const onTensorflow = TEST_ENGINES.includes('tensorflow');

function withGraphMode<T>(mode: string, f: () => T): T {
  const previous = process.env.DIFFT_GRAPH;
  process.env.DIFFT_GRAPH = mode;
  try {
    return f();
  } finally {
    if (previous === undefined) delete process.env.DIFFT_GRAPH;
    else process.env.DIFFT_GRAPH = previous;
  }
}

describe('compiled functions on tensorflow', {
  skip: onTensorflow ? false : 'the tensorflow engine is not installed here (npx difft setup tensorflow)',
}, () => {
  before(() => engine('tensorflow'));
  after(() => engine('cpu'));

  it('computes from the inputs of every call, not from the traced ones', () => {
    const offset = tf.tensor1d([10, 20, 30]); // read, not an input: captured
    const f = compileProgram('test', ({ a, b }: { a: tf.Tensor; b: tf.Tensor }) => ({
      product: tf.add(tf.mul(a, b), offset),
      sum: tf.sum(a),
    }));
    const calls = [
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      [
        [-1, 0.5, 2],
        [3, -2, 7],
      ],
    ];
    for (const [a, b] of calls) {
      const [product, sum] = withGraphMode('strict', () =>
        tf.tidy(() => {
          const out = f({ a: tf.tensor1d(a), b: tf.tensor1d(b) });
          return [Array.from(out.product.dataSync()), Array.from(out.sum.dataSync())];
        }),
      );
      assert.equal(f.lastRun, 'graph');
      assert.deepEqual(product, [a[0] * b[0] + 10, a[1] * b[1] + 20, a[2] * b[2] + 30]);
      assert.deepEqual(sum, [a[0] + a[1] + a[2]]);
    }
    // the program keeps what it captured alive
    offset.dispose();
    const product = tf.tidy(() =>
      Array.from(f({ a: tf.tensor1d([1, 1, 1]), b: tf.tensor1d([2, 2, 2]) }).product.dataSync()),
    );
    assert.deepEqual(product, [12, 22, 32]);
    f.dispose();
  });

  it('traces once per input shape, and leaks no tensor per call', () => {
    const f = compileProgram('test', ({ x }: { x: tf.Tensor }) => ({
      softmax: tf.softmax(x),
      expanded: tf.expandDims(x, 0),
    }));
    withGraphMode('strict', () => {
      for (const shape of [
        [2, 3],
        [4, 5],
        [2, 3],
      ]) {
        const before = tf.memory().numTensors;
        const x = tf.randomNormal(shape, 0, 1, 'float32', 3);
        const { softmax, expanded } = f({ x });
        const expected = tf.softmax(x);
        assert.ok(maxAbsDiff(softmax.dataSync(), expected.dataSync()) < 1e-6);
        assert.deepEqual(expanded.shape, [1, ...shape]);
        tf.dispose([x, softmax, expanded, expected]);
        assert.equal(tf.memory().numTensors, before);
      }
    });
    f.dispose();
  });

  it('refuses to freeze a variable the function reads without taking it as an input', () => {
    const weight = tf.variable(tf.tensor1d([1, 2]));
    const f = compileProgram('a function reading a variable', ({ x }: { x: tf.Tensor }) => ({ y: tf.mul(x, weight) }));
    assert.throws(
      () => withGraphMode('strict', () => tf.tidy(() => f({ x: tf.tensor1d([3, 4]) }))),
      new RegExp(`reads variable ${weight.name}`),
    );
    // outside strict mode: a warning, and the function runs op by op, correctly
    const g = compileProgram('a function reading a variable', ({ x }: { x: tf.Tensor }) => ({ y: tf.mul(x, weight) }));
    const warnings: string[] = [];
    const listener = (warning: Error) => warnings.push(warning.message);
    process.on('warning', listener);
    const values = withGraphMode('on', () => tf.tidy(() => Array.from(g({ x: tf.tensor1d([3, 4]) }).y.dataSync())));
    assert.equal(g.lastRun, 'eager');
    assert.deepEqual(values, [3, 8]);
    weight.assign(tf.tensor1d([5, 6]));
    assert.deepEqual(
      tf.tidy(() => Array.from(g({ x: tf.tensor1d([1, 1]) }).y.dataSync())),
      [5, 6],
    );
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        process.off('warning', listener);
        assert.match(warnings.join('\n'), /a function reading a variable runs op by op on the tensorflow engine/);
        weight.dispose();
        f.dispose();
        g.dispose();
        resolve();
      }),
    );
  });

  it('feeds the variables it was given at every call, so a change between calls is seen', () => {
    const weight = tf.variable(tf.tensor1d([1, 2]));
    const f = compileProgram(
      'a function reading a fed variable',
      ({ x }: { x: tf.Tensor }) => ({ y: tf.mul(x, weight) }),
      { weight },
    );
    withGraphMode('strict', () => {
      assert.deepEqual(
        tf.tidy(() => Array.from(f({ x: tf.tensor1d([3, 4]) }).y.dataSync())),
        [3, 8],
      );
      weight.assign(tf.tensor1d([5, 6]));
      assert.deepEqual(
        tf.tidy(() => Array.from(f({ x: tf.tensor1d([1, 1]) }).y.dataSync())),
        [5, 6],
      );
      assert.equal(f.lastRun, 'graph');
    });
    f.dispose();
    weight.dispose();
  });

  /** Three steps on three different batches; returns the losses and the final parameters. */
  function train(attention: Attention, kvHeads: number, mode: string) {
    return withGraphMode(mode, () => {
      const config = tinyConfig({ attention, width: 32, heads: 4, kvHeads, seqLen: 16, vocabSize: 20 });
      const model = Decoder.create(config, 5);
      const optimizer = createOptimizer(model);
      const trainer = new Trainer(model, optimizer);
      const losses: number[] = [];
      const norms: number[] = [];
      for (let step = 0; step < 3; step++) {
        const tokens = randomTokens(3, config.seqLen + 1, config.vocabSize, 100 + step);
        const batch = {
          inputs: tokens.slice([0, 0], [3, config.seqLen]) as tf.Tensor2D,
          targets: tokens.slice([0, 1], [3, config.seqLen]) as tf.Tensor2D,
        };
        // two micro-batches on the last step: the accumulation path too
        const micro = step === 2 ? [batch, batch] : [batch];
        const outcome = trainer.step(micro, 1e-2, 0.5);
        losses.push(outcome.loss);
        norms.push(outcome.gradNorm);
        tf.dispose([tokens, batch.inputs, batch.targets]);
      }
      const params = model.variables.flatMap((v) => Array.from(v.dataSync()));
      trainer.dispose();
      optimizer.dispose();
      model.dispose();
      return { losses, norms, params };
    });
  }

  for (const attention of ATTENTIONS) {
    for (const kvHeads of [4, 2]) {
      it(`${attention}${kvHeads < 4 ? ' with GQA' : ''}: graph steps match op-by-op steps on new batches`, () => {
        const graph = train(attention, kvHeads, 'strict');
        const eager = train(attention, kvHeads, 'off');
        assert.ok(maxAbsDiff(graph.losses, eager.losses) < 1e-5, `losses ${graph.losses} vs ${eager.losses}`);
        assert.ok(maxAbsDiff(graph.norms, eager.norms) < 1e-4, `norms ${graph.norms} vs ${eager.norms}`);
        // Adam divides by sqrt(v) + ε: a gradient entry near ε that differs in its last bits between the
        // two programs (oneDNN picks kernels by layout) moves its parameter by up to ~1e-3 of the learning
        // rate (1e-2 here); an input frozen or misread moves parameters by the learning rate itself
        const paramsDiff = maxAbsDiff(graph.params, eager.params);
        assert.ok(paramsDiff < 1e-4, `parameters after three steps differ by ${paramsDiff}`);
        // the parameters moved: the graph did not run on frozen ones
        assert.ok(graph.losses[2] !== graph.losses[1]);
      });
    }
  }
});
