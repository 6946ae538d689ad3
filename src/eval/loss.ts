import * as tf from '@tensorflow/tfjs';
import { compileProgram, type Program } from '../backend/graph/compile.js';
import type { TokenBatch } from '../data/dataset.js';
import type { Decoder } from '../model/decoder.js';

export function batchTensors(ids: TokenBatch): { inputs: tf.Tensor2D; targets: tf.Tensor2D } {
  return {
    inputs: tf.tensor2d(ids.inputs, [ids.batch, ids.length], 'int32'),
    targets: tf.tensor2d(ids.targets, [ids.batch, ids.length], 'int32'),
  };
}

type LossInputs = Record<string, tf.Tensor> & { inputs: tf.Tensor2D; targets: tf.Tensor2D };

/**
 * A model's loss on held-out batches, as one compiled program (backend/graph/compile.ts) that reads
 * the batch and every parameter by name. Whoever evaluates owns it and disposes it with the model.
 */
export class EvaluationLoss {
  private readonly program: Program<LossInputs, { loss: tf.Scalar }>;

  constructor(private readonly model: Decoder) {
    this.program = compileProgram('the evaluation loss', ({ inputs, targets }: LossInputs) => ({
      loss: model.loss(inputs, targets),
    }));
  }

  /**
   * Mean next-token loss (nats) over every target of the batches, weighting each batch by its
   * token count so that a short last window counts for what it holds.
   */
  mean(batches: Iterable<TokenBatch>, onBatch?: (tokens: number) => void): { loss: number; tokens: number } {
    let total = 0;
    let tokens = 0;
    for (const ids of batches) {
      const count = ids.batch * ids.length;
      const batchLoss = tf.tidy(() => this.program({ ...batchTensors(ids), ...this.model.params }).loss.dataSync()[0]);
      total += batchLoss * count;
      tokens += count;
      onBatch?.(tokens);
    }
    return { loss: tokens > 0 ? total / tokens : NaN, tokens };
  }

  dispose(): void {
    this.program.dispose();
  }
}

/** Bits per UTF-8 byte from a loss in nats per token and the split's tokens per byte. */
export function bitsPerByte(lossNats: number, tokens: number, bytes: number): number {
  return (lossNats * tokens) / (bytes * Math.LN2);
}
