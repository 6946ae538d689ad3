import * as tf from '@tensorflow/tfjs';
import { headDim, type ModelConfig } from '../../config/model.js';
import { linear } from '../layers.js';
import { linearSpec, type Parameters, type ParameterSpec } from '../parameter-spec.js';
import { type AttentionDiagnostics, gateStats } from './diagnostics.js';
import {
  attentionLogits,
  attentionWeight,
  differentialMaps,
  headsFirst,
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
 * baseline's, plus W_λ.
 */
/** diff2's own parameters per layer, beside the projections: W_λ (D → H), one λ per token and head. */
export function diff2Parameters(config: ModelConfig, prefix: string): ParameterSpec[] {
  return [linearSpec(`${prefix}.lambda_proj.weight`, config.width, config.heads, config.initStd, 'attention')];
}

export function diff2Attention(x: tf.Tensor, context: AttentionContext): AttentionResult {
  const { heads, kvHeads } = context.config;
  const d = headDim(context.config);
  const [batch, length] = x.shape;
  const scale = 1 / Math.sqrt(d);
  const qkvHeads = { queries: 2 * heads, keys: kvHeads, values: kvHeads, width: d, valueWidth: d };
  const { queries, keys, values } = projectQkv(x, context, qkvHeads); // [B, T, 2H|Hkv, d]

  const repeats = heads / kvHeads;
  const queryPairs = headsFirst(queries).reshape([batch, heads, 2, length, d]); // [B, H, 2, Tq, d]
  const repeatedKeys = repeatKv(headsFirst(keys), repeats, 1); // [B, H, Tk, d]
  // both maps of a pair read the same keys: one product, the pair viewed as [B, H, 2·Tq, d]
  const pairRows = queryPairs.reshape([batch, heads, 2 * length, d]);
  // [B, H, 2, Tq, Tk]
  const logits = attentionLogits(pairRows, repeatedKeys, scale).reshape([batch, heads, 2, length, -1]);
  const probs = tf.softmax(tf.add(logits, context.mask)); // [B, H, 2, Tq, Tk]

  const lambda = linear(x, attentionWeight(context, 'lambda_proj.weight')).transpose([0, 2, 1]); // λ: [B, H, Tq]
  const gate = tf.sigmoid(lambda).expandDims(-1); // [B, H, Tq, 1]
  const [a1Values, a2Values] = pairProducts(probs, repeatKv(headsFirst(values), repeats, 1)); // [B, H, Tq, d]
  const perHead = tf.sub(a1Values, tf.mul(gate, a2Values)); // (A1 − σ(λ)·A2)·V = A1·V − σ(λ)·(A2·V)
  const out = linear(mergeHeads(perHead), attentionWeight(context, 'out_proj.weight')); // [B, Tq, D]
  const maps = context.capture
    ? { ...differentialMaps(probs, gate), lambda, gate: gate.squeeze([-1]), logits }
    : undefined;
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
