import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EngineName } from '../src/backend/engines.js';
import {
  ATTENTIONS,
  lambdaInit,
  MODEL_DEFAULTS,
  resolveModelConfig,
  type Attention,
  type ModelConfig,
} from '../src/config/model.js';
import { Decoder } from '../src/model/decoder.js';
import { countParameters } from '../src/model/parameters.js';
import { quantizeLogits } from '../src/model/attention/shared.js';
import { applyRope, createRopeTables, ropeWindow } from '../src/model/rope.js';
import { ABLATIONS } from './helpers/ablations.js';
import { referenceForward, ropeByHand, type Matrix } from './helpers/reference.js';
import { TEST_ENGINES } from './helpers/engines.js';
import { engine, maxAbsDiff, randomTokens, scrambleParameters, tinyConfig, weightsOf } from './helpers/setup.js';

before(() => engine('cpu'));

describe('λ_init', () => {
  it('is 0.8 − 0.6·exp(−0.3·l) for layers 0..5', () => {
    // computed independently (python: 0.8 - 0.6*math.exp(-0.3*l))
    const expected = [
      0.2, 0.35550906759096934, 0.4707130183435842, 0.5560582041556406, 0.6192834728526788, 0.6661219039109422,
    ];
    expected.forEach(
      (value, layer) => void assert.ok(Math.abs(lambdaInit(MODEL_DEFAULTS, layer) - value) < 1e-12, `layer ${layer}`),
    );
  });
});

describe('parameter counts', () => {
  const D = 64,
    H = 4,
    L = 3,
    V = 50;
  const d = D / H;
  const count = (attention: Attention) =>
    countParameters(resolveModelConfig({ attention, vocabSize: V, layers: L, width: D, heads: H, ffnMultiple: 16 }))
      .total;

  it('standard matches a hand count', () => {
    const hidden = 176; // ceil(8·64/3 = 170.67) rounded up to a multiple of 16
    const perLayer = 4 * D * D + 3 * D * hidden + 2 * D;
    assert.equal(count('standard'), V * D + L * perLayer + D);
  });
  it('diff adds 6·d per layer (four λ vectors of d, one subln of 2d)', () => {
    assert.equal(count('diff') - count('standard'), L * 6 * d);
  });
  it('diff2 adds D·H·d + D·H per layer (twice the queries, W_λ)', () => {
    assert.equal(count('diff2') - count('standard'), L * (D * H * d + D * H));
  });
  it('equals the sizes of the variables the model creates, with and without tied embeddings', () => {
    for (const attention of ATTENTIONS) {
      for (const tieEmbeddings of [true, false]) {
        const config = tinyConfig({ attention, tieEmbeddings, kvHeads: 2 });
        const model = Decoder.create(config, 1);
        const sizes = model.variables.reduce((sum, v) => sum + v.size, 0);
        assert.equal(sizes, countParameters(config).total, `${attention} tie=${tieEmbeddings}`);
        model.dispose();
      }
    }
  });
});

describe('RoPE', () => {
  it('rotates adjacent pairs as written out by hand', () => {
    const dim = 8,
      length = 5;
    const tables = createRopeTables(length, dim, 10000);
    const values = Array.from({ length: length * dim }, (_, i) => Math.sin(i + 1));
    const rotated = tf.tidy(() =>
      applyRope(tf.tensor(values, [1, length, 1, dim]), ropeWindow(tables, 0, length), tables.rotation).arraySync(),
    ) as number[][][][];
    for (let t = 0; t < length; t++) {
      const expected = ropeByHand(values.slice(t * dim, (t + 1) * dim), t, 10000);
      assert.ok(maxAbsDiff(rotated[0][t][0], expected) < 1e-6, `position ${t}`);
    }
    // a rotation keeps the norm, and position 0 is the identity
    assert.ok(maxAbsDiff(rotated[0][0][0], values.slice(0, dim)) < 1e-7);
    tf.dispose([tables.cos, tables.sin, tables.rotation]);
  });
});

