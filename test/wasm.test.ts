import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ATTENTIONS } from '../src/config/model.js';
import { Decoder } from '../src/model/decoder.js';
import { createOptimizer, trainStep } from '../src/train/step.js';
import { engine, maxAbsDiff, randomTokens, scrambleParameters, tinyConfig } from './helpers/setup.js';
import { patternBatches } from './helpers/pattern.js';

/** Runs `f` on cpu and on wasm and returns both results. */
async function onBoth<T>(f: () => T): Promise<{ cpu: T; wasm: T }> {
  await engine('cpu');
  const cpu = f();
  await engine('wasm');
  const wasm = f();
  return { cpu, wasm };
}

describe('wasm engine', () => {
  it('gives the same logits as cpu for the same weights (max abs difference < 1e-4)', async () => {
    await engine('cpu');
    for (const attention of ATTENTIONS) {
      const config = tinyConfig({ attention, width: 32, heads: 4, kvHeads: 2, seqLen: 16, vocabSize: 40 });
      const model = Decoder.create(config, 1);
      scrambleParameters(model.params, 2, 0.2);
      const tokens = randomTokens(3, config.seqLen, config.vocabSize, 3);
      const { cpu, wasm } = await onBoth(() => tf.tidy(() => model.forward(tokens).logits.dataSync()));
      assert.ok(maxAbsDiff(cpu, wasm) < 1e-4, `${attention}: ${maxAbsDiff(cpu, wasm)}`);
      await engine('cpu');
      tokens.dispose();
      model.dispose();
    }
  });

  it('computes transposed products and segment sums (our kernels) as cpu does', async () => {
    const a = [...Array(2 * 5 * 3).keys()].map((i) => Math.sin(i));
    const b = [...Array(2 * 4 * 3).keys()].map((i) => Math.cos(i));
    const { cpu, wasm } = await onBoth(() =>
      tf.tidy(() => {
        const x = tf.tensor3d(a, [2, 5, 3]);
        const y = tf.tensor3d(b, [2, 4, 3]);
        const products = [tf.matMul(x, y, false, true), tf.matMul(x, x, true, false), tf.matMul(y, x.transpose([0, 2, 1]), false, false)];
        const ids = tf.tensor1d([2, 0, 2, 1, 5], 'int32'); // 5 is out of range: dropped, as tf does
        const sums = tf.unsortedSegmentSum(tf.tensor2d(a.slice(0, 15), [5, 3]), ids, 4);
        return [...products, sums].map((t) => Array.from(t.dataSync()));
      }),
    );
    cpu.forEach((expected, i) => assert.ok(maxAbsDiff(wasm[i], expected) < 1e-5, `result ${i}`));
  });

  it('trains: a full step (embedding gradient included) runs and matches cpu', async () => {
    const config = tinyConfig({ attention: 'diff', width: 32, seqLen: 16, vocabSize: 20 });
    const runOnce = () => {
      const model = Decoder.create(config, 5);
      const optimizer = createOptimizer(model);
      const batch = patternBatches(4, config.seqLen, 1)();
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        losses.push(trainStep(model, optimizer, [batch], 1e-2, 1).loss);
      }
      tf.dispose([batch.inputs, batch.targets]);
      optimizer.dispose();
      model.dispose();
      return losses;
    };
    const { cpu, wasm } = await onBoth(runOnce);
    assert.ok(maxAbsDiff(cpu, wasm) < 1e-4, `${cpu} vs ${wasm}`);
  });
});

describe('each attention learns (wasm)', () => {
  for (const attention of ATTENTIONS) {
    it(`${attention}: 200 steps on a repeating pattern bring the loss close to 0`, async () => {
      await engine('wasm');
      const config = tinyConfig({ attention, vocabSize: 4, width: 32, heads: 4, layers: 2, seqLen: 16 });
      const model = Decoder.create(config, 1);
      const optimizer = createOptimizer(model, { weightDecay: 0 });
      const next = patternBatches(8, config.seqLen, 2);
      let loss = Infinity;
      for (let step = 0; step < 200; step++) {
        const batch = next();
        const lr = 1e-2 * Math.min(1, (step + 1) / 20); // short warm-up
        const result = trainStep(model, optimizer, [batch], lr, 1);
        if (step >= 190) loss = Math.min(loss, result.loss);
        tf.dispose([batch.inputs, batch.targets]);
      }
      // the first position of a window is ambiguous (0 is followed by 1, 2 or 3): ≈ 0.03 nats is irreducible
      assert.ok(loss < 0.1, `${attention}: loss ${loss}`);
      optimizer.dispose();
      model.dispose();
    });
  }
});
