import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { positionBins } from '../src/eval/positions.js';

describe('position bins', () => {
  it('double in width from position 1, the last cut at the context; each the mean over its targets, by hand', () => {
    // positions 1 … 10 summed over 2 windows: the loss at position p is p (summed: 2p… here given as sums)
    const sums = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.deepEqual(positionBins(sums, new Array(10).fill(2)), [
      { from: 1, to: 1, tokens: 2, loss: 0.5 },
      { from: 2, to: 3, tokens: 4, loss: (2 + 3) / 4 },
      { from: 4, to: 7, tokens: 8, loss: (4 + 5 + 6 + 7) / 8 },
      { from: 8, to: 10, tokens: 6, loss: (8 + 9 + 10) / 6 },
    ]);
    assert.deepEqual(
      positionBins(new Array(64).fill(1), new Array(64).fill(1)).map((bin) => `${bin.from}-${bin.to}`),
      ['1-1', '2-3', '4-7', '8-15', '16-31', '32-63', '64-64'],
    );
  });

  it('a short last window counts at the positions it reaches, by hand', () => {
    // two windows of 6 positions and one of 3: positions 1–3 are scored 3 times, 4–6 twice
    const sums = [3, 6, 9, 8, 10, 12];
    assert.deepEqual(positionBins(sums, [3, 3, 3, 2, 2, 2]), [
      { from: 1, to: 1, tokens: 3, loss: 1 },
      { from: 2, to: 3, tokens: 6, loss: (6 + 9) / 6 },
      { from: 4, to: 6, tokens: 6, loss: (8 + 10 + 12) / 6 },
    ]);
  });
});