/** Model logits and captured maps for sequence `b` against the float64 reference. */
async function compareWithReference(
  engineName: EngineName,
  attention: Attention,
  kvHeads: number,
  tieEmbeddings = true,
  switches: Partial<ModelConfig> = {},
) {
  await engine(engineName);
  const config = tinyConfig({ attention, kvHeads, heads: 4, tieEmbeddings, ...switches });
  const model = Decoder.create(config, 7);
  scrambleParameters(model.params, 3);
  const tokens = randomTokens(2, config.seqLen, config.vocabSize, 5);
  const { logits, maps } = tf.tidy(() => {
    const result = model.forward(tokens, { capture: true });
    return {
      logits: result.logits.arraySync(),
      maps: result.captures!.map((c) => Object.fromEntries(Object.entries(c.maps).map(([k, v]) => [k, v.arraySync()]))),
    };
  });
  const weights = weightsOf(model.params);
  const tokenRows = tokens.arraySync();
  for (let b = 0; b < 2; b++) {
    const referenceMaps: Record<string, Matrix>[][] = [];
    const expected = referenceForward(config, weights, tokenRows[b], referenceMaps);
    assert.ok(maxAbsDiff(logits[b].flat(), expected.flat()) < 1e-4, `${attention} logits, sequence ${b}`);
    for (let layer = 0; layer < config.layers; layer++) {
      referenceMaps[layer].forEach((headMaps, head) => {
        for (const name of attention === 'standard' ? ['attention'] : ['a1', 'a2', 'differential']) {
          const got = (maps[layer][name] as number[][][][])[b][head];
          const error = maxAbsDiff(got.flat(), headMaps[name].flat());
          // float32 against float64: relative to the map's scale (a large λ, as scrambled weights give, magnifies A2)
          const scale = Math.max(1, ...headMaps[name].flat().map(Math.abs));
          assert.ok(error < 1e-4 * scale, `${name} layer ${layer} head ${head}: ${error} (scale ${scale})`);
        }
      });
    }
  }
  tokens.dispose();
  model.dispose();
}

for (const name of TEST_ENGINES)
  describe(`the decoder equals an independent float64 formulation (${name})`, () => {
    after(() => engine('cpu'));
    for (const attention of ATTENTIONS) {
      it(`${attention}, multi-head`, () => compareWithReference(name, attention, 4));
      it(`${attention}, grouped-query (kvHeads 2)`, () => compareWithReference(name, attention, 2));
    }
    it('with an untied LM head', () => compareWithReference(name, 'diff', 4, false));
    for (const { label, config } of ABLATIONS)
      it(`ablation: ${label}`, () => compareWithReference(name, config.attention!, config.kvHeads ?? 4, true, config));
  });

describe('diff attention', () => {
  it('with λ forced to 0 equals (1 − λ_init)·RMSNorm(A1·V), the single-map formula', () => {
    const config = tinyConfig({ attention: 'diff', layers: 1 });
    const model = Decoder.create(config, 2);
    const d = config.width / config.heads;
    // λ = exp(q1·k1) − exp(q2·k2) + λ_init = 1 − (1 + λ_init) + λ_init = 0
    const unit = Array.from({ length: d }, (_, i) => (i === 0 ? 1 : 0));
    const root = Math.sqrt(Math.log(1 + lambdaInit(MODEL_DEFAULTS, 0)));
    model.params['layers.0.attn.lambda_q1'].assign(tf.zeros([d]));
    model.params['layers.0.attn.lambda_q2'].assign(tf.tensor(unit.map((u) => u * root)));
    model.params['layers.0.attn.lambda_k2'].assign(tf.tensor(unit.map((u) => u * root)));
    assert.ok(Math.abs(model.diagnostics().lambdas![0]) < 1e-6);
    scrambleParameters(
      {
        q: model.params['layers.0.attn.q_proj.weight'],
        k: model.params['layers.0.attn.k_proj.weight'],
        s: model.params['layers.0.attn.subln.weight'],
      },
      9,
    );

    const tokens = randomTokens(1, config.seqLen, config.vocabSize, 1);
    const { differential, a1 } = tf.tidy(() => {
      const maps = model.forward(tokens, { capture: true }).captures![0].maps;
      return {
        differential: maps.differential.arraySync() as number[][][][],
        a1: maps.a1.arraySync() as number[][][][],
      };
    });
    // the differential map is A1 alone
    assert.ok(maxAbsDiff(differential.flat(3), a1.flat(3)) < 1e-7);
    // and A1 is a proper causal softmax map: rows sum to one, nothing above the diagonal
    for (const head of a1[0])
      head.forEach((row, t) => {
        assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5);
        assert.ok(row.slice(t + 1).every((value) => value === 0));
      });
    // the output: logits equal the float64 reference, whose head is (1 − λ_init)·RMSNorm((A1 − λ·A2)·V) with λ = 0 ...
    const logits = tf.tidy(() => model.forward(tokens).logits.dataSync());
    const reference = referenceForward(config, weightsOf(model.params), (tokens.arraySync() as number[][])[0]).flat();
    assert.ok(maxAbsDiff(logits, reference) < 1e-4, 'logits equal the single-map formula');
    // ... and A2 plays no part: re-drawing the query and key columns of every second sub-head (2i+1) changes nothing
    for (const name of ['q_proj.weight', 'k_proj.weight']) {
      const weight = model.params[`layers.0.attn.${name}`];
      const [rows, cols] = weight.shape;
      const redrawn = (weight.arraySync() as number[][]).map((row, r) =>
        row.map((value, c) => (Math.floor(c / d) % 2 === 1 ? Math.sin(r * 31 + c * 7) : value)),
      );
      assert.equal(redrawn.length * redrawn[0].length, rows * cols);
      weight.assign(tf.tensor2d(redrawn));
    }
    const withOtherA2 = tf.tidy(() => model.forward(tokens).logits.dataSync());
    assert.ok(maxAbsDiff(withOtherA2, logits) < 1e-6, 'A2 does not reach the output when λ = 0');
    tokens.dispose();
    model.dispose();
  });

  it('reads λ of every layer', () => {
    const config = tinyConfig({ attention: 'diff', layers: 3 });
    const model = Decoder.create(config, 4);
    const weights = weightsOf(model.params);
    const dot = (a: string, b: string) =>
      (weights[a] as number[]).reduce((s, v, i) => s + v * (weights[b] as number[])[i], 0);
    const expected = [0, 1, 2].map(
      (l) =>
        Math.exp(dot(`layers.${l}.attn.lambda_q1`, `layers.${l}.attn.lambda_k1`)) -
        Math.exp(dot(`layers.${l}.attn.lambda_q2`, `layers.${l}.attn.lambda_k2`)) +
        lambdaInit(MODEL_DEFAULTS, l),
    );
    assert.ok(maxAbsDiff(model.diagnostics().lambdas!, expected) < 1e-6);
    model.dispose();
  });
});

