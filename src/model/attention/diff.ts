import * as tf from '@tensorflow/tfjs';
import { headDim, type ModelConfig } from '../../config/model.js';
import { linear, rmsNorm } from '../layers.js';
import { normSpec, type Parameters, type ParameterSpec } from '../parameter-spec.js';
import type { AttentionDiagnostics } from './diagnostics.js';
import {
  attentionLogits,
  attentionWeight,
  causalSoftmax,
  differentialMaps,
  headsFirst,
  mergeHeads,
  pairProducts,
  projectQkv,
  repeatKv,
  type AttentionContext,
  type AttentionResult,
} from './shared.js';

/**
 * Differential attention, V1 (Ye et al., "Differential Transformer", ICLR 2025).
 * h = H/2 differential heads, each of width 2d (d = D/H), so W_q, W_k, W_v, W_o keep the baseline's shapes:
 *   [A1; A2] = softmax(Q_{2i} K_{2g}ᵀ/√d), softmax(Q_{2i+1} K_{2g+1}ᵀ/√d)      (g: head i's kv group)
 *   head_i   = (1 − λ_init) · RMSNorm( (A1 − λ·A2) · V_g )
 *   λ        = exp(λq1·λk1) − exp(λq2·λk2) + λ_init
 */

/**
 * diff's own parameters per layer, beside the projections: λ = exp(λq1·λk1) − exp(λq2·λk2) + λ_init
 * from four vectors of the sub-head width d, N(0, 0.1²); one RMSNorm weight over a differential
 * head's 2d channels, shared by the layer's heads.
 */
export function diffParameters(config: ModelConfig, prefix: string): ParameterSpec[] {
  const d = headDim(config);
  const lambdas = ['lambda_q1', 'lambda_k1', 'lambda_q2', 'lambda_k2'].map((vector) => ({
    name: `${prefix}.${vector}`,
    shape: [d],
    init: { kind: 'normal', std: 0.1 } as const,
    component: 'attention' as const,
    isLinear: false,
  }));
  return [...lambdas, { ...normSpec(`${prefix}.subln.weight`, 2 * d), component: 'attention' }];
}

/** λ_init = 0.8 − 0.6·exp(−0.3·l) for the 0-based layer index l. */
export function lambdaInit(layer: number): number {
  return 0.8 - 0.6 * Math.exp(-0.3 * layer);
}

/** λ of one layer as a scalar tensor: exp(λq1·λk1) − exp(λq2·λk2) + λ_init. */
export function diffLambda(params: Parameters, layer: number): tf.Scalar {
  const vector = (name: string) => params[`layers.${layer}.attn.${name}`];
  const first = tf.exp(tf.sum(tf.mul(vector('lambda_q1'), vector('lambda_k1'))));
  const second = tf.exp(tf.sum(tf.mul(vector('lambda_q2'), vector('lambda_k2'))));
  return tf.add(tf.sub(first, second), lambdaInit(layer)) as tf.Scalar;
}

/** diff's diagnostics: λ of every layer, read from the weights (for logs and reports; not for training). */
export function diffDiagnostics(params: Parameters, config: ModelConfig): AttentionDiagnostics {
  const lambdas = tf.tidy(() =>
    tf.stack(Array.from({ length: config.layers }, (_, l) => diffLambda(params, l))).dataSync(),
  );
  return { lambdas: Array.from(lambdas) };
}

export function diffAttention(x: tf.Tensor, context: AttentionContext): AttentionResult {
  const { heads, kvHeads, normEps } = context.config;
  const d = headDim(context.config); // sub-head width
  const diffHeads = heads / 2;
  const diffKvHeads = kvHeads / 2;
  // Q: 2h sub-heads of width d; K: 2h_kv sub-heads of width d; V: h_kv heads of width 2d
  const { queries, keys, values } = projectQkv(x, context, {
    queries: 2 * diffHeads,
    keys: 2 * diffKvHeads,
    values: diffKvHeads,
    width: d,
    valueWidth: 2 * d,
  });

  // Adjacent sub-heads (2i, 2i+1) form differential head i's pair: [B, T, 2n, d] → [B, n, 2, T, d],
  // so that A1 and A2 come from one batched product.
  const pairs = (t: tf.Tensor) => {
    const [batch, length, subHeads] = t.shape as number[];
    return headsFirst(t).reshape([batch, subHeads / 2, 2, length, d]);
  };
  const repeats = diffHeads / diffKvHeads;
  const keyPairs = repeatKv(pairs(keys), repeats, 1); // [B, h, 2, Tk, d]: A1 reads key sub-head 2g, A2 reads 2g+1
  const queryPairs = pairs(queries);
  const probs = causalSoftmax(queryPairs, keyPairs, context.mask, 1 / Math.sqrt(d)); // [B, h, 2, Tq, Tk]

  const lambda = diffLambda(context.params, context.layer);
  const [a1Values, a2Values] = pairProducts(probs, repeatKv(headsFirst(values), repeats, 1)); // [B, h, Tq, 2d]
  const perHead = tf.sub(a1Values, tf.mul(lambda, a2Values)); // (A1 − λ·A2)·V = A1·V − λ·(A2·V)
  // (1 − λ_init) scales the norm's weight: the same product, on 2d entries rather than B·h·T·2d
  const normed = rmsNorm(perHead, attentionWeight(context, 'subln.weight').mul(1 - lambdaInit(context.layer)), normEps);
  const out = linear(mergeHeads(normed), attentionWeight(context, 'out_proj.weight')); // [B, Tq, D]
  const maps = context.capture
    ? { ...differentialMaps(probs, lambda), logits: attentionLogits(queryPairs, keyPairs, 1 / Math.sqrt(d)) }
    : undefined; // logits: [B, h, 2, Tq, Tk]
  return { out, maps };
}
