import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { configFingerprint } from '../src/config/fingerprint.js';
import { resolveConfig } from '../src/config/load.js';
import { attentionLabel, headDim, type ModelConfig, resolveModelConfig, switchesOff } from '../src/config/model.js';
import { UserError } from '../src/errors.js';
import { COMPARISON_FILES } from '../src/formats/comparison.js';
import { stepDirName } from '../src/formats/run.js';
import { writeReport } from '../src/report/report.js';
import { compileProgram } from '../src/backend/graph/compile.js';
import { uniformNoise } from '../src/backend/noise.js';
import { Decoder } from '../src/model/decoder.js';
import { type Dropout, dropout } from '../src/model/dropout.js';
import { countParameters, parameterSpecs } from '../src/model/parameters.js';
import { ABLATIONS } from './helpers/ablations.js';
import { DIFFT_BIN, REPO_ROOT } from './helpers/cli.js';
import { TEST_ENGINES } from './helpers/engines.js';
import { lossTrail } from './helpers/outcomes.js';
import { handMadeComparison } from './helpers/hand-made.js';
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

describe('the ablation table (an experiment with references)', () => {
  it("gives every variant's paired Δ to each reference with its t interval, worked by hand", async () => {
    const losses: Record<string, number[]> = {
      standard: [3.0, 3.1, 3.2],
      diff: [2.9, 3.0, 3.05],
      'diff-no-norm': [3.05, 3.12, 3.2],
    };
    const { out } = handMadeComparison(
      [
        'name: ablation-test',
        'baseline: standard',
        'references: [standard, diff]',
        'variants:',
        '  - { name: standard, set: { model.attention: standard } }',
        '  - { name: diff, set: { model.attention: diff } }',
        '  - { name: diff-no-norm, set: { model.attention: diff, model.headNorm: "off" } }',
        'seeds: [1, 2, 3]',
      ],
      (run) => ({ loss: losses[run.variant][run.seed - 1] }),
    );
    const { summary } = await writeReport(out);
    const row = summary.references!.rows.find((r) => r.variant === 'diff-no-norm')!;
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} vs ${b}`);
    const t2 = 4.302652729749464; // Student t, 2 degrees of freedom, 97.5th percentile
    // against diff: Δ = 0.15, 0.12, 0.15; mean 0.14, sd √((0.01² + 0.02² + 0.01²)/2) = √0.0003, SE 0.01
    const vsDiff = row.against.diff;
    close(vsDiff.paired!.mean, 0.14);
    close(vsDiff.paired!.low, 0.14 - t2 * 0.01);
    close(vsDiff.paired!.high, 0.14 + t2 * 0.01);
    assert.equal(vsDiff.verdict, 'worse');
    // against standard: Δ = 0.05, 0.02, 0; mean 0.07/3, SE √(Σ(Δ − mean)²/2)/√3 — the interval spans 0
    const vsStandard = row.against.standard;
    const mean = 0.07 / 3;
    const se = Math.sqrt(((0.05 - mean) ** 2 + (0.02 - mean) ** 2 + mean ** 2) / 2) / Math.sqrt(3);
    close(vsStandard.paired!.mean, mean);
    close(vsStandard.paired!.high, mean + t2 * se);
    assert.equal(vsStandard.verdict, 'no difference detectable');
    const report = readFileSync(join(out, COMPARISON_FILES.reportMarkdown), 'utf8');
    assert.match(report, /## Against standard and diff/);
    assert.match(report, /\| diff-no-norm \| diff \(headNorm=off\) \| [\d,]+ \| 3\.1233 ± 0\.0751 \| \+0\.0233 \[/);
    assert.match(report, /\+0\.1400 \[\+0\.0970, \+0\.1830\] \| worse \|/);
  });

  it('a reference that is not a variant is refused, naming it', () => {
    assert.throws(
      () =>
        handMadeComparison(
          ['name: x', 'references: [dif]', 'variants:', '  - { name: diff, set: {} }', 'seeds: [1]'],
          () => ({ loss: 1 }),
        ),
      /references dif is not one of the variants: diff/,
    );
  });
});

describe('dropout', () => {
  for (const name of TEST_ENGINES) {
    it(`${name}: drops p of the entries and scales the rest by 1/(1 − p), the same for the same seed and site`, async () => {
      await engine(name);
      const before = tf.memory().numTensors;
      const rate = 0.3;
      const drop = (seed: number[], site: number) =>
        tf.tidy(() => {
          const noise: Dropout = {
            rate,
            noise: (shape, at) => uniformNoise(shape, tf.tensor1d([seed[0], seed[1] + at], 'int32')),
          };
          return Array.from(dropout(tf.ones([400, 250]), site, noise).dataSync());
        });
      const values = drop([7, 1], 3);
      const zeros = values.filter((v) => v === 0).length;
      // 100,000 entries: the count of zeros is binomial, sd √(n·p·(1 − p)) ≈ 145; 5 sd either side
      assert.ok(Math.abs(zeros - 30_000) < 5 * Math.sqrt(100_000 * rate * (1 - rate)), `${zeros} zeros`);
      assert.ok(
        values.every((v) => v === 0 || v === Math.fround(1 / (1 - rate))),
        'kept entries are 1/(1 − p)',
      );
      assert.deepEqual(drop([7, 1], 3), values, 'the same seed and site, the same mask');
      const other = drop([7, 1], 4);
      assert.notDeepEqual(other, values, 'another site, another mask');
      assert.notDeepEqual(drop([8, 1], 3), values, 'another step, another mask');
      assert.equal(tf.memory().numTensors, before);
    });
  }

  it('on tensorflow, a compiled program draws from the seed it is fed, never from the one it was traced with', {
    skip: TEST_ENGINES.includes('tensorflow') ? false : 'the tensorflow engine is not installed here',
  }, async () => {
    await engine('tensorflow');
    const program = compileProgram('noise', (inputs: { seed: tf.Tensor }) => ({
      noise: uniformNoise([64], inputs.seed),
    }));
    const draw = (seed: number[]) =>
      tf.tidy(() => Array.from(program({ seed: tf.tensor1d(seed, 'int32') }).noise.dataSync()));
    const first = draw([1, 2]);
    assert.deepEqual(draw([1, 2]), first);
    assert.notDeepEqual(draw([3, 2]), first);
    assert.equal(process.env.DIFFT_GRAPH === 'strict' ? program.lastRun : 'graph', 'graph');
    program.dispose();
  });

  it('is off outside training: evaluation and generation give the logits of the model without it', async () => {
    await engine('cpu');
    const config = tinyConfig({ attention: 'diff', dropout: 0.5 });
    const model = Decoder.create(config, 3);
    const plain = new Decoder({ ...config, dropout: 0 }, model.params);
    const tokens = randomTokens(2, config.seqLen, config.vocabSize, 1);
    const [a, b] = tf.tidy(() => [model.forward(tokens).logits.dataSync(), plain.forward(tokens).logits.dataSync()]);
    assert.deepEqual(Array.from(a), Array.from(b));
    // and a training step with it does differ: the masks reach the loss
    const drop: Dropout = { rate: 0.5, noise: (shape, site) => uniformNoise(shape, tf.tensor1d([1, site], 'int32')) };
    const [withDrop, without] = tf.tidy(() => [
      model.loss(tokens, tokens, undefined, drop).dataSync()[0],
      model.loss(tokens, tokens).dataSync()[0],
    ]);
    assert.notEqual(withDrop, without);
    tokens.dispose();
    model.dispose();
  });
});

describe('dropout across a kill', () => {
  const data = mkdtempSync(join(tmpdir(), 'difft-dropout-data-'));
  for (const name of TEST_ENGINES.filter((engineName) => engineName !== 'cpu'))
    it(`${name}: killed after a checkpoint and resumed, a run with dropout ends as the uninterrupted one`, async () => {
      const args = (out: string) => [
        DIFFT_BIN,
        'train',
        ...['--config', join(REPO_ROOT, 'configs/tiny.yaml'), '--out', out, '--backend', name],
        ...['--set', `data.dir=${data}`, '--set', 'model.dropout=0.2', '--set', 'train.steps=8'],
        ...['--set', 'output.saveEvery=2', '--set', 'eval.every=4'],
      ];
      const scratch = mkdtempSync(join(tmpdir(), 'difft-dropout-'));
      const [whole, killed] = [join(scratch, 'whole'), join(scratch, 'killed')];
      assert.equal(spawnSync(process.execPath, args(whole), { cwd: REPO_ROOT }).status, 0);
      const child = spawn(process.execPath, args(killed), { cwd: REPO_ROOT, stdio: 'ignore' });
      await new Promise<void>((done) => {
        const timer = setInterval(() => {
          if (existsSync(join(killed, stepDirName(4)))) child.kill('SIGKILL');
        }, 2);
        child.on('exit', () => {
          clearInterval(timer);
          done();
        });
      });
      const resumed = spawnSync(process.execPath, [DIFFT_BIN, 'train', '--resume', killed, '--backend', name], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      });
      assert.equal(resumed.status, 0, resumed.stderr);
      assert.deepEqual(lossTrail(killed), lossTrail(whole));
    });
});
