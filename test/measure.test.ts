import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { TaskExample } from '../src/data/tasks/generate.js';
import type { ProbeSet } from '../src/data/tasks/probes.js';
import { ATTENTIONS } from '../src/config/model.js';
import { checkTaskSpec } from '../src/config/task.js';
import { Decoder } from '../src/model/decoder.js';
import {
  allocationOf,
  analyzeModel,
  keyRoles,
  magnitudeStats,
  ROLES,
  visibleEntries,
} from '../src/measure/analysis.js';
import { gateStats } from '../src/model/attention/diagnostics.js';
import { predictionsAt, scoreProbes, summarizeOutcomes } from '../src/measure/task-metrics.js';
import { layerExtremes } from '../src/measure/extremes.js';
import { measureRows } from '../src/measure/rows.js';
import { EvaluationLoss } from '../src/eval/loss.js';
import { engine, scrambleParameters, tinyConfig } from './helpers/setup.js';

/**
 * Task metrics and analysis statistics on hand-built inputs: logits, attention rows and tensors
 * written out in the test, with every expected number worked out by hand in the comments.
 */
before(() => engine('cpu'));

const close = (a: number, b: number, tolerance = 1e-6) => assert.ok(Math.abs(a - b) <= tolerance, `${a} vs ${b}`);

describe('task metrics', () => {
  it('top predictions and target log-probabilities from hand-written logits', () => {
    // one sequence, 2 positions, vocabulary 3
    const logits = tf.tensor3d([
      [
        [0, 1, 2],
        [3, 0, 0],
      ],
    ]);
    const { predicted, logProb } = predictionsAt(logits, [
      { row: 0, position: 0, target: 2 },
      { row: 0, position: 1, target: 1 },
    ]);
    assert.deepEqual(Array.from(predicted), [2, 0]);
    close(logProb[0], 2 - Math.log(1 + Math.E + Math.E ** 2), 1e-5); // log softmax by hand
    close(logProb[1], 0 - Math.log(Math.E ** 3 + 2), 1e-5);
    logits.dispose();
  });

  it('accuracy, exact match, loss and depth bins from hand-written outcomes', () => {
    const scores = summarizeOutcomes(
      [
        { tokens: 2, correctTokens: 2, logProb: -0.5, exact: true, depth: 0.1, facts: 4 },
        { tokens: 2, correctTokens: 1, logProb: -3, exact: false, depth: 0.15, facts: 4 },
        { tokens: 1, correctTokens: 1, logProb: -0.25, exact: false, depth: 0.9, facts: 1 },
      ],
      2,
      2,
    );
    close(scores.accuracy, 2 / 3);
    close(scores.tokenAccuracy, 4 / 5);
    close(scores.exactMatch, 1 / 3);
    close(scores.answerLoss, 3.75 / 5);
    // copying a random fact's value: 1/4, 1/4 and 1/1 for the three answers' examples
    assert.deepEqual(scores.chance, { digits: 0.01, randomFact: (0.25 + 0.25 + 1) / 3 });
    assert.deepEqual(
      scores.byDepth.map((bin) => bin.answers),
      [2, 0, 0, 0, 1],
    );
    close(scores.byDepth[0].accuracy, 0.5);
    assert.ok(Number.isNaN(scores.byDepth[1].accuracy), 'an empty bin has no accuracy');
  });

  it('a model that predicts "previous token + 1": teacher-forced vs greedy answers worked out by hand', () => {
    const vocab = 12;
    // logits[p] = one-hot(input[p] + 1): the prediction for position p+1 is input[p] + 1
    const successors = (tokens: tf.Tensor2D) =>
      tf
        .oneHot(tf.add(tokens, tf.scalar(1, 'int32')).mod(tf.scalar(vocab, 'int32')) as tf.Tensor2D, vocab)
        .toFloat() as tf.Tensor3D;
    const fake = {
      forward: (tokens: tf.Tensor2D) => ({ logits: successors(tokens) }),
      // greedy answers decode with a cache (src/measure/task-metrics.ts); this model needs none
      emptyCache: (batch: number, capacity: number) => [
        { keys: tf.zeros([batch, capacity, 1]), values: tf.zeros([batch, capacity, 1]) },
      ],
      decode: (tokens: tf.Tensor2D, _positions: tf.Tensor2D, cache: { keys: tf.Tensor; values: tf.Tensor }[]) => ({
        logits: successors(tokens),
        cache: cache.map(({ keys, values }) => ({ keys: keys.clone(), values: values.clone() })),
      }),
    } as unknown as Decoder;
    const example = (tokens: number[], answers: { start: number; end: number }[]): TaskExample => ({
      tokens: Int32Array.from(tokens),
      needles: [{ start: 0, end: 1, key: 'k', value: 'v', valueSpan: { start: 0, end: 1 } }],
      answers: answers.map((a) => ({ ...a, needle: 0, depth: 0 })),
      queryStart: 1,
    });
    const probes: ProbeSet = {
      spec: checkTaskSpec({ kind: 'needles', needles: 1, queries: 1 }, 'test'),
      length: 6,
      tokenizer: { kind: 'byte' },
      examples: [
        example([0, 1, 3, 4, 5, 6], [{ start: 4, end: 6 }]), // after 4 comes 5 ✓, after 5 comes 6 ✓: right, and greedy too
        example([0, 1, 2, 3, 7, 8], [{ start: 4, end: 6 }]), // 3 → predicts 4 ✗ (7); forced 7 → 8 ✓; greedy: 4 → 5 ✗
        example([0, 2, 9, 1, 2, 9], [{ start: 4, end: 6 }]), // 1 → 2 ✓; 2 → 3 ✗ (9)
      ],
    };
    const before = tf.memory().numTensors;
    const scores = scoreProbes(fake, probes, 2);
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    close(scores.accuracy, 1 / 3);
    close(scores.tokenAccuracy, 4 / 6);
    close(scores.exactMatch, 1 / 3);
  });
});

