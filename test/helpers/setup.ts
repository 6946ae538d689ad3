import * as tf from '@tensorflow/tfjs';
import { useEngine, type EngineName } from '../../src/backend/engines.js';
import { resolveModelConfig, type ModelConfig } from '../../src/config/model.js';
import type { Parameters } from '../../src/model/parameter-spec.js';
import type { Weights } from './reference.js';

/** Tests run on the reference engine unless they say otherwise. */
export async function engine(name: EngineName = 'cpu'): Promise<void> {
  await useEngine(name);
}

export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return resolveModelConfig({ vocabSize: 11, layers: 2, width: 16, heads: 4, seqLen: 8, ffnMultiple: 8, ...overrides });
}

export function weightsOf(params: Parameters): Weights {
  const weights: Weights = {};
  for (const [name, variable] of Object.entries(params)) weights[name] = variable.arraySync() as number[] | number[][];
  return weights;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Re-draws every parameter from N(0, std²) so that tests see a model far from its initialisation. */
export function scrambleParameters(params: Parameters, seed: number, std = 0.3): void {
  let index = 0;
  for (const variable of Object.values(params)) {
    variable.assign(
      tf.tidy(() =>
        tf.randomNormal(variable.shape, 0, std, 'float32', seed + index++).add(variable.shape.length === 1 ? 1 : 0),
      ),
    );
  }
}

export function randomTokens(batch: number, length: number, vocab: number, seed: number): tf.Tensor2D {
  return tf.tidy(() => tf.randomUniform([batch, length], 0, vocab, 'int32', seed) as tf.Tensor2D);
}
