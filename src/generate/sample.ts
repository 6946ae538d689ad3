import * as tf from '@tensorflow/tfjs';
/**
 * Picks the next token from logits: greedy at temperature 0, else softmax(logits / temperature)
 * restricted to the `topK` most likely tokens and to the smallest set whose probability reaches `topP`.
 */
export interface SamplingOptions {
  temperature: number;
  topK?: number;
  topP?: number;
}

export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, uniform: () => number): number {
  const count = logits.length;
  if (options.temperature <= 0) {
    let best = 0;
    for (let i = 1; i < count; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let order = Array.from({ length: count }, (_, i) => i).sort((a, b) => logits[b] - logits[a]);
  if (options.topK && options.topK > 0) order = order.slice(0, options.topK);
  const max = logits[order[0]];
  let weights = order.map((i) => Math.exp((logits[i] - max) / options.temperature));
  let total = weights.reduce((a, b) => a + b, 0);
  if (options.topP !== undefined && options.topP < 1) {
    let kept = 0;
    let mass = 0;
    // the most likely token always stays: p = 0 is greedy, not an empty set
    do mass += weights[kept++];
    while (kept < weights.length && mass < options.topP * total);
    order = order.slice(0, kept);
    weights = weights.slice(0, kept);
    total = mass;
  }
  let draw = uniform() * total;
  for (let i = 0; i < order.length; i++) {
    draw -= weights[i];
    if (draw <= 0) return order[i];
  }
  return order[order.length - 1];
}

/** The sampler's settings as tensors, so that one compiled program serves every setting. */
export interface DeviceSampling {
  /** [] float32: 0 is greedy. */
  temperature: tf.Tensor;
  /** [] int32: the vocabulary size when unrestricted. */
  topK: tf.Tensor;
  /** [] float32: 1 when unrestricted. */
  topP: tf.Tensor;
}

export function deviceSampling(options: SamplingOptions, vocabSize: number): DeviceSampling {
  return {
    temperature: tf.scalar(Math.max(0, options.temperature)),
    topK: tf.scalar(Math.min(options.topK ?? vocabSize, vocabSize), 'int32'),
    topP: tf.scalar(options.topP ?? 1),
  };
}

/**
 * `sampleToken` on the device, for a batch: logits [B, V] and one uniform draw per row [B] → token ids
 * [B] (int32), so that only the ids come back to JavaScript. The same rule as `sampleToken`: the `topK`
 * likeliest tokens, of those the likeliest until their weight reaches `topP` of the total (the first
 * always kept), then the first token whose running weight reaches draw × kept weight. At temperature 0:
 * the first largest logit (argMax), as `sampleToken` takes it.
 */
export function sampleOnDevice(logits: tf.Tensor2D, uniform: tf.Tensor1D, sampling: DeviceSampling): tf.Tensor1D {
  const [batch, vocab] = logits.shape;
  const greedy = tf.argMax(logits, 1).toInt();
  const { values: sorted, indices: order } = tf.topk(logits, vocab, true); // [B, V], descending
  const temperature = tf.maximum(sampling.temperature, 1e-30);
  const rank = tf.range(0, vocab, 1, 'int32').reshape([1, vocab]);
  const inTopK = tf.less(rank, sampling.topK);
  const scaled = tf.exp(tf.div(tf.sub(sorted, sorted.slice([0, 0], [batch, 1])), temperature));
  const weights = tf.where(inTopK, scaled, tf.zerosLike(sorted));
  const total = tf.sum(weights, 1, true);
  const before = tf.sub(tf.cumsum(weights, 1), weights); // weight of the likelier tokens
  const inNucleus = tf.logicalOr(
    tf.logicalAnd(inTopK, tf.less(before, tf.mul(sampling.topP, total))),
    tf.equal(rank, 0),
  );
  const kept = tf.where(inNucleus, weights, tf.zerosLike(weights));
  const draw = tf.mul(uniform.reshape([batch, 1]), tf.sum(kept, 1, true));
  // the first rank whose running weight reaches the draw, at most the last kept one
  const reached = tf.sum(tf.cast(tf.less(tf.cumsum(kept, 1), draw), 'int32'), 1);
  const lastKept = tf.sub(tf.sum(tf.cast(inNucleus, 'int32'), 1), tf.scalar(1, 'int32'));
  const pick = tf.minimum(reached, lastKept).reshape([batch, 1]);
  const sampled = tf.sum(tf.mul(order, tf.oneHot(pick.reshape([batch]), vocab, 1, 0, 'int32')), 1);
  return tf.where(tf.greater(sampling.temperature, 0), sampled, greedy) as tf.Tensor1D;
}
