import * as tf from '@tensorflow/tfjs';
import { compileProgram, type Program } from '../backend/graph/compile.js';
import { uniformNoise } from '../backend/noise.js';
import type { Dropout } from '../model/dropout.js';
import type { Decoder } from '../model/decoder.js';
import { parameterSpecs } from '../model/parameters.js';
import { AdamW, type AdamWOptions } from './adamw.js';

export interface Batch {
  /** [B, T] int32 token ids and the ids that follow each of them. */
  inputs: tf.Tensor2D;
  targets: tf.Tensor2D;
  /** [B, T] float32 weight of each target in the loss (absent: all equal). */
  weights?: tf.Tensor2D;
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
 * The loss and its gradient for every parameter, keyed by parameter name
 * (tfjs keys gradients by its own variable names).
 */
export function lossAndGradients(
  model: Decoder,
  batch: Batch,
  drop?: Dropout,
): { loss: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const { value, grads } = tf.variableGrads(
    () => model.loss(batch.inputs, batch.targets, batch.weights, drop),
    model.variables,
  );
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
 * The gradient pass reads the batch (and every parameter, which the program feeds itself), and with
 * dropout the micro-batch's seed, int32 [2].
 */
type GradientInputs = Record<string, tf.Tensor> & Batch & { dropoutSeed?: tf.Tensor1D };

/**
 * The dropout seed of one micro-batch: the step, and the run's seed mixed with the micro-batch's
 * index (each dropout site adds its own number to the second entry, in the program). A function of
 * these three alone, so that a resumed run draws the masks the uninterrupted one drew.
 */
export function dropoutSeed(runSeed: number, step: number, microBatch: number): tf.Tensor1D {
  return tf.tensor1d([step, Math.imul(runSeed, 0x9e3779b1) + microBatch * 4096], 'int32');
}

/** Dropout at `rate` whose noise is drawn by the engine from `seed` and the site (src/backend/noise.ts). */
function seededDropout(rate: number, seed: tf.Tensor): Dropout {
  return { rate, noise: (shape, site) => uniformNoise(shape, tf.add(seed, tf.tensor1d([0, site], 'int32'))) };
}
type GradientOutputs = { loss: tf.Scalar; gradient: tf.Tensor1D };

/**
 * Training steps of one model with one optimizer. The gradient pass is a program compiled once for
 * the engine (one TensorFlow graph on `tensorflow`, plain calls elsewhere: backend/graph/compile.ts),
 * and so is the optimizer's update; the step owns the first, the optimizer the second.
 */
export class Trainer {
  private readonly gradients: Program<GradientInputs, GradientOutputs>;

  /** `runSeed` seeds dropout (with the step and micro-batch), when the model has any. */
  constructor(
    readonly model: Decoder,
    readonly optimizer: AdamW,
    private readonly runSeed = 0,
  ) {
    const rate = model.config.dropout ?? 0;
    this.gradients = compileProgram(
      'the gradient pass',
      (inputs: GradientInputs) => {
        const drop = rate > 0 && inputs.dropoutSeed ? seededDropout(rate, inputs.dropoutSeed) : undefined;
        const { loss, grads } = lossAndGradients(model, inputs, drop);
        return { loss, gradient: optimizer.flatten(grads) };
      },
      model.params,
    );
  }

  /**
   * One optimisation step: forward and backward over each micro-batch (gradients summed, i.e.
   * gradient accumulation), then the optimizer's update (average, clip, AdamW). Gradients are flat
   * vectors, so accumulating, clipping and the update are a few operations on one vector. The loss
   * and norm are read back once, as one pair, before the update is committed, so that a non-finite
   * step never touches the weights. `step` (1-based) seeds dropout.
   */
  step(microBatches: Batch[], lr: number, clipNorm: number, step = 0): StepOutcome {
    if (microBatches.length === 0) throw new Error('a training step needs at least one micro-batch');
    const dropping = (this.model.config.dropout ?? 0) > 0;
    let sums: GradientOutputs | undefined;
    for (const [index, batch] of microBatches.entries()) {
      const previous = sums;
      sums = tf.tidy(() => {
        const seed = dropping ? { dropoutSeed: dropoutSeed(this.runSeed, step, index) } : {};
        const { loss, gradient } = this.gradients({ ...batch, ...seed } as GradientInputs);
        return previous
          ? { loss: tf.add(previous.loss, loss), gradient: tf.add(previous.gradient, gradient) }
          : { loss, gradient };
      });
      if (previous) tf.dispose(previous);
    }
    const { loss: lossSum, gradient: gradSum } = sums!;
    const outcome = tf.tidy(() => {
      const update = this.optimizer.propose(gradSum, { lr, clipNorm, microBatches: microBatches.length });
      // two reads of finished tensors: cheaper than two more eager ops to read them as one
      const loss = lossSum.dataSync()[0] / microBatches.length;
      const gradNorm = update.gradNorm.dataSync()[0];
      const applied = Number.isFinite(loss) && Number.isFinite(gradNorm);
      if (applied) this.optimizer.commit(update);
      return { loss, gradNorm, applied };
    });
    tf.dispose([lossSum, gradSum]);
    return outcome;
  }

  /** Releases the compiled gradient pass (the model and optimizer belong to the caller). */
  dispose(): void {
    this.gradients.dispose();
  }
}
