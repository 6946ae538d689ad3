import * as tf from '@tensorflow/tfjs';
import { headDim } from '../../config/model.js';
import { linear } from '../layers.js';
import {
  attentionLogits,
  attentionWeight,
  causalSoftmax,
  dropProbabilities,
  headOutputs,
  headsFirst,
  mergeHeads,
  projectQkv,
  repeatKv,
  type AttentionContext,
  type AttentionResult,
} from './shared.js';

/**
 * The baseline: H causal softmax heads of width d = D/H (H_kv key/value heads), concatenated, W_o;
 * with model.headNorm on, each head's output RMS-normalised first (the paper's "Transformer with GroupNorm").
 */
export function standardAttention(x: tf.Tensor, context: AttentionContext): AttentionResult {
  const { heads, kvHeads } = context.config;
  const d = headDim(context.config);
  const { queries, keys, values } = projectQkv(x, context, {
    queries: heads,
    keys: kvHeads,
    values: kvHeads,
    width: d,
    valueWidth: d,
  }); // [B, T, H|Hkv, d]

  const repeats = heads / kvHeads;
  const [q, k] = [headsFirst(queries), repeatKv(headsFirst(keys), repeats, 1)];
  const probs = causalSoftmax(q, k, context, 1 / Math.sqrt(d)); // [B, H, Tq, Tk]
  const kept = dropProbabilities(probs, context); // training with dropout only
  const perHead = tf.matMul(kept, repeatKv(headsFirst(values), repeats, 1)); // [B, H, Tq, d]
  // [B, Tq, D]
  const out = linear(mergeHeads(headOutputs(perHead, context)), attentionWeight(context, 'out_proj.weight'));
  // captured for analyses only: the logits cost a second product, never paid in training
  return {
    out,
    maps: context.capture ? { attention: probs, logits: attentionLogits(q, k, 1 / Math.sqrt(d)) } : undefined,
  };
}
