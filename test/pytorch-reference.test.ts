import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findPython, PYTORCH_ATTENTIONS, referenceShape, runPytorchReference } from '../bench/pytorch.js';
import type { Attention } from '../src/config/model.js';
import { countParameters } from '../src/model/parameters.js';
import { tinyConfig } from './helpers/setup.js';

/**
 * The bench's PyTorch reference (bench/pytorch-reference.py) must build the model difft builds, or its
 * timings compare different work. Its parameter count, counted by torch from the modules it wrote
 * (nn.Linear, nn.RMSNorm, the official diff module's λ vectors and sub-layer norm), must equal difft's.
 */
describe('the PyTorch reference of the bench', () => {
  it('is shaped by difft and refuses what it does not build', () => {
    const shape = referenceShape(tinyConfig({ width: 16, heads: 4 }), 2);
    assert.equal(shape.ffnHidden, 48); // ⌈8·16/3⌉ = 43, up to a multiple of ffnMultiple 8
    assert.throws(() => referenceShape(tinyConfig({ heads: 4, kvHeads: 2 }), 2), /kvHeads = heads/);
    assert.throws(() => referenceShape(tinyConfig({ tieEmbeddings: false }), 2), /tied head/);
  });

  const python = findPython(['torch']);
  for (const attention of PYTORCH_ATTENTIONS as Attention[]) {
    it(`${attention}: torch counts difft's parameters and a step runs`, {
      skip: python ? false : 'no Python with torch here (set DIFFT_PYTHON)',
    }, () => {
      const config = tinyConfig({ attention, width: 16, heads: 4, seqLen: 8 });
      const result = runPytorchReference(python!, config, 2, { steps: 1, threads: 1 });
      assert.ok(!('error' in result), JSON.stringify(result));
      assert.equal(result.parameters, countParameters(config).total);
      assert.ok(result.msPerStep > 0 && result.tokensPerSecond > 0);
    });
  }
});
