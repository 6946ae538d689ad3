import * as tf from '@tensorflow/tfjs';
import { type CompiledFunction, compileFunction } from '../backend/compile.js';
import type { Decoder } from './decoder.js';

/** Token ids of one batch, row-major [batch, length]. */
export interface IdBatch {
  batch: number;
  length: number;
  inputs: Int32Array;
  targets: Int32Array;
}

export function batchTensors(ids: IdBatch): { inputs: tf.Tensor2D; targets: tf.Tensor2D } {
  return {
    inputs: tf.tensor2d(ids.inputs, [ids.batch, ids.length], 'int32'),
    targets: tf.tensor2d(ids.targets, [ids.batch, ids.length], 'int32'),
  };
}

/** Per model: its loss as one compiled program, [inputs, targets, …parameters] → [loss] (see backend/compile.ts). */
const lossPrograms = new WeakMap<Decoder, CompiledFunction>();

function lossProgram(model: Decoder): CompiledFunction {
  let program = lossPrograms.get(model);
  if (!program) {
    program = compileFunction('the evaluation loss', ([inputs, targets]) => [model.loss(inputs as tf.Tensor2D, targets as tf.Tensor2D)]);
    lossPrograms.set(model, program);
    model.attach(program);
  }
  return program;
}

/**
 * Mean next-token loss (nats) over every target of the batches, weighting each batch by its
 * token count so that a short last window counts for what it holds.
 */
export function meanLoss(model: Decoder, batches: Iterable<IdBatch>, onBatch?: (tokens: number) => void): { loss: number; tokens: number } {
  let total = 0;
  let tokens = 0;
  for (const ids of batches) {
    const count = ids.batch * ids.length;
    const batchLoss = tf.tidy(() => {
      const { inputs, targets } = batchTensors(ids);
      return lossProgram(model)([inputs, targets, ...model.variables])[0].dataSync()[0];
    });
    total += batchLoss * count;
    tokens += count;
    onBatch?.(tokens);
  }
  return { loss: tokens > 0 ? total / tokens : NaN, tokens };
}

/** Bits per UTF-8 byte from a loss in nats per token and the split's tokens per byte. */
export function bitsPerByte(lossNats: number, tokens: number, bytes: number): number {
  return (lossNats * tokens) / (bytes * Math.LN2);
}
