import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { availableParallelism } from 'node:os';
import { listEngines, nativeThreads, useEngine, type EngineName } from '../src/backend/engines.js';
import { UserError } from '../src/errors.js';
import { difft } from './helpers/cli.js';
import { TEST_ENGINES } from './helpers/engines.js';

describe('engines', () => {
  it('lists every engine with a reason, cpu always available', async () => {
    const engines = await listEngines();
    assert.deepEqual(
      engines.map((e) => e.name),
      ['tensorflow', 'webgpu', 'wasm', 'cpu'],
    );
    for (const engine of engines) assert.ok(engine.detail.length > 0, engine.name);
    assert.ok(engines.find((e) => e.name === 'cpu')!.available);
  });

  it('auto takes the first available engine and says why better ones were skipped', async () => {
    const engines = await listEngines();
    const first = engines.find((e) => e.available)!;
    const choice = await useEngine('auto');
    assert.equal(choice.name, first.name);
    assert.equal(tf.getBackend(), first.name);
    for (const skipped of engines.slice(0, engines.indexOf(first)))
      assert.match(choice.summary, new RegExp(`skipped.*${skipped.name}`));
  });

  it('an engine that cannot load is a UserError that says how to get it', async (t) => {
    const engines = await listEngines();
    const missing = engines.filter((e) => !e.available);
    if (missing.length === 0) return t.skip('every engine loads on this machine');
    const hints: Record<string, RegExp> = {
      tensorflow: /npx difft setup tensorflow/,
      webgpu: /webgpu/,
      wasm: /npm install/,
      cpu: /npm install/,
    };
    for (const engine of missing) {
      await assert.rejects(
        useEngine(engine.name),
        (error: Error) =>
          error instanceof UserError && error.message.includes(engine.detail) && hints[engine.name].test(error.message),
      );
    }
  });

  it('an unknown engine name is a UserError listing the accepted ones', async () => {
    await assert.rejects(
      useEngine('cuda' as EngineName),
      /unknown backend "cuda": use one of auto, tensorflow, webgpu, wasm, cpu/,
    );
  });

  it('honours a thread count for the native engine and refuses a bad one', async () => {
    await assert.rejects(useEngine('auto', { threads: 0 }), /threads must be a whole number ≥ 1, got 0/);
  });
});

describe('tensorflow thread count', () => {
  it("is the caller's, else TF_NUM_INTRAOP_THREADS, else one per 8 GFLOP of a micro-batch up to one per core", () => {
    const cores = availableParallelism();
    const previous = process.env.TF_NUM_INTRAOP_THREADS;
    try {
      delete process.env.TF_NUM_INTRAOP_THREADS;
      assert.equal(nativeThreads({}), cores);
      assert.equal(nativeThreads({ stepFlops: 3.7e9 }), 1); // the bench's baby step
      assert.equal(nativeThreads({ stepFlops: 16e9 }), Math.min(cores, 2));
      assert.equal(nativeThreads({ stepFlops: 1e15 }), cores);
      assert.equal(nativeThreads({ stepFlops: 1e15, threads: 3 }), 3);
      process.env.TF_NUM_INTRAOP_THREADS = '5';
      assert.equal(nativeThreads({ stepFlops: 1e9 }), 5);
      assert.equal(nativeThreads({ stepFlops: 1e9, threads: 2 }), 2);
    } finally {
      if (previous === undefined) delete process.env.TF_NUM_INTRAOP_THREADS;
      else process.env.TF_NUM_INTRAOP_THREADS = previous;
    }
  });
});

describe('difft setup tensorflow', () => {
  it('refuses what it cannot use with one line and exit code 2, touching nothing', () => {
    const unknown = difft(['setup', 'cuda']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /^difft: unknown engine "cuda" for setup: only tensorflow needs one/);
    const missing = difft(['setup', 'tensorflow', '--force', '--wheel', '/nonexistent/tensorflow.whl']);
    assert.equal(missing.status, 2);
    assert.equal(missing.stderr.trim(), 'difft: wheel /nonexistent/tensorflow.whl not found');
    const source = difft(['setup', 'tensorflow', '--source', 'conda']);
    assert.equal(source.status, 2);
    assert.match(source.stderr, /--source conda: use one of auto, npm, pip/);
  });

  it('does nothing, quickly, when the engine already loads (idempotent)', (t) => {
    if (!TEST_ENGINES.includes('tensorflow')) return t.skip('the tensorflow engine is not built here');
    const again = difft(['setup', 'tensorflow']);
    assert.equal(again.status, 0, again.stderr);
    assert.match(
      again.stdout,
      /tensorflow engine ready: @tensorflow\/tfjs-node, TensorFlow [\d.]+ \(already installed, nothing to do\)/,
    );
  });
});
