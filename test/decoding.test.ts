import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ATTENTIONS } from '../src/config/model.js';
import type { TaskExample } from '../src/data/tasks/generate.js';
import { capacityFor, KvDecoding } from '../src/generate/decoding.js';
import { generateBatch, generateIds } from '../src/generate/generate.js';
import { deviceSampling, sampleOnDevice, sampleToken } from '../src/generate/sample.js';
import { greedyAnswers } from '../src/measure/task-metrics.js';
import { Decoder } from '../src/model/decoder.js';
import { mulberry32 } from '../src/random.js';
import { TEST_ENGINES } from './helpers/engines.js';
import { engine, maxAbsDiff, scrambleParameters, tinyConfig } from './helpers/setup.js';

/**
 * Decoding with fixed-capacity key/value caches (src/generate/decoding.ts): the cache step against the
 * full forward, greedy decoding against recomputing the whole context at every token, batches against
 * single rows, and the device sampler against the JavaScript one.
 */
function scrambled(attention: (typeof ATTENTIONS)[number], seqLen = 24): Decoder {
  const model = Decoder.create(tinyConfig({ attention, kvHeads: 2, seqLen, vocabSize: 13 }), 2);
  scrambleParameters(model.params, 3, 0.4);
  return model;
}

/** The logits of the whole sequence at once, [T, V]. */
function fullLogits(model: Decoder, tokens: number[]): number[][] {
  return tf.tidy(() => model.forward(tf.tensor2d([tokens], undefined, 'int32')).logits.arraySync()[0]);
}

/** Greedy decoding by recomputing the whole context at every token (no cache), sliding as generate does. */
function recomputed(model: Decoder, context: number[], count: number): number[] {
  const window = model.config.seqLen;
  const tokens = context.slice();
  let visible = tokens.slice(-window);
  for (let i = 0; i < count; i++) {
    const logits = fullLogits(model, visible).at(-1)!;
    const next = sampleToken(logits, { temperature: 0 }, () => 0);
    tokens.push(next);
    visible = visible.length < window ? [...visible, next] : tokens.slice(-Math.max(1, Math.floor(window / 2)));
  }
  return tokens.slice(context.length);
}

