import * as tf from '@tensorflow/tfjs';
import { compileProgram, type Program } from '../backend/graph/compile.js';
import type { TokenBatch } from '../data/dataset.js';
import { measureRows } from '../measure/rows.js';
import type { Decoder } from '../model/decoder.js';

/** A batch's ids as tensors; its target weights too, when it has them (a training batch of a weighted task run). */
export function batchTensors(ids: TokenBatch): { inputs: tf.Tensor2D; targets: tf.Tensor2D; weights?: tf.Tensor2D } {
  const shape: [number, number] = [ids.batch, ids.length];
  return {
    inputs: tf.tensor2d(ids.inputs, shape, 'int32'),
    targets: tf.tensor2d(ids.targets, shape, 'int32'),
    ...(ids.weights ? { weights: tf.tensor2d(ids.weights, shape, 'float32') } : {}),
  };
}

type LossInputs = Record<string, tf.Tensor> & { inputs: tf.Tensor2D; targets: tf.Tensor2D };

/**
 * A model's loss on held-out batches, as one compiled program (backend/graph/compile.ts) that reads
 * the batch and every parameter by name. Whoever evaluates owns it and disposes it with the model.
 */
export class EvaluationLoss {
  private readonly program: Program<LossInputs, { loss: tf.Scalar }>;

  /** `rows`: the most rows one pass takes (default: what src/measure/rows.ts allows at the batch's length). */
  constructor(
    private readonly model: Decoder,
    private readonly rows?: number,
  ) {
    this.program = compileProgram(
      'the evaluation loss',
      ({ inputs, targets }: LossInputs) => ({ loss: model.loss(inputs, targets) }),
      model.params,
    );
  }

  /**
   * Mean next-token loss (nats) over every target of the batches, weighting each batch by its
   * token count so that a short last window counts for what it holds. Evaluation batches carry no
   * weights: a run trained with weighted answers is scored on the plain loss too (one meaning of
   * "validation loss" everywhere).
   */
  mean(batches: Iterable<TokenBatch>, onBatch?: (tokens: number) => void): { loss: number; tokens: number } {
    let total = 0;
    let tokens = 0;
    for (const batch of batches) {
      // at long contexts a few rows at a time: the forward's maps grow with T² (src/measure/rows.ts)
      for (const ids of rowChunks(batch, this.rows ?? measureRows(this.model.config, batch.length))) {
        const count = ids.batch * ids.length;
        const loss = tf.tidy(() => this.program(batchTensors(ids)).loss.dataSync()[0]);
        total += loss * count;
        tokens += count;
      }
      onBatch?.(tokens);
    }
    return { loss: tokens > 0 ? total / tokens : NaN, tokens };
  }

  dispose(): void {
    this.program.dispose();
  }
}

/** A batch as batches of at most `rows` rows (itself when it has no more). */
function rowChunks(batch: TokenBatch, rows: number): TokenBatch[] {
  if (batch.batch <= rows) return [batch];
  const chunks: TokenBatch[] = [];
  for (let from = 0; from < batch.batch; from += rows) {
    const count = Math.min(rows, batch.batch - from);
    const [start, end] = [from * batch.length, (from + count) * batch.length];
    chunks.push({
      batch: count,
      length: batch.length,
      inputs: batch.inputs.subarray(start, end),
      targets: batch.targets.subarray(start, end),
    });
  }
  return chunks;
}

/** Bits per UTF-8 byte from a loss in nats per token and the split's tokens per byte. */
export function bitsPerByte(lossNats: number, tokens: number, bytes: number): number {
  return (lossNats * tokens) / (bytes * Math.LN2);
}
