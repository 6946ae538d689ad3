import * as tf from '@tensorflow/tfjs';
import { ffnHiddenWidth, headDim, headNormOn, type ModelConfig } from '../config/model.js';
import { ATTENTION_VARIANTS, queryHeads } from './attention/variants.js';
import { type Component, linearSpec, normSpec, type Parameters, type ParameterSpec } from './parameter-spec.js';
import { normalSamples, streamFor } from '../random.js';

/**
 * An attention block's projections, with the query heads its attention has, the attention's own
 * parameters, and the per-head norm's weight where the config has one.
 */
function attentionSpecs(config: ModelConfig, layer: number, residualStd: number): ParameterSpec[] {
  const { width, kvHeads, heads, initStd } = config;
  const prefix = `layers.${layer}.attn`;
  const d = headDim(config);
  const attention = ATTENTION_VARIANTS[config.attention];
  const headNorm = { ...normSpec(`${prefix}.subln.weight`, attention.headWidths * d), component: 'attention' as const };
  return [
    linearSpec(`${prefix}.q_proj.weight`, width, queryHeads(config) * d, initStd, 'attention'),
    linearSpec(`${prefix}.k_proj.weight`, width, kvHeads * d, initStd, 'attention'),
    linearSpec(`${prefix}.v_proj.weight`, width, kvHeads * d, initStd, 'attention'),
    linearSpec(`${prefix}.out_proj.weight`, heads * d, width, residualStd, 'attention'),
    ...attention.parameters(config, prefix, layer),
    ...(headNormOn(config) ? [headNorm] : []),
  ];
}

/**
 * Every parameter of a decoder (src/model/parameter-spec.ts says what a parameter is). The model,
 * the parameter counts, the optimizer's weight-decay rule and the checkpoint format all read this
 * one list; each attention adds its own parameters (its row in src/model/attention/variants.ts).
 */
export function parameterSpecs(config: ModelConfig): ParameterSpec[] {
  const { width, vocabSize, layers, initStd } = config;
  const hidden = ffnHiddenWidth(config);
  // GPT-2's rule: projections that write into the residual stream start 1/sqrt(2L) smaller.
  const residualStd = initStd / Math.sqrt(2 * layers);
  const specs: ParameterSpec[] = [
    // [V, D] like PyTorch's nn.Embedding: not a linear map, so stored as it is
    {
      name: 'embed.weight',
      shape: [vocabSize, width],
      init: { kind: 'normal', std: initStd },
      component: 'embedding',
      isLinear: false,
    },
  ];
  for (let layer = 0; layer < layers; layer++) {
    const prefix = `layers.${layer}`;
    specs.push(normSpec(`${prefix}.attn_norm.weight`, width));
    specs.push(...attentionSpecs(config, layer, residualStd));
    specs.push(normSpec(`${prefix}.ffn_norm.weight`, width));
    specs.push(linearSpec(`${prefix}.ffn.gate_proj.weight`, width, hidden, initStd, 'ffn'));
    specs.push(linearSpec(`${prefix}.ffn.up_proj.weight`, width, hidden, initStd, 'ffn'));
    specs.push(linearSpec(`${prefix}.ffn.down_proj.weight`, hidden, width, residualStd, 'ffn'));
  }
  specs.push(normSpec('norm.weight', width));
  if (!config.tieEmbeddings) specs.push(linearSpec('lm_head.weight', width, vocabSize, initStd, 'head'));
  return specs;
}

export type ParameterCounts = Record<Component, number> & { total: number };

/** Exact parameter counts by component (a tied head counts zero: it is the embedding). */
export function countParameters(config: ModelConfig): ParameterCounts {
  const counts: ParameterCounts = { embedding: 0, attention: 0, ffn: 0, norm: 0, head: 0, total: 0 };
  for (const spec of parameterSpecs(config)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    counts[spec.component] += size;
    counts.total += size;
  }
  return counts;
}

/** Parameters outside the token embedding and an untied LM head: the count scaling laws use. */
export function nonEmbeddingParameters(config: ModelConfig): number {
  const counts = countParameters(config);
  return counts.total - counts.embedding - counts.head;
}

/**
 * The SwiGLU hidden width F that brings `config`'s total parameter count nearest `target`. The
 * count is linear in F (three D×F matrices per layer), so two counts give the line and one division
 * its root; the rest of the model — the attention as the paper defines it — is left as it is.
 */
export function ffnHiddenToMatch(config: ModelConfig, target: number): number {
  const at = (ffnHidden: number) => countParameters({ ...config, ffnHidden }).total;
  const perUnit = at(2) - at(1);
  return Math.max(1, Math.round(1 + (target - at(1)) / perUnit));
}

/**
 * Floating-point operations to train on one token, forward and backward: 6 per parameter plus the
 * attention products, 12·L·(query heads)·d·T (nanoGPT's estimate; diff2 has 2H query heads).
 */
export function trainingFlopsPerToken(config: ModelConfig): number {
  return 6 * countParameters(config).total + 12 * config.layers * queryHeads(config) * headDim(config) * config.seqLen;
}

export function initialValues(spec: ParameterSpec, seed: number): Float32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.init.kind === 'ones') return new Float32Array(size).fill(1);
  if (spec.init.kind === 'constant') return new Float32Array(size).fill(spec.init.value);
  return normalSamples(size, spec.init.std, streamFor(seed, spec.name));
}

/** tfjs variable names are process-global, so variables stay unnamed and the record's keys name them. */
export function createParameters(config: ModelConfig, seed: number): Parameters {
  const params: Parameters = {};
  for (const spec of parameterSpecs(config)) {
    const values = initialValues(spec, seed);
    params[spec.name] = tf.tidy(() => tf.variable(tf.tensor(values, spec.shape, 'float32'), true));
  }
  return params;
}
