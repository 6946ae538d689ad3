import * as tf from '@tensorflow/tfjs';
import type { Decoder } from '../model/decoder.js';

/**
 * The stability statistics of one batch, per layer: the largest attention logit a query can see
 * (pre-softmax, causal entries only; for diff and diff2 over both maps of a pair) and the largest
 * magnitude in the residual stream after the block. Logit growth saturates the softmax and
 * activation outliers are what V2 says it tames; logged at every evaluation on a fixed batch.
 */
export interface LayerExtremes {
  maxLogit: number[];
  maxActivation: number[];
}

export function layerExtremes(model: Decoder, inputs: tf.Tensor2D): LayerExtremes {
  return tf.tidy(() => {
    const { captures } = model.forward(inputs, { capture: true });
    const length = inputs.shape[1];
    const visible = tf.linalg.bandPart(tf.ones([length, length]), -1, 0).cast('bool'); // key ≤ query
    const maxLogit: number[] = [];
    const maxActivation: number[] = [];
    for (const layer of captures!) {
      const logits = layer.maps.logits; // [B, heads, (2,) Tq, Tk]
      maxLogit.push(tf.where(visible, logits, tf.fill(logits.shape, -Infinity)).max().dataSync()[0]);
      maxActivation.push(layer.hidden.abs().max().dataSync()[0]);
    }
    return { maxLogit, maxActivation };
  });
}