describe('attention allocation', () => {
  // keys 0..7: 0–1 the answer needle, 2–3 another needle, 4–5 distractor, 6–7 the query
  const where = {
    needles: [
      { start: 0, end: 2, key: 'a', value: '1', valueSpan: { start: 1, end: 2 } },
      { start: 2, end: 4, key: 'b', value: '2', valueSpan: { start: 3, end: 4 } },
    ],
    answers: [],
    queryStart: 6,
  };

  it('key roles follow the spans', () => {
    assert.deepEqual(Array.from(keyRoles(where, 0, 8)), [0, 0, 1, 1, 2, 2, 3, 3]);
    assert.deepEqual(Array.from(keyRoles(where, 1, 8)), [1, 1, 0, 0, 2, 2, 3, 3]);
  });

  it('mass per role and head from a hand-written map, a differential row as it is (negative entries included)', () => {
    const roles = [keyRoles(where, 0, 8), keyRoles(where, 1, 8)];
    // two rows × two heads × 8 keys
    const rows = Float32Array.from([
      // row 0, head 0: a softmax row
      0.5, 0.1, 0.1, 0, 0.1, 0.1, 0.05, 0.05,
      // row 0, head 1: a differential row summing to 0.5, with a negative entry
      0.4, 0, 0.2, -0.1, 0, 0, 0, 0,
      // row 1 (answer in the second needle), head 0
      0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0,
      // row 1, head 1
      0.25, 0.25, 0, 0, 0, 0, 0.5, 0,
    ]);
    const [head0, head1] = allocationOf(rows, 2, 8, roles);
    // head 0: row 0 answer 0.6, other 0.1, distractors 0.2, query 0.1; row 1 answer 0.5, other 0, distractors 0.5,
    // query 0
    close(head0.answer, (0.6 + 0.5) / 2);
    close(head0.otherNeedles, (0.1 + 0) / 2);
    close(head0.distractors, (0.2 + 0.5) / 2);
    close(head0.query, (0.1 + 0) / 2);
    // head 1: row 0 answer 0.4, other 0.2 − 0.1 = 0.1; row 1: answer 0, other 0.5, query 0.5
    close(head1.answer, (0.4 + 0) / 2, 1e-6);
    close(head1.otherNeedles, (0.1 + 0.5) / 2, 1e-6);
    close(head1.distractors, 0);
    close(head1.query, (0 + 0.5) / 2);
  });

  for (const attention of ATTENTIONS) {
    it(`${attention}: softmax maps spread a mass of 1, diff's differential map 1 − λ; heads average to the mean; no tensor is left behind`, () => {
      const config = tinyConfig({ attention, seqLen: 12, vocabSize: 11 });
      const model = Decoder.create(config, 3);
      scrambleParameters(model.params, 5);
      const tokens = Int32Array.from({ length: 13 }, (_, i) => (i * 5) % 11);
      const example: TaskExample = { tokens, ...where, answers: [{ start: 11, end: 13, needle: 0, depth: 0 }] };
      const probes: ProbeSet = {
        spec: checkTaskSpec({ kind: 'needles', needles: 2 }, 'test'),
        length: 13,
        examples: [example, example],
        tokenizer: { kind: 'byte' },
      };
      const before = tf.memory().numTensors;
      const { layers, snapshot } = analyzeModel(model, probes, { batchSize: 2, outlierExamples: 2 });
      assert.equal(tf.memory().numTensors, before);
      for (const layer of layers) {
        for (const [map, { mean, heads }] of Object.entries(layer.allocation)) {
          const total = ROLES.reduce((sum, role) => sum + mean[role], 0);
          if (map !== 'differential') close(total, 1, 1e-5);
          else if (attention === 'diff') close(total, 1 - layer.lambda!, 1e-5); // every row of A1 − λ·A2 sums to 1 − λ
          close(mean.answer, heads.reduce((sum, h) => sum + h.answer, 0) / heads.length, 1e-9);
        }
        if (attention === 'diff') assert.equal(typeof layer.lambda, 'number');
        if (attention === 'diff2') assert.ok(layer.gate!.mean > 0 && layer.gate!.mean < 1);
      }
      assert.deepEqual(snapshot.rows, [10, 11]);
      assert.equal(snapshot.weights[0][0].length, 12);
      model.dispose();
    });
  }
});

