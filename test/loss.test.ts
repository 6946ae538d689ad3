import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { crossEntropy } from '../src/model/loss.js';
import { bitsPerByte } from '../src/eval/loss.js';
import { engine } from './helpers/setup.js';

before(() => engine('cpu'));

/**
 * Runs `f` with every cpu kernel wrapped so that the largest value of any int32 input is recorded:
 * an index computed as row·V + target shows up here as a value far beyond the vocabulary.
 */
function largestInt32Input(f: () => void): number {
  const backend = tf.getBackend();
  const originals = tf.getKernelsForBackend(backend);
  let largest = -Infinity;
  for (const config of originals) {
    tf.unregisterKernel(config.kernelName, backend);
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => {
        for (const input of Object.values(args.inputs)) {
          if (input?.dtype !== 'int32') continue;
          for (const value of (args.backend as tf.KernelBackend).readSync(input.dataId) as Int32Array)
            largest = Math.max(largest, value);
        }
        return config.kernelFunc(args);
      },
    });
  }
  try {
    f();
  } finally {
    for (const config of originals) {
      tf.unregisterKernel(config.kernelName, backend);
      tf.registerKernel(config);
    }
  }
  return largest;
}

describe('the loss', () => {
  it('cross-entropy and its gradient equal values computed by hand', () => {
    // row 1: logits 1, 2, 3, target 2: log(e + e² + e³) − 3 = 0.4076060; row 2: logits 0, 0, 0, target 1: log 3 =
    // 1.0986123
    const logits = tf.tensor3d([
      [
        [1, 2, 3],
        [0, 0, 0],
      ],
    ]);
    const targets = tf.tensor2d([[2, 1]], undefined, 'int32');
    const loss = crossEntropy(logits, targets).dataSync()[0];
    assert.ok(Math.abs(loss - 0.7531091) < 1e-6, `${loss}`);
    // d loss / d logits = (softmax − one-hot) / rows: row 1 softmax 0.0900306, 0.2447285, 0.6652410
    const grad = tf
      .grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor3D, targets))(logits)
      .dataSync();
    const expected = [0.0900306 / 2, 0.2447285 / 2, (0.665241 - 1) / 2, 1 / 6, (1 / 3 - 1) / 2, 1 / 6];
    expected.forEach(
      (value, i) => void assert.ok(Math.abs(grad[i] - value) < 1e-6, `gradient ${i}: ${grad[i]} vs ${value}`),
    );
    tf.dispose([logits, targets]);
  });

  it('weighted cross-entropy: Σ w·(−log p) / Σ w, and its gradient, by hand', () => {
    // the rows of the test above, weighted 3 and 1: (3 · 0.4076060 + 1.0986123) / 4 = 0.5803576
    const logits = tf.tensor3d([
      [
        [1, 2, 3],
        [0, 0, 0],
      ],
    ]);
    const targets = tf.tensor2d([[2, 1]], undefined, 'int32');
    const weights = tf.tensor2d([[3, 1]]);
    const loss = crossEntropy(logits, targets, weights).dataSync()[0];
    assert.ok(Math.abs(loss - 0.5803576) < 1e-6, `${loss}`);
    // d loss / d logits = w·(softmax − one-hot) / Σ w
    const grad = tf
      .grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor3D, targets, weights))(logits)
      .dataSync();
    const expected = [
      (3 * 0.0900306) / 4,
      (3 * 0.2447285) / 4,
      (3 * (0.665241 - 1)) / 4,
      1 / 12,
      (1 / 3 - 1) / 4,
      1 / 12,
    ];
    expected.forEach(
      (value, i) => void assert.ok(Math.abs(grad[i] - value) < 1e-6, `gradient ${i}: ${grad[i]} vs ${value}`),
    );
    // a weight of zero leaves that row out: the loss is row 1's alone
    const first = crossEntropy(logits, targets, tf.tensor2d([[1, 0]])).dataSync()[0];
    assert.ok(Math.abs(first - 0.407606) < 1e-6, `${first}`);
    tf.dispose([logits, targets, weights]);
  });

  it('bits per byte: nats per token × tokens / (bytes × ln 2)', () => {
    // 0.7531091 nats/token over 10 tokens of 20 bytes: 7.531091 / (20 · 0.6931472) = 0.5432534 bits/byte
    assert.ok(Math.abs(bitsPerByte(0.7531091, 10, 20) - 0.5432534) < 1e-6);
    // a byte tokenizer (one token per byte) turns nats into bits: ÷ ln 2
    assert.ok(Math.abs(bitsPerByte(Math.LN2, 100, 100) - 1) < 1e-12);
  });

  it('flat indices never pass the int32 limit: rows are picked in chunks below it, with the same loss and gradient', () => {
    const vocab = 50;
    const rows = 64;
    const logits = tf.randomNormal([4, rows / 4, vocab], 0, 1, 'float32', 1) as tf.Tensor3D;
    const targets = tf.randomUniform([4, rows / 4], 0, vocab, 'int32', 2) as tf.Tensor2D;
    const lossAndGradient = (maxIndex?: number) =>
      tf.tidy(() => [
        crossEntropy(logits, targets, undefined, maxIndex).dataSync()[0],
        ...tf
          .grad((x: tf.Tensor) => crossEntropy(x as tf.Tensor3D, targets, undefined, maxIndex))(logits)
          .dataSync(),
      ]);
    const whole = lossAndGradient();
    // a pretend limit of 7 rows' worth of indices: 64 rows need 10 chunks, as 2³¹ would at B·T·V ≥ 2³¹
    const limit = 7 * vocab - 1;
    let chunked: number[] = [];
    const largest = largestInt32Input(() => (chunked = lossAndGradient(limit)));
    assert.ok(
      largest <= limit,
      `an int32 input reached ${largest}, beyond the limit ${limit} (rows·vocab = ${rows * vocab})`,
    );
    assert.ok(Math.abs(chunked[0] - whole[0]) < 1e-6, `loss ${chunked[0]} vs ${whole[0]}`);
    assert.ok(
      chunked.every((value, i) => Math.abs(value - whole[i]) < 1e-7),
      'gradient',
    );
    // and the loss of the whole batch is the mean of per-row values computed here from the logits
    const values = logits.arraySync().flat();
    const ids = targets.arraySync().flat();
    const byHand =
      values.reduce((sum, row, i) => sum + Math.log(row.reduce((s, x) => s + Math.exp(x), 0)) - row[ids[i]], 0) / rows;
    assert.ok(Math.abs(whole[0] - byHand) < 1e-5, `${whole[0]} vs ${byHand}`);
    tf.dispose([logits, targets]);
  });
});
