import * as tf from '@tensorflow/tfjs';

/**
 * The small building blocks of the decoder: a bias-free linear map, RMSNorm and the SwiGLU FFN.
 */

/** x · W for x [..., in] and W [in, out] → [..., out] (folds the leading axes into one product). */
export function linear(x: tf.Tensor, weight: tf.Tensor): tf.Tensor {
  const [inWidth, outWidth] = weight.shape;
  const leading = x.shape.slice(0, -1);
  const product = tf.matMul(x.reshape([-1, inWidth]), weight as tf.Tensor2D); // [N, out]
  return product.reshape([...leading, outWidth]);
}

/** RMSNorm(x) = x / sqrt(mean(x²) + eps) · w, over the last axis. */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  const meanSquare = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight);
}

/** SwiGLU(x) = W_down( silu(x W_gate) ⊙ (x W_up) ). */
export function swiGlu(x: tf.Tensor, gate: tf.Tensor, up: tf.Tensor, down: tf.Tensor): tf.Tensor {
  const gated = tf.mul(silu(linear(x, gate)), linear(x, up));
  return linear(gated, down);
}

/** silu(z) = z · sigmoid(z). Written out because tfjs has no silu op with a gradient. */
export function silu(z: tf.Tensor): tf.Tensor {
  return tf.mul(z, tf.sigmoid(z));
}
