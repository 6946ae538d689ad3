import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { configFingerprint } from '../src/config/fingerprint.js';
import { loadConfig, resolveConfig } from '../src/config/load.js';

/**
 * Configuration fingerprints: what a plan records of each run and `difft report` checks. They must
 * not change when a later difft adds a key at its default (a plan written before would then refuse
 * every one of its runs), and must change with any key that changes results.
 */
describe('configuration fingerprints', () => {
  const config = loadConfig('default', ['train.lr=0.002']);

  it('a config written before a key existed (the key absent) has the fingerprint it has with the key at its default', () => {
    const older = structuredClone(config) as unknown as { data: { task: Record<string, unknown> } };
    delete older.data.task.keys;
    delete older.data.task.needlesMin;
    assert.equal(configFingerprint(older as never), configFingerprint(config));
  });

  it('hashes only the keys off their defaults, so keys added later at their default leave it as it was', () => {
    const config = resolveConfig({ train: { lr: 0.002, steps: 7 }, model: { layers: 3 } }, 'test');
    // train.steps cannot change results (a resume extends it); the two others, sorted, one per line
    const byHand = createHash('sha256').update('model.layers=3\ntrain.lr=0.002').digest('hex').slice(0, 16);
    assert.equal(configFingerprint(config), byHand);
  });

  it('changes with a key that changes results, also when it is set to a non-default value of a new key', () => {
    const base = configFingerprint(config);
    assert.notEqual(configFingerprint(loadConfig('default', ['train.lr=0.003'])), base);
    assert.notEqual(configFingerprint(loadConfig('default', ['train.lr=0.002', 'data.task.keys=lookalike'])), base);
    // and not with keys that cannot: the steps (a resume extends them), the engine, outputs, the name
    const same = loadConfig('default', ['train.lr=0.002', 'train.steps=9', 'train.backend=cpu', 'output.saveEvery=3']);
    assert.equal(configFingerprint({ ...same, name: 'other' }), base);
  });
});
