import * as tf from '@tensorflow/tfjs';

/** The largest flat index an int32 gather can address. */
export const MAX_FLAT_INDEX = 2 ** 31 - 1;

/**
 * −mean log softmax(logits)[target] over every target, or with `weights` ([B, T]) the weighted mean
 * −Σ w·log p / Σ w (task runs that weigh answers above the text around them). Picking each target's
 * log-probability from the flattened
 * log-probabilities at row·V + target. That index passes 2³¹ once B·T·V does (o200k at ~10.7k tokens
 * per micro-batch), and TensorFlow's GPU gather returns 0 for it instead of failing: so the rows go
 * in chunks whose flat indices stay within `maxIndex`; below that size (every ordinary batch) there
 * is one chunk and one gather. Measured alternatives: a one-hot mask instead of the gather cost 8%
 * (tensorflow) and 19% (wasm) more per step at V = 4096; a gather along the vocabulary axis with one
 * batch dimension has a tfjs gradient that slices the logits row by row, and fails on wasm.
 */
export function crossEntropy(
  logits: tf.Tensor3D,
  targets: tf.Tensor2D,
  weights?: tf.Tensor2D,
  maxIndex = MAX_FLAT_INDEX,
): tf.Scalar {
  const logLikelihoods = targetLogLikelihoods(logits, targets, maxIndex);
  if (!weights) return tf.neg(tf.mean(logLikelihoods));
  const flatWeights = weights.reshape([targets.size]);
  return tf.neg(tf.div(tf.sum(tf.mul(logLikelihoods, flatWeights)), tf.sum(flatWeights)));
}

/** log softmax(logits)[target] of every target, flattened row by row: [B·T]. */
export function targetLogLikelihoods(
  logits: tf.Tensor3D,
  targets: tf.Tensor2D,
  maxIndex = MAX_FLAT_INDEX,
): tf.Tensor1D {
  const vocab = logits.shape[2];
  const count = targets.size;
  const logProbs = tf.logSoftmax(logits.reshape([count, vocab]));
  const targetIds = targets.reshape([count]) as tf.Tensor1D;
  const rowsPerChunk = Math.max(1, Math.floor((maxIndex + 1) / vocab));
  const picked: tf.Tensor[] = [];
  for (let start = 0; start < count; start += rowsPerChunk) {
    const rows = Math.min(rowsPerChunk, count - start);
    const chunk = rows === count ? logProbs : logProbs.slice([start, 0], [rows, vocab]);
    const flatIndex = tf.add(
      tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(vocab, 'int32')),
      rows === count ? targetIds : targetIds.slice(start, rows),
    );
    picked.push(tf.gather(chunk.reshape([rows * vocab]), flatIndex));
  }
  return (picked.length === 1 ? picked[0] : tf.concat(picked)) as tf.Tensor1D;
}
