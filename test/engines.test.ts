import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { listEngines, useEngine, type EngineName } from '../src/backend/engines.js';
import { UserError } from '../src/errors.js';

describe('engines', () => {
  it('lists every engine with a reason, cpu always available', async () => {
    const engines = await listEngines();
    assert.deepEqual(engines.map((e) => e.name), ['tensorflow', 'webgpu', 'wasm', 'cpu']);
    for (const engine of engines) assert.ok(engine.detail.length > 0, engine.name);
    assert.ok(engines.find((e) => e.name === 'cpu')!.available);
  });

  it('auto takes the first available engine and says why better ones were skipped', async () => {
    const engines = await listEngines();
    const first = engines.find((e) => e.available)!;
    const choice = await useEngine('auto');
    assert.equal(choice.name, first.name);
    assert.equal(tf.getBackend(), first.name);
    for (const skipped of engines.slice(0, engines.indexOf(first))) assert.match(choice.summary, new RegExp(`skipped.*${skipped.name}`));
  });

  it('an engine that cannot load is a UserError that says what to install', async () => {
    const engines = await listEngines();
    const missing = engines.find((e) => !e.available && e.name === 'tensorflow');
    if (!missing) return; // tfjs-node is installed here: nothing to check
    await assert.rejects(useEngine('tensorflow'), (error: Error) => error instanceof UserError && /npm install @tensorflow\/tfjs-node-gpu/.test(error.message));
  });

  it('an unknown engine name is a UserError listing the accepted ones', async () => {
    await assert.rejects(useEngine('cuda' as EngineName), /unknown backend "cuda": use one of auto, tensorflow, webgpu, wasm, cpu/);
  });
});
