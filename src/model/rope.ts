import * as tf from '@tensorflow/tfjs';

/**
 * Rotary position embedding on adjacent pairs of dimensions (the reference's `interleaved=True`):
 * the pair (x[2i], x[2i+1]) at position t is rotated by the angle t·θᵢ, θᵢ = base^(−2i/d):
 *   x'[2i]   = x[2i]·cos − x[2i+1]·sin
 *   x'[2i+1] = x[2i]·sin + x[2i+1]·cos
 * computed as x·cos + (x·R)·sin, where R maps each pair (a, b) to (−b, a): the pair rotation as a
 * [d, d] matrix. One small product is the fastest form on every engine (measured on [12, 64, 4, 32]:
 * tensorflow 0.5 ms against 0.9 ms for unstack → (−b, a) → stack; wasm 0.4 ms against 4.4 ms), and
 * its gradient is one product too.
 */
export interface RopeTables {
  /** cos(t·θᵢ), each repeated for both members of its pair: [maxLen, d]. */
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
  /** The pair rotation, [d, d]. */
  rotation: tf.Tensor2D;
}

export function ropeAngles(maxLen: number, dim: number, base: number): { cos: Float32Array; sin: Float32Array } {
  const cos = new Float32Array(maxLen * dim);
  const sin = new Float32Array(maxLen * dim);
  for (let t = 0; t < maxLen; t++) {
    for (let i = 0; i < dim / 2; i++) {
      const angle = t * base ** ((-2 * i) / dim);
      for (const j of [2 * i, 2 * i + 1]) {
        cos[t * dim + j] = Math.cos(angle);
        sin[t * dim + j] = Math.sin(angle);
      }
    }
  }
  return { cos, sin };
}

/** Built once per model (kept outside any tidy); the owner disposes them. */
export function createRopeTables(maxLen: number, dim: number, base: number): RopeTables {
  const { cos, sin } = ropeAngles(maxLen, dim, base);
  const rotation = new Float32Array(dim * dim);
  for (let i = 0; i < dim / 2; i++) {
    // (x·R)[2i] = −x[2i+1] and (x·R)[2i+1] = x[2i]
    rotation[(2 * i + 1) * dim + 2 * i] = -1;
    rotation[2 * i * dim + 2 * i + 1] = 1;
  }
  return {
    cos: tf.tensor2d(cos, [maxLen, dim]),
    sin: tf.tensor2d(sin, [maxLen, dim]),
    rotation: tf.tensor2d(rotation, [dim, dim]),
  };
}

/** The tables' rows for positions offset .. offset+length−1, shaped [length, 1, d] to broadcast over heads. */
export function ropeWindow(tables: RopeTables, offset: number, length: number): { cos: tf.Tensor; sin: tf.Tensor } {
  const dim = tables.cos.shape[1];
  return {
    cos: tables.cos.slice([offset, 0], [length, dim]).reshape([length, 1, dim]),
    sin: tables.sin.slice([offset, 0], [length, dim]).reshape([length, 1, dim]),
  };
}

/**
 * The tables' rows at each row's own positions ([B, T] int32: batched decoding, rows at different
 * positions), shaped [B, T, 1, d].
 */
export function ropeAt(tables: RopeTables, positions: tf.Tensor2D): { cos: tf.Tensor; sin: tf.Tensor } {
  const [batch, length] = positions.shape;
  const dim = tables.cos.shape[1];
  const rows = (table: tf.Tensor2D) => tf.gather(table, positions.reshape([-1])).reshape([batch, length, 1, dim]);
  return { cos: rows(tables.cos), sin: rows(tables.sin) };
}

/** Rotates x [B, T, n, d] (n heads) by the window's angles. */
export function applyRope(x: tf.Tensor, window: { cos: tf.Tensor; sin: tf.Tensor }, rotation: tf.Tensor2D): tf.Tensor {
  const dim = rotation.shape[0];
  const rotated = tf.matMul(x.reshape([-1, dim]), rotation).reshape(x.shape); // pairs (a, b) → (−b, a)
  return tf.add(tf.mul(x, window.cos), tf.mul(rotated, window.sin));
}
