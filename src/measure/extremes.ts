import * as tf from '@tensorflow/tfjs';
import type { Decoder } from '../model/decoder.js';
import { measureRows } from './rows.js';

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

export function layerExtremes(
  model: Decoder,
  inputs: tf.Tensor2D,
  rows = measureRows(model.config, inputs.shape[1]),
): LayerExtremes {
  const [batch, length] = inputs.shape;
  const maxLogit = new Array<number>(model.config.layers).fill(-Infinity);
  const maxActivation = new Array<number>(model.config.layers).fill(-Infinity);
  const visible = tf.tidy(() => tf.linalg.bandPart(tf.ones([length, length]), -1, 0).cast('bool')); // key ≤ query
  // a few rows at a time: every layer's captured maps are alive together (src/measure/rows.ts)
  for (let from = 0; from < batch; from += rows) {
    tf.tidy(() => {
      const part = inputs.slice([from, 0], [Math.min(rows, batch - from), length]);
      const { captures } = model.forward(part, { capture: true });
      captures!.forEach((layer, i) => {
        const logits = layer.maps.logits; // [rows, heads, (2,) Tq, Tk]
        const largest = tf.where(visible, logits, tf.fill(logits.shape, -Infinity)).max().dataSync()[0];
        maxLogit[i] = Math.max(maxLogit[i], largest);
        maxActivation[i] = Math.max(maxActivation[i], layer.hidden.abs().max().dataSync()[0]);
      });
    });
  }
  visible.dispose();
  return { maxLogit, maxActivation };
}
