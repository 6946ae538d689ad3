import * as tf from '@tensorflow/tfjs';
import { uniformStream } from '../../src/random.js';
import type { Batch } from '../../src/train/step.js';

/**
 * Windows of a repeating pattern in which a token alone does not fix the next one
 * (0 is followed by 1, 2 and 3), so the model must attend to earlier positions.
 */
export const PATTERN = [0, 1, 0, 2, 0, 3, 1, 2];

export function patternBatches(batch: number, length: number, seed: number): () => Batch {
  const next = uniformStream(seed);
  return () => {
    const rows = Array.from({ length: batch }, () => {
      const start = Math.floor(next() * PATTERN.length);
      return Array.from({ length: length + 1 }, (_, i) => PATTERN[(start + i) % PATTERN.length]);
    });
    return {
      inputs: tf.tensor2d(
        rows.map((r) => r.slice(0, length)),
        undefined,
        'int32',
      ),
      targets: tf.tensor2d(
        rows.map((r) => r.slice(1)),
        undefined,
        'int32',
      ),
    };
  };
}
