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
  const matrices = new Set(
    parameterSpecs(model.config)
      .filter((spec) => spec.shape.length === 2)
      .map((spec) => spec.name),
  );
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

export interface StepOutcome {
  /** Mean loss over the micro-batches and the gradient norm before clipping. */
  loss: number;
  gradNorm: number;
  /** False when the loss or gradient was not finite: the update was not applied. */
  applied: boolean;
}

/**
 * One optimisation step: forward and backward over each micro-batch (gradients averaged, i.e.
 * gradient accumulation), clip, AdamW. Gradients are flattened into one vector as they arrive, so
 * accumulating, clipping and the update are a few operations on it. The loss and norm are read back
 * once, as one pair, before the update, so that a non-finite step never touches the weights.
 */
export function trainStep(model: Decoder, optimizer: AdamW, microBatches: Batch[], lr: number, clipNorm: number): StepOutcome {
  if (microBatches.length === 0) throw new Error('trainStep needs at least one micro-batch');
  let sums: { loss: tf.Scalar; grad: tf.Tensor1D } | undefined;
  for (const batch of microBatches) {
    const previous = sums;
    sums = tf.tidy(() => {
      const { loss, grads } = lossAndGradients(model, batch);
      const grad = optimizer.flatten(grads);
      return previous ? { loss: tf.add(previous.loss, loss) as tf.Scalar, grad: tf.add(previous.grad, grad) as tf.Tensor1D } : { loss, grad };
    });
    if (previous) tf.dispose([previous.loss, previous.grad]);
  }
  const totals = sums!;
  const outcome = tf.tidy(() => {
    const scale = 1 / microBatches.length;
    const clipped = clipByGlobalNorm({ all: tf.mul(totals.grad, scale) }, clipNorm);
    const [loss, gradNorm] = tf.stack([tf.mul(totals.loss, scale), clipped.norm]).dataSync();
    const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (applied) optimizer.applyFlat(clipped.grads.all as tf.Tensor1D, lr);
    return { loss, gradNorm, applied };
  });
  tf.dispose([totals.loss, totals.grad]);
  return outcome;
}
