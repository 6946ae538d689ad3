import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadExperiment, MATCH_TOLERANCE } from '../src/compare/experiment.js';
import { runExperiment } from '../src/compare/run.js';
import type { RunConfig } from '../src/config/schema.js';
import { REPO_ROOT } from './helpers/cli.js';

/**
 * match: params — each variant's SwiGLU width sized so its parameter count is the baseline's, counted
 * here by formulas written out from the model's shape, not by difft's counter.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-match-'));

/** Total parameters of a tied, multi-head model, by hand: embedding, per-layer norms, attention, SwiGLU, final norm. */
function countByHand(config: RunConfig, vocab: number): number {
  const { width: D, heads: H, layers: L, attention } = config.model;
  const F =
    config.model.ffnHidden || Math.ceil(Math.ceil((8 * D) / 3) / config.model.ffnMultiple) * config.model.ffnMultiple;
  const d = D / H;
  const attentionParams = {
    standard: 4 * D * D, // q, k, v, out: D×D each
    diff: 4 * D * D + 4 * d + 2 * d, // the same projections, λ's four d-vectors, subln over 2d
    diff2: 2 * D * D + 3 * D * D + D * H, // q doubled (2H query heads), k, v, out, λ projection D×H
  }[attention];
  return vocab * D + L * (2 * D + attentionParams + 3 * D * F) + D;
}

function experimentFile(dataDir: string, extra: string): string {
  const file = join(scratch(), 'experiment.yaml');
  writeFileSync(
    file,
    [
      'name: match-test',
      `base: ${join(REPO_ROOT, 'configs/tiny.yaml')}`,
      'config:',
      `  data.dir: ${dataDir}`,
      '  train.steps: 2',
      '  eval.every: 2',
      '  train.backend: wasm',
      'variants:',
      '  - { name: standard, set: { model.attention: standard } }',
      '  - { name: diff, set: { model.attention: diff } }',
      '  - { name: diff2, set: { model.attention: diff2 } }',
      'seeds: [1]',
      extra,
    ].join('\n'),
  );
  return file;
}

describe('match: params', () => {
  const data = scratch();

  it('every variant within 0.5% of the baseline by the hand count, through the SwiGLU width alone', () => {
    const experiment = loadExperiment(experimentFile(data, 'match: params'));
    const configOf = (variant: string) => experiment.runConfig(experiment.runs.find((run) => run.variant === variant)!);
    const baseline = countByHand(configOf('standard'), 256);
    const unmatched = countByHand({ ...configOf('diff2'), model: { ...configOf('diff2').model, ffnHidden: 0 } }, 256);
    assert.ok(unmatched / baseline - 1 > 0.01, `diff2 unmatched is more than 1% larger (${unmatched / baseline})`);
    for (const variant of ['diff', 'diff2']) {
      const config = configOf(variant);
      const count = countByHand(config, 256);
      assert.ok(Math.abs(count / baseline - 1) <= MATCH_TOLERANCE, `${variant}: ${count} vs ${baseline}`);
      // the attention is untouched: only the FFN width moved
      assert.equal(config.model.attention, variant);
      assert.equal(config.model.heads, configOf('standard').model.heads);
    }
    assert.ok(configOf('diff2').model.ffnHidden < Math.ceil((8 * 32) / 3), 'diff2 gets a narrower FFN');
    assert.equal(configOf('standard').model.ffnHidden, 0, 'the baseline keeps its own width');
  });

  it('the report: matched runs say so; unmatched runs more than 1% apart say the difference is confounded', async () => {
    for (const [extra, expected] of [
      ['match: params', /diff2 vs standard: .*\(parameter-matched\)/],
      [
        '',
        /diff2 vs standard: .*× the parameters — not parameter-matched: the attention and the \+\d+\.\d% parameters are confounded/,
      ],
    ] as const) {
      const out = join(scratch(), 'results');
      const result = await runExperiment(loadExperiment(experimentFile(data, extra)), { out, jobs: 1 });
      const sentence = result.report!.summary.comparisons.find((c) => c.variant === 'diff2')!.sentence;
      assert.match(sentence, expected);
      const diff = result.report!.summary.comparisons.find((c) => c.variant === 'diff')!.sentence;
      assert.doesNotMatch(diff, /not parameter-matched/, 'diff is within 1% of standard either way');
      const markdown = readFileSync(join(out, 'report.md'), 'utf8');
      assert.match(markdown, /non-embedding \| FFN width/);
    }
  });
});
