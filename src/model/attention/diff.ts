import * as tf from '@tensorflow/tfjs';
import { headDim, lambdaInit, type ModelConfig } from '../../config/model.js';
import { linear } from '../layers.js';
import type { Parameters, ParameterSpec } from '../parameter-spec.js';
import type { AttentionDiagnostics } from './diagnostics.js';
import {
  attentionLogits,
  attentionWeight,
  causalSoftmax,
  differentialMaps,
  dropProbabilities,
  headOutputs,
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
 *   λ        = exp(λq1·λk1) − exp(λq2·λk2) + λ_init,   λ_init = 0.8 − 0.6·exp(−0.3·l)
 * The ablation switches (src/config/model.ts) replace λ_init by a constant, λ by a learnable scalar
 * per head or by λ_init itself, and drop the norm or the (1 − λ_init) scale.
 */

/**
 * diff's own parameters per layer, beside the projections — reparam: the four vectors of the sub-head
 * width d that make λ, N(0, 0.1²); scalar: λ of each differential head, starting at λ_init; fixed: none.
 */
export function diffParameters(config: ModelConfig, prefix: string, layer: number): ParameterSpec[] {
  const attention = { component: 'attention' as const, isLinear: false };
  if (config.lambda === 'fixed') return [];
  if (config.lambda === 'scalar') {
    const init = { kind: 'constant', value: lambdaInit(config, layer) } as const;
    return [{ name: `${prefix}.lambda`, shape: [config.heads / 2], init, ...attention }];
  }
  return ['lambda_q1', 'lambda_k1', 'lambda_q2', 'lambda_k2'].map((vector) => ({
    name: `${prefix}.${vector}`,
    shape: [headDim(config)],
    init: { kind: 'normal', std: 0.1 } as const,
    ...attention,
  }));
}

/**
 * λ of one layer: a scalar (reparam: exp(λq1·λk1) − exp(λq2·λk2) + λ_init; fixed: λ_init), or with
 * the scalar form one per differential head, [h, 1, 1], to broadcast over [B, h, Tq, ·].
 */
export function diffLambda(params: Parameters, config: ModelConfig, layer: number): tf.Tensor {
  const weight = (name: string) => params[`layers.${layer}.attn.${name}`];
  if (config.lambda === 'fixed') return tf.scalar(lambdaInit(config, layer));
  if (config.lambda === 'scalar') return weight('lambda').reshape([-1, 1, 1]);
  const first = tf.exp(tf.sum(tf.mul(weight('lambda_q1'), weight('lambda_k1'))));
  const second = tf.exp(tf.sum(tf.mul(weight('lambda_q2'), weight('lambda_k2'))));
  return tf.add(tf.sub(first, second), lambdaInit(config, layer));
}

/** diff's diagnostics: λ of every layer (the mean over heads when each head has its own), from the weights. */
export function diffDiagnostics(params: Parameters, config: ModelConfig): AttentionDiagnostics {
  const lambdas = tf.tidy(() =>
    tf.stack(Array.from({ length: config.layers }, (_, l) => diffLambda(params, config, l).mean())).dataSync(),
  );
  return { lambdas: Array.from(lambdas) };
}

export function diffAttention(x: tf.Tensor, context: AttentionContext): AttentionResult {
  const { config, layer } = context;
  const { heads, kvHeads } = config;
  const d = headDim(config); // sub-head width
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
  const probs = causalSoftmax(queryPairs, keyPairs, context, 1 / Math.sqrt(d)); // [B, h, 2, Tq, Tk]

  const lambda = diffLambda(context.params, config, layer);
  const kept = dropProbabilities(probs, context); // training with dropout only
  const [a1Values, a2Values] = pairProducts(kept, repeatKv(headsFirst(values), repeats, 1)); // [B, h, Tq, 2d]
  const perHead = tf.sub(a1Values, tf.mul(lambda, a2Values)); // (A1 − λ·A2)·V = A1·V − λ·(A2·V)
  const scale = config.outputScale ? 1 - lambdaInit(config, layer) : 1;
  const out = linear(mergeHeads(headOutputs(perHead, context, scale)), attentionWeight(context, 'out_proj.weight'));
  const maps = context.capture
    ? { ...differentialMaps(probs, lambda), logits: attentionLogits(queryPairs, keyPairs, 1 / Math.sqrt(d)) }
    : undefined; // logits: [B, h, 2, Tq, Tk]
  return { out, maps };
}
