import * as tf from '@tensorflow/tfjs';
import { headDim, type ModelConfig } from '../../config/model.js';
import { linear } from '../layers.js';
import { linearSpec, type Parameters, type ParameterSpec } from '../parameter-spec.js';
import { type AttentionDiagnostics, gateStats } from './diagnostics.js';
import {
  attentionLogits,
  attentionWeight,
  differentialMaps,
  dropProbabilities,
  headOutputs,
  headsFirst,
  maskedSoftmax,
  mergeHeads,
  pairProducts,
  projectQkv,
  repeatKv,
  type AttentionContext,
  type AttentionResult,
  type LayerCapture,
} from './shared.js';

/**
 * Differential attention, V2 (microsoft/unilm, 2026). Baseline head widths, but 2H query heads
 * attending ordinarily to the shared kv heads; query heads 2i and 2i+1 give output head i's two maps:
 *   [A1; A2] = softmax(Q_{2i} K_gᵀ/√d), softmax(Q_{2i+1} K_gᵀ/√d)      (g: head i's kv group)
 *   head_i   = (A1 − sigmoid(λ_{t,i}) · A2) · V_g,   λ = x W_λ (D → H, per token and head)
 * — the reference's attn[:, :, 0::2] − σ(λ)·attn[:, :, 1::2], here with the value product taken before
 * the subtraction (it is linear: see pairProducts). No per-head norm, no λ_init. W_q is twice the
 * baseline's, plus W_λ. The ablation switches (src/config/model.ts) change the gate (a scalar per
 * head, none, or λ without the sigmoid) and pair query heads i and H + i, from different kv groups.
 */
/**
 * diff2's own parameters per layer, beside the projections — token and unbounded: W_λ (D → H), one
 * λ per token and head; scalar: λ of each head, starting at 0 (a gate of ½, where W_λ starts too); none: none.
 */
export function diff2Parameters(config: ModelConfig, prefix: string): ParameterSpec[] {
  if (config.gate === 'none') return [];
  if (config.gate === 'scalar') {
    const init = { kind: 'constant', value: 0 } as const;
    return [{ name: `${prefix}.lambda`, shape: [config.heads], init, component: 'attention', isLinear: false }];
  }
  return [linearSpec(`${prefix}.lambda_proj.weight`, config.width, config.heads, config.initStd, 'attention')];
}

/** λ, [B, H, Tq] or broadcastable to it, and the gate on A2, broadcastable to [B, H, Tq, 1]. */
function gateOf(x: tf.Tensor, context: AttentionContext): { lambda: tf.Tensor; gate: tf.Tensor } {
  const { gate } = context.config;
  if (gate === 'none') return { lambda: tf.scalar(1), gate: tf.scalar(1) };
  if (gate === 'scalar') {
    const lambda = attentionWeight(context, 'lambda').reshape([-1, 1]); // [H, 1]
    return { lambda, gate: tf.sigmoid(lambda).expandDims(-1) };
  }
  const lambda = linear(x, attentionWeight(context, 'lambda_proj.weight')).transpose([0, 2, 1]); // [B, H, Tq]
  return { lambda, gate: (gate === 'unbounded' ? lambda : tf.sigmoid(lambda)).expandDims(-1) };
}

/**
 * Each output head's two maps, [B, H, 2, Tq, Tk], and the logits they come from. group: query heads
 * 2i and 2i+1 share a kv group, so both read the same keys and one product makes both maps.
 */
function groupPairs(queries: tf.Tensor, keys: tf.Tensor, context: AttentionContext) {
  const { heads, kvHeads } = context.config;
  const [batch, length, , d] = queries.shape;
  const queryPairs = headsFirst(queries).reshape([batch, heads, 2, length, d]); // [B, H, 2, Tq, d]
  const repeatedKeys = repeatKv(headsFirst(keys), heads / kvHeads, 1); // [B, H, Tk, d]
  // both maps of a pair read the same keys: one product, the pair viewed as [B, H, 2·Tq, d]
  const pairRows = queryPairs.reshape([batch, heads, 2 * length, d]);
  const logits = attentionLogits(pairRows, repeatedKeys, 1 / Math.sqrt(d)).reshape([batch, heads, 2, length, -1]);
  return { logits, probs: maskedSoftmax(logits, context) };
}

