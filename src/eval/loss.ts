import * as tf from '@tensorflow/tfjs';
import { compileProgram, type Program } from '../backend/graph/compile.js';
import type { TokenBatch } from '../data/dataset.js';
import { measureRows } from '../measure/rows.js';
import type { Decoder } from '../model/decoder.js';
import { crossEntropy, targetLogLikelihoods } from '../model/loss.js';

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
  private positionProgram?: Program<LossInputs, { sums: tf.Tensor1D }>;

  /**
   * `rows`: the most rows one pass takes (default: what src/measure/rows.ts allows at the batch's length);
   * `logitBits`: score low-bit attention, its logits fake-quantized to that many bits.
   */
  constructor(
    private readonly model: Decoder,
    private readonly rows?: number,
    logitBits?: number,
  ) {
    this.program = compileProgram(
      logitBits ? `the evaluation loss at ${logitBits}-bit attention` : 'the evaluation loss',
      ({ inputs, targets }: LossInputs) => ({
        loss: logitBits
          ? crossEntropy(model.forward(inputs, { logitBits }).logits, targets)
          : model.loss(inputs, targets),
      }),
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

  /**
   * The loss at each position of the windows, summed over the windows: `sums[t]` over `counts[t]` windows
   * is the loss of predicting token t + 1 from the t + 1 tokens before it (a window's first target has
   * one); a short last window counts at the positions it reaches.
   */
  byPosition(
    batches: Iterable<TokenBatch>,
    onBatch?: (tokens: number) => void,
  ): { sums: Float64Array; counts: Float64Array } {
    const model = this.model;
    this.positionProgram ??= compileProgram(
      'the loss by position',
      ({ inputs, targets }: LossInputs) => {
        const perToken = targetLogLikelihoods(model.forward(inputs).logits, targets).reshape(inputs.shape);
        return { sums: tf.neg(tf.sum(perToken, 0)) as tf.Tensor1D };
      },
      model.params,
    );
    let [sums, counts]: Float64Array<ArrayBuffer>[] = [new Float64Array(0), new Float64Array(0)];
    let tokens = 0;
    for (const batch of batches) {
      for (const ids of rowChunks(batch, this.rows ?? measureRows(model.config, batch.length))) {
        const values = tf.tidy(() => this.positionProgram!(batchTensors(ids)).sums.dataSync());
        if (values.length > sums.length) [sums, counts] = [grown(sums, values.length), grown(counts, values.length)];
        values.forEach((value, t) => {
          sums[t] += value;
          counts[t] += ids.batch;
        });
        tokens += ids.batch * ids.length;
      }
      onBatch?.(tokens);
    }
    return { sums, counts };
  }

  dispose(): void {
    this.program.dispose();
    this.positionProgram?.dispose();
  }
}

/** `values` followed by zeros up to `length`. */
function grown(values: Float64Array, length: number): Float64Array<ArrayBuffer> {
  const longer = new Float64Array(length);
  longer.set(values);
  return longer;
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