describe('outlier statistics', () => {
  it('magnitudes and kurtosis of a hand-written tensor', () => {
    // values −2, −1, 0, 1, 2: mean 0, m2 = 10/5 = 2, m4 = 34/5 = 6.8, kurtosis 6.8 / 4 = 1.7
    const stats = magnitudeStats([-2, -1, 0, 1, 2]);
    assert.equal(stats.top1, 2);
    assert.equal(stats.top10, 0, 'fewer than 10 values: the smallest magnitude');
    assert.equal(stats.median, 1);
    assert.equal(stats.ratio, 2);
    close(stats.kurtosis, 1.7);
    // 1..20 and one outlier −100: top-1 100, 10th largest magnitude 12, median of 21 magnitudes 11
    const outlier = magnitudeStats([...Array.from({ length: 20 }, (_, i) => i + 1), -100]);
    assert.deepEqual([outlier.top1, outlier.top10, outlier.median], [100, 12, 11]);
    close(outlier.ratio, 100 / 11);
  });

  it('only the causal (visible) entries of attention logits count', () => {
    // one 3×3 block: visible are (0,0), (1,0), (1,1), (2,0), (2,1), (2,2)
    const block = Float32Array.from([1, 99, 99, 2, 3, 99, 4, 5, 6]);
    assert.deepEqual(Array.from(visibleEntries(block, 3)), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(
      Array.from(visibleEntries(Float32Array.from([...block, ...block]), 3)),
      [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6],
    );
  });

  it('gate quantiles and moments', () => {
    const values = Array.from({ length: 100 }, (_, i) => i / 100);
    const stats = gateStats(values);
    close(stats.mean, 0.495);
    close(stats.p05, 0.05);
    close(stats.p50, 0.5);
    close(stats.p95, 0.95);
    close(stats.std, Math.sqrt(values.reduce((s, v) => s + (v - 0.495) ** 2, 0) / 100));
  });

  for (const attention of ATTENTIONS) {
    it(`${attention}: captured logits are the pre-softmax logits of the captured maps`, () => {
      const config = tinyConfig({ attention });
      const model = Decoder.create(config, 1);
      scrambleParameters(model.params, 2);
      tf.tidy(() => {
        const tokens = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8]], undefined, 'int32');
        const { maps } = model.forward(tokens, { capture: true }).captures![1];
        const mask = tf.linalg.bandPart(tf.ones([8, 8]), -1, 0); // 1 where key ≤ query
        const softmax = (logits: tf.Tensor) => tf.softmax(tf.add(logits, tf.mul(tf.sub(1, mask), -1e9)));
        const expected = attention === 'standard' ? maps.attention : maps.a1;
        const logits =
          attention === 'standard' ? maps.logits : maps.logits.slice([0, 0, 0, 0, 0], [-1, -1, 1, -1, -1]).squeeze([2]);
        assert.ok(tf.max(tf.abs(tf.sub(softmax(logits), expected))).dataSync()[0] < 1e-5);
      });
      model.dispose();
    });
  }
});