describe('decoding with fixed-capacity caches', () => {
  for (const name of TEST_ENGINES) {
    for (const attention of ATTENTIONS) {
      it(`${attention}, ${name}: a prompt and then one token at a time give the full forward's logits, row by row`, async () => {
        await engine(name);
        const model = scrambled(attention);
        const before = tf.memory().numTensors;
        const rows = [
          [1, 5, 2, 7, 3, 3, 9, 0, 4, 11, 6],
          [8, 2, 2, 10, 12, 1, 7, 5],
        ];
        const prompts = [7, 4]; // row 1's prompt is padded to 7 on the right: its slots 4-6 are written over later
        const full = rows.map((row) => fullLogits(model, row));
        const errors: number[] = [];
        let cache = model.emptyCache(2, 16);
        const call = (tokens: number[][], positions: number[][]) => {
          const [logits, ...written] = tf.tidy(() => {
            const shape: [number, number] = [tokens.length, tokens[0].length];
            const out = model.decode(
              tf.tensor2d(tokens.flat(), shape, 'int32'),
              tf.tensor2d(positions.flat(), shape, 'int32'),
              cache,
            );
            return [out.logits, ...out.cache.flatMap(({ keys, values }) => [keys!, values!])];
          });
          tf.dispose(cache.flatMap(({ keys, values }) => [keys!, values!]));
          cache = cache.map((_, l) => ({ keys: written[2 * l], values: written[2 * l + 1] }));
          const values = (logits as tf.Tensor3D).arraySync();
          logits.dispose();
          return values;
        };
        const padded = rows.map((row, r) => [...row.slice(0, prompts[r]), ...new Array(7 - prompts[r]).fill(0)]);
        const first = call(
          padded,
          [0, 1].map(() => [0, 1, 2, 3, 4, 5, 6]),
        );
        rows.forEach((_, r) => {
          for (let t = 0; t < prompts[r]; t++) errors.push(maxAbsDiff(first[r][t], full[r][t]));
        });
        for (let k = 0; k < 4; k++) {
          const at = prompts.map((p) => p + k);
          const step = call(
            rows.map((row, r) => [row[at[r]]]),
            at.map((position) => [position]),
          );
          for (const r of [0, 1]) errors.push(maxAbsDiff(step[r][0], full[r][at[r]]));
        }
        tf.dispose(cache.flatMap(({ keys, values }) => [keys!, values!]));
        assert.ok(Math.max(...errors) < 1e-4, `largest difference ${Math.max(...errors)}`);
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
        model.dispose();
      });

      it(`${attention}, ${name}: greedy decoding gives the tokens of recomputing every context, past the window too`, async () => {
        await engine(name);
        const model = scrambled(attention);
        const before = tf.memory().numTensors;
        const prompt = [1, 5, 2, 7];
        assert.deepEqual(
          generateIds(model, prompt, { temperature: 0, maxTokens: 50, seed: 0 }),
          recomputed(model, prompt, 50),
        );
        // a batch of prompts of different lengths: each row as it would be alone (before the window slides)
        const contexts = [prompt, [3, 3, 9, 0, 4, 11, 6, 2, 8], [12]];
        const alone = contexts.map((context) => recomputed(model, context, 12));
        assert.deepEqual(generateBatch(model, contexts, { temperature: 0, maxTokens: 12, seed: 0 }), alone);
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
        model.dispose();
      });
    }

    it(`${name}: seeded sampling repeats itself; sample s of a batch is the single run seeded seed + s`, async () => {
      await engine(name);
      const model = scrambled('diff2');
      const options = { temperature: 1.2, topK: 8, topP: 0.9, maxTokens: 40 };
      const prompt = [4, 1, 1];
      const batch = generateBatch(model, [prompt, prompt, prompt], { ...options, seed: 7 });
      assert.deepEqual(generateBatch(model, [prompt, prompt, prompt], { ...options, seed: 7 }), batch);
      for (const [s, row] of batch.entries())
        assert.deepEqual(generateIds(model, prompt, { ...options, seed: 7 + s }), row);
      assert.notDeepEqual(batch[0], batch[1], 'different seeds, different samples');
      model.dispose();
    });
  }

  it("the device sampler picks sampleToken's token for every draw (temperature, top-k, top-p)", async () => {
    await engine('cpu');
    let state = 11;
    const random = () => {
      const { value, next } = mulberry32(state);
      state = next;
      return value;
    };
    const vocab = 12;
    const logits = Array.from({ length: 3 }, () => Array.from({ length: vocab }, () => 4 * random() - 2));
    const draws = Array.from({ length: 49 }, (_, i) => (i + 0.5) / 49);
    for (const options of [
      { temperature: 0 },
      { temperature: 1 },
      { temperature: 0.5, topK: 3 },
      { temperature: 2, topP: 0.6 },
      { temperature: 1, topK: 5, topP: 0.3 },
      { temperature: 1, topP: 0 },
    ]) {
      const sampling = deviceSampling(options, vocab);
      for (const u of draws) {
        const picked = tf.tidy(() =>
          Array.from(sampleOnDevice(tf.tensor2d(logits), tf.tensor1d(logits.map(() => u)), sampling).dataSync()),
        );
        assert.deepEqual(
          picked,
          logits.map((row) => sampleToken(row, options, () => u)),
          `${JSON.stringify(options)}, draw ${u}`,
        );
      }
      tf.dispose(Object.values(sampling));
    }
  });

  it('capacities: where programs compile 256, then four times more; op by op 16, then twice; never past the window', () => {
    assert.deepEqual(
      [1, 256, 257, 1025, 5000].map((n) => capacityFor(n, 4096, true)),
      [256, 256, 1024, 4096, 4096],
    );
    assert.deepEqual(
      [1, 16, 17, 100, 600].map((n) => capacityFor(n, 512, false)),
      [16, 16, 32, 128, 512],
    );
    assert.equal(capacityFor(40, 24, false), 24);
    assert.ok(KvDecoding);
  });
});

describe('greedy answers of a task on the key/value caches', () => {
  /** The answers by recomputing every probe window with the answer tokens so far replaced by predictions. */
  function recomputedAnswers(model: Decoder, examples: TaskExample[], length: number): number[] {
    return examples.flatMap((example) =>
      example.answers.flatMap((answer) => {
        const inputs = Array.from(example.tokens.subarray(0, length - 1));
        const predicted: number[] = [];
        for (let at = answer.start; at < answer.end; at++) {
          const next = sampleToken(fullLogits(model, inputs)[at - 1], { temperature: 0 }, () => 0);
          predicted.push(next);
          if (at < length - 1) inputs[at] = next;
        }
        return predicted;
      }),
    );
  }

  for (const attention of ATTENTIONS) {
    it(`${attention}: one read of the text before each answer, then a step per token, as recomputing gives`, async () => {
      await engine('cpu');
      const model = scrambled(attention);
      const length = 20;
      let state = 5;
      const draw = (n: number) => {
        const { value, next } = mulberry32(state);
        state = next;
        return Math.floor(value * n);
      };
      const example = (answers: { start: number; end: number }[]): TaskExample => ({
        tokens: Int32Array.from({ length }, () => draw(13)),
        needles: [{ start: 0, end: 1, key: 'k', value: 'v', valueSpan: { start: 0, end: 1 } }],
        answers: answers.map((a) => ({ ...a, needle: 0, depth: 0 })),
        queryStart: 1,
      });
      // answers of different lengths at different places, one at the very end of the window
      const examples = [
        example([{ start: 5, end: 8 }]),
        example([
          { start: 3, end: 4 },
          { start: 12, end: 16 },
        ]),
        example([{ start: 17, end: 20 }]),
      ];
      const before = tf.memory().numTensors;
      const answers = Array.from(greedyAnswers(model, examples, length));
      assert.equal(tf.memory().numTensors, before, 'tensors leaked');
      assert.deepEqual(answers, recomputedAnswers(model, examples, length));
      model.dispose();
    });
  }
});
