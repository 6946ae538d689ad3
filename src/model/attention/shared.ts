import * as tf from '@tensorflow/tfjs';
import { headNormOn, type ModelConfig } from '../../config/model.js';
import { linear, rmsNorm } from '../layers.js';
import type { Parameters } from '../parameter-spec.js';
import { applyRope } from '../rope.js';
import { DROPOUT_SITES, type Dropout, dropout } from '../dropout.js';

/**
 * What the three attentions share: the per-call context, head reshapes, key/value repetition for
 * grouped-query attention, the key/value cache, and the masked softmax.
 */

/**
 * Keys and values of one layer from earlier decoding steps, [B, Tpast, nKv, width] each. With `slots`
 * the cache has a fixed capacity C instead (compiled decoding, whose shapes must not grow), flat as
 * [B, C, nKv·width]: this call's keys and values are written into the slots `slots` names ([B·Tq, 2]
 * int32: row and slot of each query position, row by row), and the mask hides the slots not yet written.
 */
export interface LayerCache {
  keys?: tf.Tensor;
  values?: tf.Tensor;
  slots?: tf.Tensor;
}

export interface AttentionContext {
  config: ModelConfig;
  params: Parameters;
  layer: number;
  /** Rotary tables for the query positions: [Tq, 1, d], or [B, Tq, 1, d] when rows sit at different positions. */
  rope: { cos: tf.Tensor; sin: tf.Tensor };
  rotation: tf.Tensor2D;
  /**
   * Additive causal mask [Tq, Tk], or [B, Tq, Tk] when rows sit at different positions: 0 where the key is
   * visible, a large negative number where not.
   */
  mask: tf.Tensor;
  /** Return the attention maps (analyses only; off in training). */
  capture: boolean;
  /** Present during incremental decoding: keys/values are appended to it. */
  cache?: LayerCache;
  /** Present in training with model.dropout > 0: drops attention probabilities (src/model/dropout.ts). */
  dropout?: Dropout;
  /** Evaluation of low-bit attention: the logits fake-quantized to this many bits before the softmax. */
  logitBits?: number;
}

export interface AttentionResult {
  /** [B, Tq, D] */
  out: tf.Tensor;
  /** Named attention maps when `capture` is on, e.g. A1, A2 and the differential map. */
  maps?: Record<string, tf.Tensor>;
}

export type AttentionFn = (x: tf.Tensor, context: AttentionContext) => AttentionResult;

/** What one layer of a forward pass with `capture` on returns. */
export interface LayerCapture {
  /** The residual stream after the block, [B, T, D]. */
  hidden: tf.Tensor;
  /**
   * The attention maps [B, heads, Tq, Tk] — standard: `attention`; diff and diff2: `a1`, `a2` and the
   * `differential` map the output is made of — the pre-softmax `logits`, and diff2's `lambda` and `gate` [B, H, Tq].
   */
  maps: Record<string, tf.Tensor>;
}

/** The weight named `attn.<name>` of the context's layer. */
export function attentionWeight(context: AttentionContext, name: string): tf.Variable {
  const weight = context.params[`layers.${context.layer}.attn.${name}`];
  if (!weight) throw new Error(`missing parameter layers.${context.layer}.attn.${name}`);
  return weight;
}

/** [B, T, n·width] → [B, T, n, width] */
export function splitHeads(x: tf.Tensor, count: number, width: number): tf.Tensor {
  const [batch, length] = x.shape;
  return x.reshape([batch, length, count, width]);
}

/** [B, T, n, width] → [B, n, T, width] */
export function headsFirst(x: tf.Tensor): tf.Tensor {
  return x.transpose([0, 2, 1, 3]);
}

/** [B, n, T, width] → [B, T, n·width] */
export function mergeHeads(x: tf.Tensor): tf.Tensor {
  const [batch, count, length, width] = x.shape;
  return x.transpose([0, 2, 1, 3]).reshape([batch, length, count * width]);
}

/**
 * Grouped-query attention: each of the nKv heads on `headAxis` serves `repeats` consecutive query
 * heads, so kv head g is repeated into heads g·repeats .. g·repeats + repeats − 1.
 * Tiled to equal shapes (tfjs cannot differentiate a matMul whose batch axes broadcast), through a
 * rank-4 view: tile and transpose are slow on wasm above rank 4.
 */