describe('measuring long contexts a few rows at a time', () => {
  it('the budget by hand: 256 MiB over layers · maps · 6 copies · T² · 4 bytes', () => {
    const config = tinyConfig({ layers: 4, heads: 4, seqLen: 1024 });
    assert.equal(Math.floor(2 ** 28 / (4 * 4 * 6 * 1024 * 1024 * 4)), 0);
    assert.equal(measureRows(config, 1024), 1, 'never fewer than one row');
    assert.equal(measureRows(config, 64), Math.floor(2 ** 28 / (4 * 4 * 6 * 64 * 64 * 4))); // 682
    assert.equal(
      measureRows({ ...config, attention: 'diff2' }, 256),
      Math.floor(2 ** 28 / (4 * 8 * 6 * 256 * 256 * 4)),
    );
  });

  it('extremes and evaluation loss of 7 rows taken 3 at a time equal one pass over all 7', () => {
    for (const attention of ATTENTIONS) {
      const config = tinyConfig({ attention });
      const model = Decoder.create(config, 3);
      scrambleParameters(model.params, 4);
      const tokens = tf.randomUniform([7, 9], 0, config.vocabSize, 'int32', 9);
      const inputs = tokens.slice([0, 0], [7, 8]) as tf.Tensor2D;
      const targets = tokens.slice([0, 1], [7, 8]) as tf.Tensor2D;
      const split = layerExtremes(model, inputs, 3);
      tf.tidy(() => {
        const visible = tf.linalg.bandPart(tf.ones([8, 8]), -1, 0).cast('bool');
        model.forward(inputs, { capture: true }).captures!.forEach((layer, i) => {
          const logits = layer.maps.logits;
          assert.equal(
            split.maxLogit[i],
            tf.where(visible, logits, tf.fill(logits.shape, -Infinity)).max().dataSync()[0],
          );
          assert.equal(split.maxActivation[i], layer.hidden.abs().max().dataSync()[0]);
        });
      });
      const evaluation = new EvaluationLoss(model, 3);
      const batch = {
        batch: 7,
        length: 8,
        inputs: inputs.dataSync() as Int32Array,
        targets: targets.dataSync() as Int32Array,
      };
      const before = tf.memory().numTensors;
      const { loss, tokens: scored } = evaluation.mean([batch]);
      assert.equal(tf.memory().numTensors, before, 'the evaluation leaves no tensor behind');
      const whole = tf.tidy(() => model.loss(inputs, targets).dataSync()[0]);
      assert.equal(scored, 7 * 8);
      close(loss, whole, 1e-5);
      evaluation.dispose();
      tf.dispose([tokens, inputs, targets]);
      model.dispose();
    }
  });
});

describe('stability statistics per layer', () => {
  it('largest visible attention logit and residual magnitude equal those read off the captured tensors by hand', () => {
    for (const attention of ATTENTIONS) {
      const model = Decoder.create(tinyConfig({ attention }), 5);
      scrambleParameters(model.params, 2);
      const length = 6;
      const inputs = tf.tensor2d(
        [
          [1, 5, 9, 2, 7, 3],
          [4, 4, 8, 0, 6, 1],
        ],
        [2, length],
        'int32',
      );
      const got = layerExtremes(model, inputs);
      const captures = model.forward(inputs, { capture: true }).captures!;
      captures.forEach((layer, index) => {
        const logits = layer.maps.logits.dataSync();
        let largest = -Infinity; // over every [T, T] block, entries with key ≤ query
        for (let block = 0; block < logits.length / (length * length); block++)
          for (let query = 0; query < length; query++)
            for (let key = 0; key <= query; key++)
              largest = Math.max(largest, logits[block * length * length + query * length + key]);
        const hidden = Array.from(layer.hidden.dataSync(), Math.abs);
        assert.equal(got.maxLogit[index], largest, `${attention} layer ${index}`);
        assert.equal(got.maxActivation[index], Math.max(...hidden), `${attention} layer ${index}`);
      });
      tf.dispose(captures as unknown as tf.TensorContainer);
      inputs.dispose();
      model.dispose();
    }
  });
});
