import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../src/config/load.js';
import { resolveModelConfig } from '../src/config/model.js';
import { estimateTrainingMemory } from '../src/train/memory.js';
import { difft, REPO_ROOT } from './helpers/cli.js';

const scratch = () => mkdtempSync(join(tmpdir(), 'difft-memory-'));

/** Peak RSS (bytes) of a fresh process that trains `steps` steps of the default preset with these overrides on wasm. */
function measuredPeak(dataDir: string, overrides: string[], steps = 3): number {
  const loop = pathToFileURL(join(REPO_ROOT, 'dist/src/train/loop.js')).href;
  const load = pathToFileURL(join(REPO_ROOT, 'dist/src/config/load.js')).href;
  const sets = JSON.stringify([
    ...overrides,
    `data.dir=${dataDir}`,
    `train.steps=${steps}`,
    'train.backend=wasm',
    'eval.every=0',
    'eval.maxTokens=4096', // the final evaluation: its rows are bounded (src/measure/rows.ts), its length need not be
    'output.saveEvery=0',
  ]);
  const script = `const { train } = await import('${loop}'); const { loadConfig } = await import('${load}');
    await train({ config: loadConfig('default', ${sets}), out: '${join(scratch(), 'run')}' });
    process.stdout.write(String(process.resourceUsage().maxRSS * 1024));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return Number(child.stdout.trim().split('\n').pop());
}

describe('training memory', () => {
  it('the estimate adds up its terms (by hand, for a small model)', () => {
    // L 2, D 32, H 4, T 16, V 256, SwiGLU hidden 88 (8/3·32 = 85.3 → multiple of 8), batch 4, diff
    const model = resolveModelConfig({
      vocabSize: 256,
      layers: 2,
      width: 32,
      heads: 4,
      seqLen: 16,
      ffnMultiple: 8,
      attention: 'diff',
    });
    const { parts, bytes } = estimateTrainingMemory(model, 4, 'wasm');
    assert.equal(parts.attentionMaps, 2 * 14 * 4 * 4 * 16 * 16 * 4); // L · 14 copies · B · H maps · T² · 4 bytes
    assert.equal(parts.activations, 2 * (16 * 64 * 32 + 6 * 64 * 88) * 4); // L · (16·BT·D + 6·BT·F) · 4
    assert.equal(parts.logits, 6 * 64 * 256 * 4);
    assert.equal(parts.engine, 400 * 2 ** 20);
    assert.equal(
      bytes,
      Object.values(parts).reduce((a, b) => a + b, 0),
    );
    // diff2's maps: twice the query heads, 12 copies each
    const diff2 = estimateTrainingMemory({ ...model, attention: 'diff2' }, 4, 'wasm');
    assert.equal(diff2.parts.attentionMaps, 2 * 12 * 4 * 8 * 16 * 16 * 4);
  });

  it('agrees with the peak RSS measured at 64, 512 and 1,024 positions (within 0.6–1.8×)', () => {
    const dataDir = scratch();
    const contexts = [
      [],
      // the long-context retrieval lengths, where the T×T maps grow
      ['model.seqLen=512', 'train.batchSize=4'],
      ['model.seqLen=1024', 'train.batchSize=2'],
    ];
    for (const overrides of contexts) {
      const config = loadConfig('default', overrides);
      const estimate = estimateTrainingMemory(
        resolveModelConfig({ ...config.model, vocabSize: 256 }),
        config.train.batchSize,
        'wasm',
      ).bytes;
      const measured = measuredPeak(dataDir, overrides);
      const ratio = estimate / measured;
      process.stderr.write(
        `# memory ${JSON.stringify(overrides)}: estimate ${(estimate / 2 ** 20).toFixed(0)} MiB, measured ${(measured / 2 ** 20).toFixed(0)} MiB (${ratio.toFixed(2)}×)\n`,
      );
      assert.ok(ratio > 0.6 && ratio < 1.8, `estimate ${estimate} vs measured ${measured}`);
    }
  });

  it('a run that cannot fit is refused at once, with the estimate and the memory available', () => {
    const result = difft([
      'train',
      '--set',
      'model.seqLen=64000',
      '--set',
      'model.width=4096',
      '--backend',
      'wasm',
      '--set',
      `data.dir=${scratch()}`,
    ]);
    assert.equal(result.status, 2);
    assert.match(
      result.stderr,
      /^difft: this run needs about \d+ GiB \(largest part: attention maps, \d+ GiB\) on wasm, more than the [\d.]+ GiB this machine has: lower model\.seqLen/m,
    );
    const printed = difft(['train', '--config', 'tiny', '--print-config']);
    assert.match(printed.stdout, /^# training memory: about [\d.]+ GiB .* on wasm, of [\d.]+ GiB here\n/);
  });
});