describe('causality', () => {
  for (const attention of ATTENTIONS) {
    it(`${attention}: changing tokens after position t changes no logits at or before t`, () => {
      const config = tinyConfig({ attention, kvHeads: 2 });
      const model = Decoder.create(config, 11);
      scrambleParameters(model.params, 12);
      const base = randomTokens(1, config.seqLen, config.vocabSize, 2).arraySync()[0];
      const logitsOf = (tokens: number[]) =>
        tf.tidy(() => model.forward(tf.tensor2d([tokens], undefined, 'int32')).logits.arraySync()[0]);
      const before = logitsOf(base);
      for (const t of [0, 3, config.seqLen - 2]) {
        const changed = base.map((token, i) => (i > t ? (token + 1 + i) % config.vocabSize : token));
        const after = logitsOf(changed);
        assert.ok(maxAbsDiff(after.slice(0, t + 1).flat(), before.slice(0, t + 1).flat()) === 0, `t=${t}`);
        assert.ok(
          maxAbsDiff(after.slice(t + 1).flat(), before.slice(t + 1).flat()) > 1e-4,
          `later positions change (t=${t})`,
        );
      }
      model.dispose();
    });
  }
});

describe('incremental decoding', () => {
  for (const attention of ATTENTIONS) {
    it(`${attention}: cached decoding equals full recomputation`, () => {
      const config = tinyConfig({ attention, kvHeads: 2 });
      const model = Decoder.create(config, 21);
      scrambleParameters(model.params, 22);
      const tokens = randomTokens(2, config.seqLen, config.vocabSize, 3);
      const full = tf.tidy(() => model.forward(tokens).logits.arraySync());
      const cache = model.newCache();
      const pieces: number[][][][] = [];
      // a prompt of 3, then one token at a time
      for (const [start, size] of [[0, 3], ...Array.from({ length: config.seqLen - 3 }, (_, i) => [3 + i, 1])]) {
        pieces.push(tf.tidy(() => model.forward(tokens.slice([0, start], [2, size]), { cache }).logits.arraySync()));
      }
      const stitched = [0, 1].map((b) => pieces.flatMap((piece) => piece[b]));
      assert.ok(maxAbsDiff(stitched.flat(2), full.flat(2)) < 1e-5);
      for (const layer of cache) tf.dispose([layer.keys!, layer.values!]);
      tokens.dispose();
      model.dispose();
    });
  }
});

describe('capture', () => {
  it('is off by default and returns hidden states and maps when asked', () => {
    const config = tinyConfig({ attention: 'diff2' });
    const model = Decoder.create(config, 1);
    const tokens = randomTokens(1, config.seqLen, config.vocabSize, 1);
    tf.tidy(() => {
      assert.equal(model.forward(tokens).captures, undefined);
      const captures = model.forward(tokens, { capture: true }).captures!;
      assert.equal(captures.length, config.layers);
      assert.deepEqual(captures[0].hidden.shape, [1, config.seqLen, config.width]);
      for (const name of ['a1', 'a2', 'differential'])
        assert.deepEqual(captures[0].maps[name].shape, [1, config.heads, config.seqLen, config.seqLen]);
      assert.deepEqual(captures[0].maps.logits.shape, [1, config.heads, 2, config.seqLen, config.seqLen]);
      assert.deepEqual(captures[0].maps.gate.shape, [1, config.heads, config.seqLen]);
    });
    tokens.dispose();
    model.dispose();
  });
});

