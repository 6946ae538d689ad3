/**
 * What a parameter is, before any model has it: its stable name (the checkpoint key), shape,
 * initialisation and the component it belongs to. Each attention declares its own beside its forward
 * (src/model/attention/), and src/model/parameters.ts lists a whole decoder's.
 *
 * Linear weights are held as [in, out] so that the forward pass is a plain `x · W`; checkpoints
 * store them transposed, [out, in], as PyTorch does.
 */
import type * as tf from '@tensorflow/tfjs';

export type Component = 'embedding' | 'attention' | 'ffn' | 'norm' | 'head';

export type Init = { kind: 'normal'; std: number } | { kind: 'ones' } | { kind: 'constant'; value: number };

export interface ParameterSpec {
  name: string;
  shape: number[];
  init: Init;
  component: Component;
  /** A linear map's weight, held [in, out] in memory and stored [out, in] on disk. */
  isLinear: boolean;
}

export function linearSpec(
  name: string,
  inWidth: number,
  outWidth: number,
  std: number,
  component: Component,
): ParameterSpec {
  return { name, shape: [inWidth, outWidth], init: { kind: 'normal', std }, component, isLinear: true };
}

export function normSpec(name: string, width: number): ParameterSpec {
  return { name, shape: [width], init: { kind: 'ones' }, component: 'norm', isLinear: false };
}

/** A model's parameters as variables, by name. */
export type Parameters = Record<string, tf.Variable>;