/** across: query heads i and H + i, each attending to its own kv group as grouped-query attention would. */
function acrossPairs(queries: tf.Tensor, keys: tf.Tensor, context: AttentionContext) {
  const { heads, kvHeads } = context.config;
  const [batch, length, , d] = queries.shape;
  const repeatedKeys = repeatKv(headsFirst(keys), (2 * heads) / kvHeads, 1); // [B, 2H, Tk, d]: head j, group ⌊j·Hkv/2H⌋
  const logits = attentionLogits(headsFirst(queries), repeatedKeys, 1 / Math.sqrt(d)); // [B, 2H, Tq, Tk]
  const pairs = (t: tf.Tensor) => t.reshape([batch, 2, heads, length, -1]).transpose([0, 2, 1, 3, 4]);
  return { logits: pairs(logits), probs: pairs(maskedSoftmax(logits, context)) };
}

/** Values for each output head's pair, [B, H, 2, Tk, d] (across) — or [B, H, Tk, d], one per pair (group). */
function pairValues(values: tf.Tensor, context: AttentionContext): tf.Tensor {
  const { heads, kvHeads, pairing } = context.config;
  if (pairing === 'group') return repeatKv(headsFirst(values), heads / kvHeads, 1);
  const [batch, length, , d] = values.shape;
  const repeated = repeatKv(headsFirst(values), (2 * heads) / kvHeads, 1); // [B, 2H, Tk, d]
  return repeated.reshape([batch, 2, heads, length, d]).transpose([0, 2, 1, 3, 4]);
}

export function diff2Attention(x: tf.Tensor, context: AttentionContext): AttentionResult {
  const { heads, kvHeads, pairing } = context.config;
  const d = headDim(context.config);
  const qkvHeads = { queries: 2 * heads, keys: kvHeads, values: kvHeads, width: d, valueWidth: d };
  const { queries, keys, values } = projectQkv(x, context, qkvHeads); // [B, T, 2H|Hkv, d]
  const { logits, probs } = (pairing === 'group' ? groupPairs : acrossPairs)(queries, keys, context);

  const { lambda, gate } = gateOf(x, context);
  const paired = pairValues(values, context);
  const kept = dropProbabilities(probs, context); // training with dropout only
  const [a1Values, a2Values] =
    pairing === 'group' ? pairProducts(kept, paired) : tf.unstack(tf.matMul(kept, paired), 2); // [B, H, Tq, d]
  const perHead = tf.sub(a1Values, tf.mul(gate, a2Values)); // (A1 − σ(λ)·A2)·V = A1·V − σ(λ)·(A2·V)
  const out = linear(mergeHeads(headOutputs(perHead, context)), attentionWeight(context, 'out_proj.weight'));
  if (!context.capture) return { out };
  const [batch, length] = x.shape as number[];
  const perToken = (t: tf.Tensor) => tf.broadcastTo(t, [batch, heads, length]);
  const maps = {
    ...differentialMaps(probs, gate),
    lambda: perToken(lambda),
    gate: perToken(gate.reshape(gate.shape.slice(0, -1))),
    logits,
  };
  return { out, maps };
}

/** diff2's diagnostics from one forward pass's captures (the weights alone say nothing of the gates). */
export function diff2Diagnostics(
  _params: Parameters,
  _config: ModelConfig,
  captures?: LayerCapture[],
): AttentionDiagnostics {
  if (!captures) return {};
  const gates = captures.map(({ maps }) => {
    const lambda = gateStats(maps.lambda.dataSync());
    return { lambdaMean: lambda.mean, lambdaStd: lambda.std, gate: gateStats(maps.gate.dataSync()) };
  });
  return { gates };
}
