import * as tf from '@tensorflow/tfjs';
import type { Decoder } from '../model/decoder.js';
import { ATTENTION_VARIANTS } from '../model/attention/variants.js';

/**
 * The attention map of one example per layer, averaged over heads: [T, T] row-major, row = query.
 * For diff and diff2 the map the output is made of (A1 − λ·A2, whose entries may be negative).
 */
export function meanAttentionMaps(model: Decoder, tokens: Int32Array): Float32Array[] {
  const name = ATTENTION_VARIANTS[model.config.attention].allocationMaps[0];
  return tf.tidy(() => {
    const inputs = tf.tensor2d(tokens, [1, tokens.length], 'int32');
    const { captures } = model.forward(inputs, { capture: true });
    return captures!.map((layer) => layer.maps[name].mean(1).dataSync() as Float32Array); // [1, H, T, T] → [1, T, T]
  });
}
