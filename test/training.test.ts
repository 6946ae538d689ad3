import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadModel, readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { loadConfig } from '../src/config/load.js';
import { train } from '../src/train/loop.js';
import { readMetrics } from '../src/train/metrics.js';
import { learningRate } from '../src/train/schedule.js';
import { DIFFT_BIN, REPO_ROOT, difft } from './helpers/cli.js';
import { TEST_ENGINES } from './helpers/engines.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'difft-train-'));
const tinyConfig = (dataDir: string, overrides: string[] = []) =>
  loadConfig(join(REPO_ROOT, 'configs/tiny.yaml'), [`data.dir=${dataDir}`, ...overrides]);
const trainLosses = (runDir: string) =>
  readMetrics(join(runDir, 'metrics.jsonl')).flatMap((r) => (r.type === 'train' ? [r.loss] : []));

describe('learning-rate schedule', () => {
  it('warms up linearly, then decays along a cosine to the floor', () => {
    const schedule = { lr: 1, minLr: 0.1, warmupSteps: 10, steps: 110 };
    assert.equal(learningRate(5, schedule), 0.5);
    assert.equal(learningRate(10, schedule), 1);
    assert.ok(Math.abs(learningRate(60, schedule) - 0.55) < 1e-12); // halfway: (1 + 0.1) / 2
    assert.ok(Math.abs(learningRate(110, schedule) - 0.1) < 1e-12);
  });
});

