import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configFingerprint } from '../src/config/fingerprint.js';
import { resolveConfig } from '../src/config/load.js';
import { attentionLabel, headDim, type ModelConfig, resolveModelConfig, switchesOff } from '../src/config/model.js';
import { UserError } from '../src/errors.js';
import { Decoder } from '../src/model/decoder.js';
import { countParameters, parameterSpecs } from '../src/model/parameters.js';
import { ABLATIONS } from './helpers/ablations.js';
import { engine, randomTokens, tinyConfig } from './helpers/setup.js';

/**
 * The ablation switches outside the math (which test/model.test.ts and test/gradients.test.ts hold to
 * an independent formulation and to finite differences): each default builds today's model, a key
 * off its default says so wherever the model is named, and a key that cannot apply is refused.
 */
describe('ablation switches', () => {
  it('at their defaults, set or not, they build the same model: the same parameters, logits and fingerprint', async () => {
    await engine('cpu');
    const explicit: Record<string, Partial<ModelConfig>> = {
      standard: { headNorm: 'off', headDim: 4 },
      diff: { headNorm: 'on', lambdaInit: 'depth', lambda: 'reparam', outputScale: true, headDim: 4 },
      diff2: { headNorm: 'off', gate: 'token', pairing: 'group', headDim: 4 },
    };
    for (const [attention, switches] of Object.entries(explicit) as [ModelConfig['attention'], object][]) {
      const plain = tinyConfig({ attention, width: 16, heads: 4 });
      const set = tinyConfig({ attention, width: 16, heads: 4, ...switches });
      assert.deepEqual(parameterSpecs(set), parameterSpecs(plain), attention);
      const tokens = randomTokens(2, plain.seqLen, plain.vocabSize, 3);
      const logits = (config: ModelConfig) => {
        const model = Decoder.create(config, 5);
        const values = tf.tidy(() => model.forward(tokens).logits.dataSync());
        model.dispose();
        return Array.from(values);
      };
      assert.deepEqual(logits(set), logits(plain), `${attention}: the same bits`);
      tokens.dispose();
      assert.equal(attentionLabel(set), attention);
      // fingerprints hash keys: the defaults' own values leave them as they were (headNorm auto, not the
      // equivalent off or on; headDim 0, not the equal width / heads)
      const literal = { ...switches, headNorm: 'auto', headDim: 0 };
      assert.equal(
        configFingerprint(resolveConfig({ model: { attention, ...literal } })),
        configFingerprint(resolveConfig({ model: { attention } })),
      );
    }
  });

  it('a key off its default is named wherever the model is: label, fingerprint, parameter count', () => {
    const config = tinyConfig({ attention: 'diff', headNorm: 'off', lambda: 'fixed', lambdaInit: 0.8 });
    assert.deepEqual(switchesOff(config), ['headNorm=off', 'lambdaInit=0.8', 'lambda=fixed']);
    assert.equal(attentionLabel(config), 'diff (headNorm=off, lambdaInit=0.8, lambda=fixed)');
    const paper = tinyConfig({ attention: 'diff' });
    // per layer: four λ vectors of d = 4 entries and the norm's 2d = 8 weights are gone
    assert.equal(countParameters(paper).total - countParameters(config).total, paper.layers * (4 * 4 + 8));
    const fingerprint = (model: object) => configFingerprint(resolveConfig({ model }));
    assert.notEqual(fingerprint({ headNorm: 'off' }), fingerprint({}));
    // a learnable λ per head: h = H/2 scalars in place of the four vectors
    const scalar = tinyConfig({ attention: 'diff', lambda: 'scalar' });
    assert.equal(countParameters(paper).total - countParameters(scalar).total, paper.layers * (4 * 4 - 2));
    // the 1.5×-heads baseline: six heads of the four-head width, so attention grows by half
    const wider = tinyConfig({ attention: 'standard', heads: 6, kvHeads: 6, headDim: 4 });
    const base = tinyConfig({ attention: 'standard' });
    assert.equal(headDim(wider), 4);
    assert.equal(countParameters(wider).attention, 1.5 * countParameters(base).attention);
  });

  it('a key that cannot apply, or a value out of range, is refused in one line naming the key', () => {
    const refused = (overrides: Partial<ModelConfig>, pattern: RegExp) =>
      assert.throws(
        () => resolveModelConfig({ vocabSize: 11, width: 16, heads: 4, ...overrides }),
        (error: Error) => error instanceof UserError && pattern.test(error.message) && !error.message.includes('\n'),
      );
    refused({ attention: 'standard', lambdaInit: 0.8 }, /model\.lambdaInit = 0\.8: applies to diff attention only/);
    refused({ attention: 'diff2', lambda: 'fixed' }, /model\.lambda = "fixed": applies to diff attention only/);
    refused({ attention: 'diff', gate: 'none' }, /model\.gate = "none": applies to diff2 attention only/);
    refused({ attention: 'standard', pairing: 'across' }, /model\.pairing = "across": applies to diff2/);
    refused({ attention: 'diff', outputScale: false, headDim: 3 }, /model\.headDim = 3: must be 0 .* or an even/);
    refused({ attention: 'diff', lambdaInit: 1 }, /model\.lambdaInit = 1: must be depth .* or a number in \[0, 1\)/);
    refused(
      { attention: 'diff2', pairing: 'across', kvHeads: 1 },
      /model\.pairing = "across": .* needs model\.kvHeads ≥ 2/,
    );
    refused({ attention: 'diff2', gate: 'sigmoid' as never }, /model\.gate = "sigmoid": must be one of token, scalar/);
    // a head width of its own frees the width from the head count
    assert.equal(headDim(resolveModelConfig({ attention: 'standard', width: 16, heads: 6, headDim: 4 })), 4);
    assert.throws(() => resolveModelConfig({ attention: 'standard', width: 16, heads: 6 }), /or set model\.headDim/);
  });

  it('every ablation of the tests is one the config accepts, through the schema as a user would write it', () => {
    for (const { label, config } of ABLATIONS)
      assert.doesNotThrow(() => resolveConfig({ model: { width: 16, ...config } }), label);
  });
});
