import type { ModelConfig } from '../config/model.js';
import { queryHeads } from '../model/attention/variants.js';

/**
 * How many rows (sequences) a measuring forward pass may take at once. Such a pass keeps every
 * layer's attention maps alive until it ends — captured for the measure, or held by the tidy scope
 * around an eager forward — so its memory is layers · maps · T² per row, which at long contexts
 * dwarfs training's (measured, default model at T = 1,024 on tensorflow: 8.5 GiB peak for an
 * evaluation batch of 16, against 1.7 GiB for training at batch 2). Measures that split their rows
 * this way give the same numbers: maxima and per-example scores do not depend on the split.
 */
const MEASURE_BUDGET_BYTES = 256 * 2 ** 20;
/** T×T tensors per map and layer alive in a captured eager forward (logits, masked, softmax, the captures). */
const COPIES = 6;

export function measureRows(config: Pick<ModelConfig, 'layers' | 'attention' | 'heads'>, length: number): number {
  const perRow = config.layers * queryHeads(config) * COPIES * length * length * 4;
  return Math.max(1, Math.floor(MEASURE_BUDGET_BYTES / perRow));
}