export function repeatKv(x: tf.Tensor, repeats: number, headAxis: number): tf.Tensor {
  if (repeats === 1) return x;
  const shape = x.shape;
  const before = shape.slice(0, headAxis).reduce((a, b) => a * b, 1);
  const after = shape.slice(headAxis + 1).reduce((a, b) => a * b, 1);
  const tiled = tf.tile(x.reshape([before, shape[headAxis], 1, after]), [1, 1, repeats, 1]); // [.., nKv, repeats, ..]
  const merged = [...shape];
  merged[headAxis] = shape[headAxis] * repeats;
  return tiled.reshape(merged);
}

/**
 * Appends this call's keys and values ([B, Tq, nKv, width]) to the cache and returns the full ones.
 * Without a cache they pass through.
 */
export function extendCache(
  cache: LayerCache | undefined,
  keys: tf.Tensor,
  values: tf.Tensor,
): { keys: tf.Tensor; values: tf.Tensor } {
  if (!cache) return { keys, values };
  if (cache.slots) {
    cache.keys = writeSlots(cache.keys!, keys, cache.slots);
    cache.values = writeSlots(cache.values!, values, cache.slots);
    const [batch, capacity] = cache.keys.shape;
    const heads = (fresh: tf.Tensor) => [batch, capacity, ...fresh.shape.slice(2)];
    return { keys: cache.keys.reshape(heads(keys)), values: cache.values.reshape(heads(values)) };
  }
  const allKeys = cache.keys ? tf.concat([cache.keys, keys], 1) : keys;
  const allValues = cache.values ? tf.concat([cache.values, values], 1) : values;
  cache.keys?.dispose();
  cache.values?.dispose();
  cache.keys = tf.keep(allKeys);
  cache.values = tf.keep(allValues);
  return { keys: allKeys, values: allValues };
}

/**
 * A fixed-capacity cache [B, C, n·w] with `fresh` [B, Tq, n, w] written into `slots` ([B·Tq, 2]: row,
 * slot): a copy, so the cache holds exactly what a growing one would.
 */
function writeSlots(stored: tf.Tensor, fresh: tf.Tensor, slots: tf.Tensor): tf.Tensor {
  return tf.tensorScatterUpdate(stored, slots, fresh.reshape([slots.shape[0], stored.shape[2]!]));
}

/**
 * The projections every attention starts with: Q = x·W_q, K = x·W_k, V = x·W_v viewed as heads,
 * rotary embedding on Q and K, and K, V appended to the cache when decoding incrementally.
 * Returns queries [B, Tq, nQ, d], keys [B, Tk, nK, d] and values [B, Tk, nV, valueWidth].
 */
export function projectQkv(
  x: tf.Tensor,
  context: AttentionContext,
  heads: { queries: number; keys: number; values: number; width: number; valueWidth: number },
): { queries: tf.Tensor; keys: tf.Tensor; values: tf.Tensor } {
  const rotate = (t: tf.Tensor) => applyRope(t, context.rope, context.rotation);
  const project = (name: string, count: number, width: number) =>
    splitHeads(linear(x, attentionWeight(context, name)), count, width);
  const queries = rotate(project('q_proj.weight', heads.queries, heads.width));
  const { keys, values } = extendCache(
    context.cache,
    rotate(project('k_proj.weight', heads.keys, heads.width)),
    project('v_proj.weight', heads.values, heads.valueWidth),
  );
  return { queries, keys, values };
}

/**
 * softmax((q·scale)·kᵀ + mask) over the key axis; q [..., Tq, d], k [..., Tk, d] → [..., Tq, Tk].
 * The scale goes on the queries, which have d entries per row where the scores have Tk.
 */
export function causalSoftmax(
  queries: tf.Tensor,
  keys: tf.Tensor,
  context: AttentionContext,
  scale: number,
): tf.Tensor {
  return maskedSoftmax(attentionLogits(queries, keys, scale), context);
}

/** softmax(logits + mask), the logits fake-quantized first when the context asks for low-bit attention. */
export function maskedSoftmax(logits: tf.Tensor, context: AttentionContext): tf.Tensor {
  const mask = maskOver(logits, context.mask);
  const quantized = context.logitBits ? quantizeLogits(logits, mask, context.logitBits) : logits;
  return tf.softmax(tf.add(quantized, mask));
}

