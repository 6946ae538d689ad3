import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ATTENTIONS } from '../src/config/model.js';
import { Decoder } from '../src/model/decoder.js';
import { lossAndGradients } from '../src/train/step.js';
import { ABLATIONS } from './helpers/ablations.js';
import { TEST_ENGINES } from './helpers/engines.js';
import { engine, randomTokens, scrambleParameters, tinyConfig } from './helpers/setup.js';

/** Every attention parameter of layer 0 (and the embedding) checked against central differences, on every engine. */
for (const name of TEST_ENGINES)
  describe(`gradients equal finite differences (${name})`, () => {
    const cases = [
      ...ATTENTIONS.map((attention) => ({ label: attention, config: { attention } })),
      ...ABLATIONS.map(({ label, config }) => ({ label: `ablation: ${label}`, config: { ...config, kvHeads: 2 } })),
    ];
    for (const { label, config: switches } of cases) {
      it(label, async () => {
        await engine(name);
        const config = tinyConfig({
          layers: 1,
          width: 8,
          heads: 2,
          seqLen: 4,
          vocabSize: 5,
          ffnMultiple: 4,
          ...switches,
        });
        const model = Decoder.create(config, 3);
        scrambleParameters(model.params, 4, 0.5);
        const inputs = randomTokens(2, config.seqLen, config.vocabSize, 1);
        const targets = randomTokens(2, config.seqLen, config.vocabSize, 2);
        const lossValue = () => tf.tidy(() => model.loss(inputs, targets).dataSync()[0]);
        const gradByName = tf.tidy(() => {
          const { grads } = lossAndGradients(model, { inputs, targets });
          return Object.fromEntries(
            Object.entries(grads).map(([name, grad]) => [name, grad.dataSync() as Float32Array]),
          );
        });
        const names = Object.keys(model.params).filter(
          (name) => name.startsWith('layers.0.attn.') || name === 'embed.weight',
        );

        const eps = 1e-2;
        let checked = 0;
        for (const name of names) {
          const variable = model.params[name];
          const values = variable.dataSync().slice();
          for (let i = 0; i < values.length; i += Math.max(1, Math.floor(values.length / 6))) {
            const at = (delta: number) => {
              const copy = values.slice();
              copy[i] += delta;
              variable.assign(tf.tensor(copy, variable.shape));
              return lossValue();
            };
            const numeric = (at(eps) - at(-eps)) / (2 * eps);
            variable.assign(tf.tensor(values, variable.shape));
            const analytic = gradByName[name][i];
            assert.ok(
              Math.abs(numeric - analytic) < 2e-3 + 2e-2 * Math.abs(analytic),
              `${name}[${i}]: analytic ${analytic}, numeric ${numeric}`,
            );
            if (Math.abs(analytic) > 1e-2) checked++;
          }
        }
        assert.ok(checked > 10, `only ${checked} non-trivial gradient entries were checked`);
        tf.dispose([inputs, targets]);
        model.dispose();
      });
    }
  });
