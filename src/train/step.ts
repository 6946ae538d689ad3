import * as tf from '@tensorflow/tfjs';
import type { Decoder } from '../model/decoder.js';
import { parameterSpecs } from '../model/parameters.js';
import { AdamW, type AdamWOptions } from './adamw.js';
import { type CompiledFunction, compileFunction } from '../backend/compile.js';

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
 * A step's two programs, each a pure function of tensors compiled once for the engine (one
 * TensorFlow graph each on `tensorflow`, plain calls elsewhere: see backend/compile.ts):
 * - gradients: [inputs, targets, …parameters] → [loss, flat gradient] for one micro-batch;
 * - update: [loss sum, gradient sum, 1/micro-batches, …updateScalars, …optimizer state] →
 *   [[loss, gradient norm], …next optimizer state] (average, clip, AdamW).
 */
interface StepPrograms {
  gradients: CompiledFunction;
  update: CompiledFunction;
}

/** Per optimizer (which holds its model's parameters) and clipping threshold, frozen into the update. */
const stepPrograms = new WeakMap<AdamW, Map<number, StepPrograms>>();

function programsFor(model: Decoder, optimizer: AdamW, clipNorm: number): StepPrograms {
  const byClip = stepPrograms.get(optimizer) ?? new Map<number, StepPrograms>();
  stepPrograms.set(optimizer, byClip);
  let programs = byClip.get(clipNorm);
  if (!programs) {
    const gradients = compileFunction('the gradient pass', ([inputs, targets]) => {
      const { loss, grads } = lossAndGradients(model, { inputs: inputs as tf.Tensor2D, targets: targets as tf.Tensor2D });
      return [loss, optimizer.flatten(grads)];
    });
    const update = compileFunction('the optimizer update', ([lossSum, gradSum, scale, ...rest]) => {
      const clipped = clipByGlobalNorm({ all: tf.mul(gradSum, scale) }, clipNorm);
      const lossAndNorm = tf.stack([tf.mul(lossSum, scale), clipped.norm]);
      // rest: the update scalars, then the state that nextState reads from the optimizer itself
      return [lossAndNorm, ...optimizer.nextState(clipped.grads.all as tf.Tensor1D, rest as tf.Scalar[])];
    });
    programs = { gradients, update };
    byClip.set(clipNorm, programs);
    optimizer.attach(gradients);
    optimizer.attach(update);
  }
  return programs;
}

/**
 * One optimisation step: forward and backward over each micro-batch (gradients averaged, i.e.
 * gradient accumulation), clip, AdamW. Gradients are flat vectors, so accumulating, clipping and the
 * update are a few operations on one vector. The loss and norm are read back once, as one pair,
 * before the new state is adopted, so that a non-finite step never touches the weights.
 */
export function trainStep(model: Decoder, optimizer: AdamW, microBatches: Batch[], lr: number, clipNorm: number): StepOutcome {
  if (microBatches.length === 0) throw new Error('trainStep needs at least one micro-batch');
  const programs = programsFor(model, optimizer, clipNorm);
  let sums: tf.Tensor[] | undefined; // [loss, gradient]
  for (const batch of microBatches) {
    const previous = sums;
    sums = tf.tidy(() => {
      const [loss, grad] = programs.gradients([batch.inputs, batch.targets, ...model.variables]);
      return previous ? [tf.add(previous[0], loss), tf.add(previous[1], grad)] : [loss, grad];
    });
    if (previous) tf.dispose(previous);
  }
  const [lossSum, gradSum] = sums!;
  const outcome = tf.tidy(() => {
    const inputs = [lossSum, gradSum, tf.scalar(1 / microBatches.length), ...optimizer.updateScalars(lr), ...optimizer.state];
    const [lossAndNorm, ...next] = programs.update(inputs);
    const [loss, gradNorm] = lossAndNorm.dataSync();
    const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
    if (applied) optimizer.adopt(next);
    return { loss, gradNorm, applied };
  });
  tf.dispose([lossSum, gradSum]);
  return outcome;
}