/**
 * The mask shaped to broadcast over logits [B, …, Tq, Tk]: a shared [Tq, Tk] one as it is, a per-row
 * [B, Tq, Tk] one with an axis of one for each axis between the batch and the queries.
 */
function maskOver(logits: tf.Tensor, mask: tf.Tensor): tf.Tensor {
  if (mask.rank === 2) return mask;
  const [batch, queries, keys] = mask.shape;
  return mask.reshape([batch, ...new Array<number>(logits.rank - 3).fill(1), queries, keys]);
}

/**
 * Symmetric absmax fake quantization of attention logits [..., Tq, Tk] to `bits` bits, per map: each
 * map's step is its largest |logit| over the positions the mask leaves visible, divided by 2^(bits−1) − 1;
 * every logit is rounded to a multiple of it. Per map because that is what one kernel computes for one
 * head of one sequence — an outlier anywhere in the map coarsens all of it, which is the effect the
 * Differential Transformer paper's Figure 8 attributes DIFF's robustness to. Masked positions, whose
 * logits are never used, do not set the scale.
 */
export function quantizeLogits(logits: tf.Tensor, mask: tf.Tensor, bits: number): tf.Tensor {
  const levels = 2 ** (bits - 1) - 1;
  const visible = tf.cast(tf.equal(mask, 0), 'float32');
  const absmax = tf.max(tf.mul(tf.abs(logits), visible), [-2, -1], true);
  const step = tf.div(tf.maximum(absmax, 1e-30), levels);
  return tf.mul(tf.round(tf.div(logits, step)), step);
}

/** The pre-softmax attention logits (q·scale)·kᵀ, before the mask: [..., Tq, Tk]. */
export function attentionLogits(queries: tf.Tensor, keys: tf.Tensor, scale: number): tf.Tensor {
  return tf.matMul(queries.mul(scale), keys, false, true);
}

/**
 * Each differential pair's two maps applied to the values: probs [B, n, 2, Tq, Tk] and values
 * [B, n, Tk, w] → A1·V and A2·V, [B, n, Tq, w] each, from one product (the pair folded into the rows).
 * The differential attentions combine these rather than the maps — (A1 − λ·A2)·V = A1·V − λ·(A2·V),
 * the product being linear — because the value-sized form has no element-wise pass over the T×T maps
 * in either direction, and because on the multi-threaded tensorflow engine it is the form whose
 * gradients are bit-identical from run to run (docs/design.md, "Reproducibility").
 */
export function pairProducts(probs: tf.Tensor, values: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const [batch, count, , length, keyLength] = probs.shape;
  const width = values.shape[values.rank - 1];
  const products = tf.matMul(probs.reshape([batch, count, 2 * length, keyLength]), values);
  const [first, second] = tf.unstack(products.reshape([batch, count, 2, length, width]), 2);
  return [first, second];
}

/** For analyses: each pair's maps A1 and A2 and the differential map A1 − λ·A2, [B, n, Tq, Tk] each. */
export function differentialMaps(probs: tf.Tensor, lambda: tf.Tensor): Record<'a1' | 'a2' | 'differential', tf.Tensor> {
  const [a1, a2] = tf.unstack(probs, 2);
  return { a1, a2, differential: tf.sub(a1, tf.mul(lambda, a2)) };
}

/**
 * Each head's output [B, n, Tq, w] times `scale`, through the per-head RMSNorm first where the config
 * has it (its weight `subln.weight`, w entries shared by the layer's heads).
 */
export function headOutputs(perHead: tf.Tensor, context: AttentionContext, scale = 1): tf.Tensor {
  if (!headNormOn(context.config)) return scale === 1 ? perHead : tf.mul(perHead, scale);
  const weight = attentionWeight(context, 'subln.weight');
  // the scale goes on the norm's weight: the same product, on w entries rather than B·n·Tq·w
  return rmsNorm(perHead, scale === 1 ? weight : weight.mul(scale), context.config.normEps);
}

/** The attention probabilities with dropout, in training with model.dropout > 0 (every map of a pair alike). */
export function dropProbabilities(probs: tf.Tensor, context: AttentionContext): tf.Tensor {
  return dropout(probs, DROPOUT_SITES.attentionMaps(context.layer), context.dropout);
}
