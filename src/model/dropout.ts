import * as tf from '@tensorflow/tfjs';

/**
 * Dropout, in training only, where nanoGPT puts it: the token embeddings, the attention
 * probabilities (every map of a differential pair), and each block's two residual branches.
 * The uniform noise comes from the caller (src/train/step.ts, from the engine in src/backend/):
 * a function of the tensor's shape and the site, seeded per step and micro-batch, so that a
 * resumed run draws exactly the masks the uninterrupted one drew.
 */
export interface Dropout {
  /** p, the probability that an entry is zeroed. */
  rate: number;
  /** Uniform [0, 1) noise of `shape` for dropout site `site` (each site its own stream). */
  noise(shape: number[], site: number): tf.Tensor;
}

/** The dropout sites of a decoder: the embeddings, then per layer its attention map and its two branches. */
export const DROPOUT_SITES = {
  embedding: 0,
  attentionMaps: (layer: number) => 1 + 3 * layer,
  attentionOutput: (layer: number) => 2 + 3 * layer,
  ffnOutput: (layer: number) => 3 + 3 * layer,
} as const;

/** x with each entry zeroed with probability p and the rest scaled by 1/(1 − p); x itself without dropout. */
export function dropout(x: tf.Tensor, site: number, drop: Dropout | undefined): tf.Tensor {
  if (!drop || drop.rate === 0) return x;
  const kept = tf.greaterEqual(drop.noise(x.shape, site), drop.rate);
  return tf.mul(x, tf.mul(tf.cast(kept, 'float32'), 1 / (1 - drop.rate)));
}
