import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { loadModel, readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { loadConfig } from '../src/config/load.js';
import { ATTENTIONS } from '../src/config/model.js';
import { type TokenBatch, TokenDataset } from '../src/data/dataset.js';
import { evaluationSet } from '../src/data/eval-set.js';
import { evaluateCheckpoint } from '../src/eval/evaluate.js';
import { generateIds, generateText } from '../src/generate/generate.js';
import { checkpointInfo } from '../src/inspect/info.js';
import { sampleToken } from '../src/generate/sample.js';
import { UserError } from '../src/errors.js';
import { Decoder } from '../src/model/decoder.js';
import { train } from '../src/train/loop.js';
import { readMetrics } from '../src/train/metrics.js';
import { createOptimizer, Trainer } from '../src/train/step.js';
import { difft, REPO_ROOT } from './helpers/cli.js';
import { PATTERN, patternBatches } from './helpers/pattern.js';
import { engine, scrambleParameters, tinyConfig } from './helpers/setup.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'difft-eval-'));

before(() => engine('cpu'));

/** Each target's loss −log softmax(logits)[target], row by row, computed from the model's logits in float64. */
function float64Losses(model: Decoder, batch: TokenBatch): number[] {
  const logits = tf.tidy(
    () =>
      model.forward(tf.tensor2d(batch.inputs, [batch.batch, batch.length], 'int32')).logits.arraySync() as number[][][],
  );
  return logits.flat().map((row, i) => {
    const largest = Math.max(...row);
    const logSum = largest + Math.log(row.reduce((sum, value) => sum + Math.exp(value - largest), 0));
    return logSum - row[batch.targets[i]];
  });
}

/** Greedy decoding by recomputing the whole context at every step, without a cache. */
function recomputeIds(model: Decoder, context: number[], count: number): number[] {
  const tokens = context.slice();
  for (let i = 0; i < count; i++) {
    const logits = tf.tidy(() =>
      model
        .forward(tf.tensor2d([tokens], undefined, 'int32'))
        .logits.slice([0, tokens.length - 1, 0], [1, 1, -1])
        .dataSync(),
    );
    tokens.push(sampleToken(logits, { temperature: 0 }, () => 0));
  }
  return tokens.slice(context.length);
}

describe('generation', () => {
  for (const attention of ATTENTIONS) {
    it(`${attention}: cached decoding produces exactly the tokens of full recomputation`, () => {
      const config = tinyConfig({ attention, kvHeads: 2, seqLen: 24, vocabSize: 13 });
      const model = Decoder.create(config, 2);
      scrambleParameters(model.params, 3, 0.4);
      const prompt = [1, 5, 2, 7];
      const cached = generateIds(model, prompt, { temperature: 0, maxTokens: 20, seed: 0 });
      assert.deepEqual(cached, recomputeIds(model, prompt, 20));
      // past the trained length the window slides instead of failing
      assert.equal(generateIds(model, prompt, { temperature: 0.9, topK: 5, maxTokens: 60, seed: 1 }).length, 60);
      model.dispose();
    });
  }

  it('greedy decoding of a model trained on a repeating pattern continues the pattern', () => {
    const config = tinyConfig({ attention: 'diff', vocabSize: 4, width: 32, heads: 4, layers: 2, seqLen: 16 });
    const model = Decoder.create(config, 1);
    const optimizer = createOptimizer(model, { weightDecay: 0 });
    const trainer = new Trainer(model, optimizer);
    const next = patternBatches(8, config.seqLen, 2);
    for (let step = 0; step < 150; step++) {
      const batch = next();
      trainer.step([batch], 1e-2 * Math.min(1, (step + 1) / 20), 1);
      tf.dispose([batch.inputs, batch.targets]);
    }
    const prompt = [...PATTERN, ...PATTERN.slice(0, 3)];
    const continued = generateIds(model, prompt, { temperature: 0, maxTokens: 13, seed: 0 });
    const expected = Array.from({ length: 13 }, (_, i) => PATTERN[(3 + i) % PATTERN.length]);
    assert.deepEqual(continued, expected);
    trainer.dispose();
    optimizer.dispose();
    model.dispose();
  });

  it('top-k and top-p restrict sampling to the likeliest tokens', () => {
    const logits = [0, 3, 1, 2.9];
    for (let i = 0; i < 50; i++) {
      const u = () => (i + 0.5) / 50;
      assert.ok([1, 3].includes(sampleToken(logits, { temperature: 1, topK: 2 }, u)));
      assert.equal(sampleToken(logits, { temperature: 1, topP: 0.4 }, u), 1);
    }
  });
});

describe('eval, info and damaged checkpoints', () => {
  let runDir = '';
  const dataDir = scratch();
  before(async () => {
    runDir = join(scratch(), 'run');
    await train({ config: loadConfig(join(REPO_ROOT, 'configs/tiny.yaml'), [`data.dir=${dataDir}`]), out: runDir });
  });

  it('the logged validation loss equals a loss computed here, from the logits, in float64', () => {
    const logged = readMetrics(join(runDir, 'metrics.jsonl'))
      .filter((r) => r.type === 'eval')
      .at(-1)!;
    assert.ok(logged.type === 'eval');
    const checkpoint = readCheckpoint(runDir);
    const { run } = checkpoint.config;
    const model = loadModel(checkpoint);
    const windows = evaluationSet(TokenDataset.open(checkpoint.config.dataset.dir).val, {
      seqLen: run.model.seqLen,
      batchSize: 4,
      maxTokens: run.eval.maxTokens,
      seed: run.eval.seed,
    });
    assert.equal(windows.fingerprint, logged.evalFingerprint, 'the same tokens');
    let total = 0;
    let count = 0;
    for (const batch of windows.batches())
      for (const loss of float64Losses(model, batch)) {
        total += loss;
        count++;
      }
    model.dispose();
    assert.equal(count, logged.evalTokens);
    assert.ok(Math.abs(total / count - logged.valLoss) < 1e-5, `${total / count} vs ${logged.valLoss}`);
    // bits per byte from the split's own token and byte counts
    const { val } = TokenDataset.open(checkpoint.config.dataset.dir).manifest.splits;
    assert.ok(Math.abs(logged.valBitsPerByte - ((total / count) * val.tokens) / (val.bytes * Math.LN2)) < 1e-5);
  });

  it('difft eval reproduces the validation loss logged at the same step (cpu, 1e-5)', async () => {
    const logged = readMetrics(join(runDir, 'metrics.jsonl'))
      .filter((r) => r.type === 'eval')
      .at(-1)!;
    assert.equal(logged.step, 20);
    const result = await evaluateCheckpoint(runDir, { maxTokens: 512 });
    assert.equal(result.step, 20);
    assert.ok(
      logged.type === 'eval' && Math.abs(result.loss - logged.valLoss) < 1e-5,
      `${result.loss} vs ${logged.type === 'eval' && logged.valLoss}`,
    );
    assert.ok(Math.abs(result.bitsPerByte - (logged.type === 'eval' ? logged.valBitsPerByte : 0)) < 1e-5);
    // on a file of our own, with the checkpoint's tokenizer
    const file = join(scratch(), 'own.txt');
    writeFileSync(file, 'The quick brown fox jumps over the lazy dog.\n'.repeat(20));
    const own = await evaluateCheckpoint(runDir, { corpus: [file] });
    assert.equal(own.tokens, 'The quick brown fox jumps over the lazy dog.\n'.length * 20 - 1);
  });

  it('loss by position: per bin, the float64 loss of the targets at those positions; its mean the overall loss', async () => {
    const checkpoint = readCheckpoint(runDir);
    const { run } = checkpoint.config;
    const result = await evaluateCheckpoint(runDir, { maxTokens: 512, byPosition: true });
    const plain = await evaluateCheckpoint(runDir, { maxTokens: 512 });
    assert.equal(result.fingerprint, plain.fingerprint);
    assert.ok(Math.abs(result.loss - plain.loss) < 1e-6, `${result.loss} vs ${plain.loss}`);
    // by hand: every window's loss at each position, from the logits in float64, binned 1, 2–3, 4–7, 8–15, 16
    const model = loadModel(checkpoint);
    const windows = evaluationSet(TokenDataset.open(checkpoint.config.dataset.dir).val, {
      seqLen: run.model.seqLen,
      batchSize: 4,
      maxTokens: 512,
      seed: run.eval.seed,
    });
    const sums = new Array<number>(run.model.seqLen).fill(0);
    let rows = 0;
    for (const batch of windows.batches()) {
      float64Losses(model, batch).forEach((loss, i) => {
        sums[i % batch.length] += loss;
      });
      rows += batch.batch;
    }
    model.dispose();
    const edges = [
      [1, 1],
      [2, 3],
      [4, 7],
      [8, 15],
      [16, 16],
    ];
    assert.deepEqual(
      result.byPosition!.map((bin) => [bin.from, bin.to]),
      edges,
    );
    result.byPosition!.forEach((bin) => {
      const expected = sums.slice(bin.from - 1, bin.to).reduce((a, b) => a + b, 0) / ((bin.to - bin.from + 1) * rows);
      assert.equal(bin.tokens, (bin.to - bin.from + 1) * rows);
      assert.ok(Math.abs(bin.loss - expected) < 1e-5, `positions ${bin.from}–${bin.to}: ${bin.loss} vs ${expected}`);
    });
    // the first position, with one token of context, is the hardest
    assert.ok(result.byPosition![0].loss > result.byPosition!.at(-1)!.loss);

    // every token of a text whose last window is short: it counts at the positions it reaches, and no more
    const file = join(scratch(), 'short-end.txt');
    writeFileSync(file, 'The quick brown fox jumps over the lazy dog.\n'.repeat(7));
    const [whole, wholeByPosition] = [
      await evaluateCheckpoint(runDir, { corpus: [file] }),
      await evaluateCheckpoint(runDir, { corpus: [file], byPosition: true }),
    ];
    assert.notEqual(whole.tokens % run.model.seqLen, 0, 'the text ends in a short window');
    const bins = wholeByPosition.byPosition!;
    assert.equal(
      bins.reduce((total, bin) => total + bin.tokens, 0),
      whole.tokens,
    );
    const mean = bins.reduce((total, bin) => total + bin.loss * bin.tokens, 0) / whole.tokens;
    assert.ok(Math.abs(mean - whole.loss) < 1e-5, `${mean} vs ${whole.loss}`);
  });

  it('a checkpoint written before the ablation switches and dropout existed loads as the model it was', () => {
    const older = join(scratch(), 'older');
    cpSync(readCheckpoint(runDir).dir, older, { recursive: true });
    const file = join(older, 'config.json');
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    for (const key of ['headDim', 'lambdaInit', 'lambda', 'outputScale', 'headNorm', 'gate', 'pairing', 'dropout'])
      delete stored.model[key];
    writeFileSync(file, JSON.stringify(stored));
    const [now, then] = [loadModel(readCheckpoint(runDir)), loadModel(readCheckpoint(older))];
    assert.deepEqual(then.config, now.config);
    const tokens = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8]], undefined, 'int32');
    const [a, b] = tf.tidy(() => [now.forward(tokens).logits.dataSync(), then.forward(tokens).logits.dataSync()]);
    assert.deepEqual(Array.from(b), Array.from(a));
    tf.dispose([tokens]);
    now.dispose();
    then.dispose();
  });

  it('past the trained length: RoPE positions continue, the first T positions keep their logits', async () => {
    const checkpoint = readCheckpoint(runDir);
    const trained = checkpoint.config.model.seqLen;
    const [short, long] = [loadModel(checkpoint), loadModel(checkpoint, 4 * trained)];
    const tokens = Array.from({ length: 4 * trained }, (_, i) => (i * 37 + 11) % 256);
    const [first, extended] = tf.tidy(() => [
      short.forward(tf.tensor2d([tokens.slice(0, trained)], undefined, 'int32')).logits.dataSync(),
      long.forward(tf.tensor2d([tokens], undefined, 'int32')).logits.dataSync(),
    ]);
    const prefix = extended.slice(0, first.length);
    assert.ok(Math.max(...Array.from(first, (v, i) => Math.abs(v - prefix[i]))) < 1e-5);
    short.dispose();
    long.dispose();
    const result = await evaluateCheckpoint(runDir, { maxTokens: 512, byPosition: true, seqLen: 4 * trained });
    assert.equal(result.seqLen, 4 * trained);
    assert.equal(result.trainedSeqLen, trained);
    assert.equal(result.byPosition!.at(-1)!.to, 4 * trained);
    const cli = difft(['eval', runDir, '--by-position', '--seq-len', String(4 * trained), '--max-tokens', '512']);
    assert.equal(cli.status, 0, cli.stderr);
    const header = cli.stdout.split('\n').find((line) => line.includes('trained on'))!;
    assert.deepEqual(header.match(/pos [\d–]+/g), [
      'pos 1',
      'pos 2–3',
      'pos 4–7',
      'pos 8–15',
      'pos 16–31',
      'pos 32–63',
      'pos 64',
    ]);
    const bits = difft(['eval', runDir, '--attention-bits', '24,4', '--max-tokens', '512', '--json']);
    assert.equal(bits.status, 0, bits.stderr);
    const [scored] = JSON.parse(bits.stdout) as { loss: number; attentionBits: { bits: number; increase: number }[] }[];
    assert.deepEqual(
      scored.attentionBits.map((entry) => entry.bits),
      [24, 4],
    );
    assert.ok(Math.abs(scored.attentionBits[0].increase) < 1e-4, 'at 24 bits, the full-precision loss');
    const wrongBits = difft(['eval', runDir, '--attention-bits', '8,1']);
    assert.equal(wrongBits.status, 2);
    assert.match(wrongBits.stderr, /--attention-bits 1: each width must be a whole number of bits from 2 to 24/);
    const refused = difft(['eval', runDir, '--seq-len', '1']);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /--seq-len 1: a window needs at least 2 positions/);
  });

  it('eval scores checkpoints of runs with different seeds on the same tokens', async () => {
    const otherRun = join(scratch(), 'other');
    await train({
      config: loadConfig(join(REPO_ROOT, 'configs/tiny.yaml'), [
        `data.dir=${dataDir}`,
        'train.seed=7',
        'train.steps=2',
      ]),
      out: otherRun,
    });
    const cli = difft(['eval', runDir, otherRun, '--max-tokens', '256', '--backend', 'cpu', '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    const [a, b] = JSON.parse(cli.stdout) as { fingerprint: string; tokens: number; loss: number }[];
    assert.equal(a.tokens, 256);
    assert.equal(a.fingerprint, b.fingerprint);
    assert.notEqual(a.loss, b.loss);
    // and the run's own evaluations used that same subset when it had the same size
    const logged = readMetrics(join(otherRun, 'metrics.jsonl'))
      .filter((r) => r.type === 'eval')
      .at(-1)!;
    assert.ok(logged.type === 'eval' && logged.evalTokens === 512);
    const other = difft(['eval', runDir, '--max-tokens', '256', '--seed', '5', '--backend', 'cpu', '--json']);
    assert.notEqual(
      (JSON.parse(other.stdout) as { fingerprint: string }[])[0].fingerprint,
      a.fingerprint,
      'another seed, another subset',
    );
  });

  it('info reports progress, parameters and λ', () => {
    const info = checkpointInfo(runDir);
    assert.equal(info.progress.step, 20);
    assert.equal(info.tokenizer, 'byte');
    assert.equal(info.lambdas!.length, 2);
    assert.ok(info.parameters.total > 0);
    const cli = difft(['info', runDir, '--json']);
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).progress.step, 20);
  });

  it('generate streams text from a checkpoint and refuses what the tokenizer cannot encode', () => {
    let streamed = '';
    const text = generateText(runDir, 'The ', {
      maxTokens: 12,
      temperature: 0.8,
      seed: 1,
      onText: (t) => (streamed += t),
    });
    assert.equal(streamed, text);
    const cli = difft(['generate', runDir, '--prompt', 'The jury', '--max-tokens', '10', '--backend', 'cpu']);
    assert.equal(cli.status, 0, cli.stderr);
    assert.ok(cli.stdout.startsWith('The jury'));
  });

  it('a checkpoint with one flipped byte is refused with a clear message', () => {
    const copy = join(scratch(), 'copy');
    cpSync(readCheckpoint(runDir).dir, copy, { recursive: true });
    const file = join(copy, 'model.safetensors');
    const bytes = readFileSync(file);
    bytes[bytes.length - 100] ^= 0x01;
    writeFileSync(file, bytes);
    assert.throws(
      () => loadModel(readCheckpoint(copy)),
      (e: Error) =>
        e instanceof UserError && /model\.safetensors: damaged weight file \(checksum mismatch\)/.test(e.message),
    );
    writeFileSync(file, bytes.subarray(0, bytes.length - 10));
    assert.throws(() => loadModel(readCheckpoint(copy)), /damaged weight file/);
    const cli = difft(['eval', copy, '--backend', 'cpu']);
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, /damaged weight file/);
    const notCheckpoint = difft(['info', scratch()]);
    assert.equal(notCheckpoint.status, 2);
    assert.match(notCheckpoint.stderr, /is neither a checkpoint/);
    const config = JSON.parse(readFileSync(join(copy, 'config.json'), 'utf8'));
    writeFileSync(join(copy, 'config.json'), JSON.stringify({ ...config, format: 99, difftVersion: '9.0.0' }));
    assert.throws(() => readCheckpoint(copy), /checkpoint format 99 written by difft 9\.0\.0/);
  });
});