describe('difft train', () => {
  const data = scratch();

  /**
   * "Exactly" means bit for bit: the same losses, evaluations and weights. A multi-threaded engine
   * (tensorflow) keeps that promise for the same thread count on the same machine: its kernels
   * split work by shape and thread count, not by timing, so repeated runs sum in the same order.
   */
  for (const name of TEST_ENGINES) {
    // what resuming restores is the engine's business nowhere: wasm, single-threaded and bit for bit as the
    // cpu reference is, covers it at a fifth of the cpu engine's 25 s
    const skip = name === 'cpu' ? 'the cpu reference: wasm covers resuming' : false;
    it(`resumes exactly: 20 steps straight equal 10 steps + resume + 10 steps (${name}, bit for bit)`, {
      skip,
    }, async () => {
      const config = () => tinyConfig(data, [`train.backend=${name}`]);
      const straight = join(scratch(), 'straight');
      await train({ config: config(), out: straight });
      const split = join(scratch(), 'split');
      let calls = 0;
      const first = await train({ config: config(), out: split, shouldStop: () => ++calls === 10 });
      assert.equal(first.interrupted, true);
      assert.equal(first.step, 10);
      const second = await train({ config: config(), resume: split });
      assert.equal(second.step, 20);
      const expected = trainLosses(straight);
      assert.equal(expected.length, 20);
      assert.deepEqual(trainLosses(split), expected);
      const evals = (dir: string) =>
        readMetrics(join(dir, 'metrics.jsonl'))
          .filter((r) => r.type === 'eval')
          .map((r) => r.type === 'eval' && r.valLoss);
      assert.deepEqual(evals(split), evals(straight));
      const weights = (dir: string) => readFileSync(join(dir, 'step-000020', 'model.safetensors'));
      assert.ok(weights(split).equals(weights(straight)), 'final weights differ');
    });
  }

  it('leaks no tensors over 50 steps, and keeps the last checkpoints plus the best', async () => {
    const counts: number[] = [];
    const out = join(scratch(), 'run');
    await train({
      config: tinyConfig(data, ['train.steps=50', 'output.saveEvery=10', 'output.keepLast=2']),
      out,
      callbacks: { onStep: () => counts.push(tf.memory().numTensors) },
    });
    assert.equal(counts.length, 50);
    assert.deepEqual(counts.slice(1), new Array(49).fill(counts[1]), `tensor counts: ${counts}`);
    assert.deepEqual(
      readdirSync(out).filter((name) => name.startsWith('step-')),
      ['step-000040', 'step-000050'],
    );
    assert.ok(existsSync(join(out, 'best', 'model.safetensors')));
    const checkpoint = readCheckpoint(out);
    assert.equal(checkpoint.state.step, 50);
    const model = loadModel(checkpoint);
    model.dispose();
  });

  it('a crash while a checkpoint is written leaves the previous one loadable and the run resumable', async () => {
    const out = join(scratch(), 'crash');
    // a model big enough that writing its checkpoint takes a while
    const args = [
      'train',
      '--config',
      join(REPO_ROOT, 'configs/tiny.yaml'),
      '--out',
      out,
      '--set',
      `data.dir=${data}`,
      '--set',
      'model.width=192',
      '--set',
      'model.heads=4',
      '--set',
      'train.steps=8',
      '--set',
      'output.saveEvery=2',
      '--set',
      'eval.every=0',
    ];
    let killedDuringWrite = false;
    for (let attempt = 0; attempt < 5 && !killedDuringWrite; attempt++) {
      const child = spawn(process.execPath, [DIFFT_BIN, ...args], { cwd: REPO_ROOT, stdio: 'ignore' });
      let seenComplete = false;
      await new Promise<void>((done) => {
        const timer = setInterval(() => {
          const names = existsSync(out) ? readdirSync(out) : [];
          seenComplete ||= names.includes('step-000002');
          if (seenComplete && names.some((name) => /^step-\d+\.tmp-/.test(name))) {
            child.kill('SIGKILL');
            killedDuringWrite = true;
          }
        }, 1);
        child.on('exit', () => {
          clearInterval(timer);
          done();
        });
      });
    }
    assert.ok(killedDuringWrite, 'never caught the process while it wrote a checkpoint');
    const survivor = readCheckpoint(out); // the newest complete checkpoint
    loadModel(survivor).dispose();
    const resumed = difft(['train', '--resume', out]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.equal(readCheckpoint(out).state.step, 8);
    assert.ok(!readdirSync(out).some((name) => name.includes('.tmp-')), 'leftovers cleaned');
  });

  // Ctrl-C, a kill, a closed terminal or ssh session: each finishes the step and saves; exit 128 + signal
  for (const [signal, number] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ] as const)
    it(`${signal} finishes the step, saves a checkpoint, says how to resume and exits ${128 + number}`, async () => {
      const out = join(scratch(), 'interrupted');
      const child = spawn(
        process.execPath,
        [
          DIFFT_BIN,
          'train',
          '--config',
          join(REPO_ROOT, 'configs/tiny.yaml'),
          '--out',
          out,
          '--set',
          `data.dir=${data}`,
          '--set',
          'train.steps=100000',
          '--set',
          'eval.every=0',
        ],
        { cwd: REPO_ROOT },
      );
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      let sent = false;
      const code = await new Promise<number | null>((done) => {
        child.stderr.on('data', () => {
          if (!sent && /train \d+\/100000/.test(stderr)) {
            sent = true;
            child.kill(signal);
          }
        });
        child.on('exit', (status) => done(status));
      });
      assert.equal(code, 128 + number, stderr);
      // after SIGHUP the terminal that would show it is gone; the message is still written where it can be
      assert.match(stderr, /Resume with:\n {2}npx difft train --resume /);
      const saved = readCheckpoint(out);
      assert.ok(saved.state.step >= 1);
    });

  it('bad configs exit 2 with one line naming the key, and no stack trace', () => {
    const cases: [string[], RegExp][] = [
      [
        ['--set', 'model.width=100', '--set', 'model.heads=3'],
        /model\.width = 100: must be divisible by model\.heads \(3\)/,
      ],
      [['--set', 'train.optimizer=sgd'], /unknown config key; known keys in train/],
      [['--set', 'model.attention=linear'], /model\.attention = "linear": must be one of standard, diff, diff2/],
      [['--config', 'missing.yaml'], /config file not found: missing\.yaml/],
    ];
    for (const [args, pattern] of cases) {
      const result = difft(['train', ...args]);
      assert.equal(result.status, 2, result.stderr);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], pattern);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    }
  });
});
