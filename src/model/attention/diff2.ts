import * as tf from '@tensorflow/tfjs';
import { headDim } from '../../config/model.js';
import { linear } from '../layers.js';
import { attentionLogits, attentionWeight, causalSoftmax, headsFirst, mergeHeads, projectQkv, repeatKv, type AttentionContext, type AttentionResult } from './shared.js';

/**
 * Differential attention, V2 (microsoft/unilm, 2026). Baseline head widths, but 2H query heads
 * attending ordinarily to the shared kv heads; output head i is
 *   attn[2i] − sigmoid(λ_{t,i}) · attn[2i+1],   λ = x W_λ (D → H, per token and head).
 * No per-head norm, no λ_init. W_q is twice as wide as the baseline's, plus W_λ.
 */
export function diff2Attention(x: tf.Tensor, context: AttentionContext): AttentionResult {
  const { heads, kvHeads } = context.config;
  const d = headDim(context.config);
  const [batch, length] = x.shape;
  const { queries, keys, values } = projectQkv(x, context, { queries: 2 * heads, keys: kvHeads, values: kvHeads, width: d, valueWidth: d }); // [B, T, 2H|Hkv, d]

  // Query heads 2i and 2i+1 share output head i and its kv group: stacking them along the
  // query-time axis sends both through one product against head i's keys: [B, H, 2·Tq, d].
  const stacked = headsFirst(queries).reshape([batch, heads, 2 * length, d]);
  const repeats = heads / kvHeads;
  const repeatedKeys = repeatKv(headsFirst(keys), repeats, 1);
  const probs = causalSoftmax(stacked, repeatedKeys, context.stackedMask(), 1 / Math.sqrt(d)); // [B, H, 2·Tq, Tk]
  const attended = tf.matMul(probs, repeatKv(headsFirst(values), repeats, 1)); // [B, H, 2·Tq, d]
  const [first, second] = tf.unstack(attended.reshape([batch, heads, 2, length, d]), 2); // [B, H, Tq, d] each

  const lambda = linear(x, attentionWeight(context, 'lambda_proj.weight')).transpose([0, 2, 1]); // λ: [B, H, Tq]
  const gate = tf.sigmoid(lambda);
  const perHead = tf.sub(first, tf.mul(gate.expandDims(-1), second)); // [B, H, Tq, d]
  const out = linear(mergeHeads(perHead), attentionWeight(context, 'out_proj.weight')); // [B, Tq, D]
  const maps = context.capture ? diff2Maps(probs, attentionLogits(stacked, repeatedKeys, 1 / Math.sqrt(d)), lambda, gate, length) : undefined;
  return { out, maps };
}

/**
 * What analyses read (capture only): the two maps of each output head, the map its output is
 * effectively made of, attn[2i] − sigmoid(λ)·attn[2i+1] (the value product is linear), λ, the gate,
 * and the pre-softmax logits [B, H, 2, Tq, Tk].
 */
function diff2Maps(probs: tf.Tensor, logits: tf.Tensor, lambda: tf.Tensor, gate: tf.Tensor, length: number): Record<string, tf.Tensor> {
  const [batch, heads] = probs.shape;
  const [a1, a2] = tf.unstack(probs.reshape([batch, heads, 2, length, -1]), 2); // [B, H, Tq, Tk] each
  const differential = tf.sub(a1, tf.mul(gate.expandDims(-1), a2));
  return { a1, a2, differential, lambda, gate, logits: logits.reshape([batch, heads, 2, length, -1]) };
}