describe('initialisation', () => {
  it('is seeded per parameter name: the same seed gives the same shared parameters across variants', () => {
    const standard = Decoder.create(tinyConfig({ attention: 'standard' }), 5);
    const diff = Decoder.create(tinyConfig({ attention: 'diff' }), 5);
    const other = Decoder.create(tinyConfig({ attention: 'standard' }), 6);
    for (const name of ['embed.weight', 'layers.1.ffn.up_proj.weight', 'layers.0.attn.q_proj.weight']) {
      assert.deepEqual(standard.params[name].dataSync(), diff.params[name].dataSync(), name);
      assert.notDeepEqual(standard.params[name].dataSync(), other.params[name].dataSync(), name);
    }
    for (const m of [standard, diff, other]) m.dispose();
  });
  it('draws matrices with std 0.02, residual projections with 0.02/sqrt(2L), λ vectors with 0.1', () => {
    const config = resolveModelConfig({ attention: 'diff', vocabSize: 64, layers: 8, width: 256, heads: 8 });
    const model = Decoder.create(config, 1);
    const std = (name: string) => tf.tidy(() => tf.moments(model.params[name]).variance.sqrt().dataSync()[0]);
    assert.ok(Math.abs(std('layers.0.attn.q_proj.weight') - 0.02) < 0.001);
    assert.ok(Math.abs(std('layers.0.attn.out_proj.weight') - 0.02 / 4) < 0.0003);
    assert.ok(Math.abs(std('layers.0.ffn.down_proj.weight') - 0.02 / 4) < 0.0003);
    assert.ok(Math.abs(std('layers.0.attn.lambda_q1') - 0.1) < 0.03);
    assert.deepEqual(Array.from(model.params['layers.0.attn.subln.weight'].dataSync()), new Array(64).fill(1));
    model.dispose();
  });
});

describe('config validation', () => {
  it('names the key and what is allowed', () => {
    assert.throws(
      () => resolveModelConfig({ width: 100, heads: 3 }),
      /model\.width = 100: must be divisible by model\.heads \(3\)/,
    );
    assert.throws(
      () => resolveModelConfig({ attention: 'diff', heads: 4, kvHeads: 1 }),
      /model\.kvHeads = 1: must be even/,
    );
    assert.throws(
      () => resolveModelConfig({ attention: 'linear' as Attention }),
      /model\.attention = "linear": must be one of standard, diff, diff2/,
    );
  });
});

describe('low-bit attention', () => {
  it('quantizes each map symmetrically to its largest visible |logit|, by hand; masked positions set no scale', () => {
    // one 2×2 causal map: (0, 1) is masked, and its 100 must not become the scale
    const logits = tf.tensor([0.9, 100, 0.3, 5.0], [1, 1, 2, 2]);
    const mask = tf.tensor2d([0, -1e9, 0, 0], [2, 2]);
    const at = (bits: number) => Array.from(tf.tidy(() => quantizeLogits(logits, mask, bits).dataSync()));
    // 3 bits: 3 levels a side, step 5/3: 0.9 → 1 step, 0.3 → 0 steps, 5 → 3 steps
    const step3 = 5 / 3;
    assert.ok(maxAbsDiff(at(3), [step3, 60 * step3, 0, 5]) < 1e-5, `${at(3)}`);
    // 8 bits: 127 levels, step 5/127: 0.9 → 23 steps, 0.3 → 8 steps
    const step8 = 5 / 127;
    assert.ok(maxAbsDiff(at(8), [23 * step8, 100, 8 * step8, 5]) < 1e-5, `${at(8)}`);
    tf.dispose([logits, mask]);
  });

  it('leaves the model as it is at a width past float32 precision, and changes it at 2 bits', () => {
    const config = tinyConfig({ attention: 'diff' });
    const model = Decoder.create(config, 7);
    scrambleParameters(model.params, 3);
    const tokens = randomTokens(2, config.seqLen, config.vocabSize, 5);
    const logitsAt = (bits?: number) => tf.tidy(() => model.forward(tokens, { logitBits: bits }).logits.dataSync());
    const full = logitsAt();
    assert.ok(maxAbsDiff(logitsAt(24), full) < 1e-4);
    assert.ok(maxAbsDiff(logitsAt(2), full) > 1e-3);
    tokens.dispose();
    model.dispose();
  });
});
