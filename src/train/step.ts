import * as tf from '@tensorflow/tfjs';
import type { Decoder } from '../model/decoder.js';
import { parameterSpecs } from '../model/parameters.js';
import { AdamW, type AdamWOptions } from './adamw.js';

export interface Batch {
  /** [B, T] int32 token ids and the ids that follow each of them. */
  inputs: tf.Tensor2D;
  targets: tf.Tensor2D;
}

/** Weight decay goes to linear weights and the embedding: the 2-D matrices. */
export function createOptimizer(model: Decoder, options: Partial<AdamWOptions> = {}): AdamW {
  const matrices = new Set(parameterSpecs(model.config).filter((spec) => spec.shape.length === 2).map((spec) => spec.name));
  return new AdamW(model.params, (name) => matrices.has(name), options);
}

/**
 * Scales gradients so that their global L2 norm is at most `maxNorm` (no-op when maxNorm ≤ 0).
 * Returns the norm before clipping as a tensor, so the caller reads it only when it logs.
 */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; norm: tf.Scalar } {
  const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
  if (!(maxNorm > 0)) return { grads, norm };
  const scale = tf.div(maxNorm, tf.maximum(norm, maxNorm));
  const clipped: Record<string, tf.Tensor> = {};
  for (const [name, grad] of Object.entries(grads)) clipped[name] = tf.mul(grad, scale);
  return { grads: clipped, norm };
}

export interface StepResult {
  /** Mean loss of the batch and the gradient norm before clipping: scalars the caller disposes. */
  loss: tf.Scalar;
  gradNorm: tf.Scalar;
}

/**
 * The loss and its gradient for every parameter, keyed by parameter name
 * (tfjs keys gradients by its own variable names).
 */
export function lossAndGradients(model: Decoder, batch: Batch): { loss: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const { value, grads } = tf.variableGrads(() => model.loss(batch.inputs, batch.targets), model.variables);
  const byName: Record<string, tf.Tensor> = {};
  for (const [name, variable] of Object.entries(model.params)) byName[name] = grads[variable.name];
  return { loss: value, grads: byName };
}

/** One optimisation step: forward, backward, clip, AdamW update. Nothing is read back from the engine. */
export function trainStep(model: Decoder, optimizer: AdamW, batch: Batch, lr: number, clipNorm: number): StepResult {
  return tf.tidy(() => {
    const { loss, grads } = lossAndGradients(model, batch);
    const clipped = clipByGlobalNorm(grads, clipNorm);
    optimizer.apply(clipped.grads, lr);
    return { loss, gradNorm: clipped.norm };
  });
}
