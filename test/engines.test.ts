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

  it('an engine that cannot load is a UserError that says how to get it', async (t) => {
    const engines = await listEngines();
    const missing = engines.filter((e) => !e.available);
    if (missing.length === 0) return t.skip('every engine loads on this machine');
    const hints: Record<string, RegExp> = { tensorflow: /npx difft setup tensorflow/, webgpu: /webgpu/, wasm: /npm install/, cpu: /npm install/ };
    for (const engine of missing) {
      await assert.rejects(useEngine(engine.name), (error: Error) => error instanceof UserError && error.message.includes(engine.detail) && hints[engine.name].test(error.message));
    }
  });

  it('an unknown engine name is a UserError listing the accepted ones', async () => {
    await assert.rejects(useEngine('cuda' as EngineName), /unknown backend "cuda": use one of auto, tensorflow, webgpu, wasm, cpu/);
  });
});
