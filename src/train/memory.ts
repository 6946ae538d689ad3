import { existsSync, readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { ffnHiddenWidth, type ModelConfig } from '../config/model.js';
import { ATTENTION_VARIANTS, queryHeads } from '../model/attention/variants.js';
import type { RunConfig } from '../config/schema.js';
import { modelOfRun } from '../data/run-model.js';
import { countParameters } from '../model/parameters.js';

/**
 * What training will need, estimated before anything is allocated, so that a config that cannot fit
 * is refused with a number instead of being killed by the kernel an hour later.
 *
 * The terms, in float32 bytes:
 *   weights, AdamW moments, gradients (per tensor and flattened) and the update's temporaries: 28·P
 *   per layer, the tensors one micro-batch keeps for the backward pass and its temporaries:
 *     attention maps  k_att · B·M·T²   (M maps per layer: H, or 2H for diff2; k_att: the attention's
 *                                       mapCopies, src/model/attention/variants.ts)
 *     width-D tensors 16 · B·T·D,  SwiGLU hidden 6 · B·T·F
 *   the logits and their softmax: 6 · B·T·V
 *   plus the engine itself (its library, the JS heap, data windows): ENGINE_BASE.
 * The coefficients were fitted to peak RSS measured on wasm and tensorflow from 0.5 to 5.3 GiB (see
 * test/memory.test.ts and docs/design.md): the estimate lands within 0.7–1.7× of what was measured.
 * Evaluation and the measures taken with it are left out: they split their rows so that a pass keeps at
 * most 256 MiB of attention maps (src/measure/rows.ts). Checked at 1,024 positions (default model,
 * batch 2): wasm 1.59× (1,965 MiB measured), tensorflow 1.27× standard, 1.07× diff2.
 */
const ENGINE_BASE_MIB: Record<string, number> = { tensorflow: 550, wasm: 400, cpu: 300, webgpu: 400 };
const DROPOUT_COPIES = 3;

export interface MemoryEstimate {
  bytes: number;
  parts: { parameters: number; attentionMaps: number; activations: number; logits: number; engine: number };
}

export function estimateTrainingMemory(model: ModelConfig, batchSize: number, engine: string): MemoryEstimate {
  const { layers, width, seqLen: length, vocabSize, attention } = model;
  const float = 4;
  const maps = queryHeads(model);
  const tokens = batchSize * length;
  // dropout's noise, mask and masked copy of each map and of both residual branches (counted, not fitted)
  const dropped = (model.dropout ?? 0) > 0 ? DROPOUT_COPIES : 0;
  const parts = {
    parameters: 28 * countParameters(model).total,
    attentionMaps:
      layers * (ATTENTION_VARIANTS[attention].mapCopies + dropped) * batchSize * maps * length * length * float,
    activations: layers * ((16 + 2 * dropped) * tokens * width + 6 * tokens * ffnHiddenWidth(model)) * float,
    logits: 6 * tokens * vocabSize * float,
    engine: (ENGINE_BASE_MIB[engine] ?? ENGINE_BASE_MIB.tensorflow) * 2 ** 20,
  };
  return { bytes: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}

/**
 * What `difft import` holds at its peak per parameter: the weight file read whole, the arrays
 * rearranged from transformers' layout, the model's variables, zero AdamW moments, and while the
 * checkpoint is written each tensor read back and transposed — not all at once. Measured on wasm:
 * 25 bytes per parameter above the engine (peak RSS 759 MiB importing 25.3M parameters, 150 MiB for
 * 34k); 28 leaves a margin.
 */
const IMPORT_BYTES_PER_PARAMETER = 28;

export function estimateImportMemory(model: ModelConfig, engine: string): MemoryEstimate {
  const parts = {
    parameters: IMPORT_BYTES_PER_PARAMETER * countParameters(model).total,
    attentionMaps: 0,
    activations: 0,
    logits: 0,
    engine: (ENGINE_BASE_MIB[engine] ?? ENGINE_BASE_MIB.tensorflow) * 2 ** 20,
  };
  return { bytes: Object.values(parts).reduce((a, b) => a + b, 0), parts };
}

/** The estimate for a run config before its data are prepared (vocabulary from the tokenizer's name). */
export function estimateForRun(config: RunConfig, engine: string): MemoryEstimate {
  return estimateTrainingMemory(modelOfRun(config), config.train.batchSize, engine);
}

/** Memory this process may use: the machine's, or its cgroup's limit when that is lower (containers). */
export function availableMemory(): number {
  let limit = totalmem();
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    if (!existsSync(file)) continue;
    const value = Number(readFileSync(file, 'utf8').trim());
    if (Number.isFinite(value) && value > 0) limit = Math.min(limit, value);
  }
  return limit;
}

export const gibibytes = (bytes: number) => `${(bytes / 2 ** 30).toFixed(bytes < 10 * 2 ** 30 ? 2 : 0)} GiB`;

/** One line naming the estimate and its largest part. */
export function describeEstimate(estimate: MemoryEstimate): string {
  const [largest, size] = Object.entries(estimate.parts).reduce((a, b) => (b[1] > a[1] ? b : a));
  const names: Record<string, string> = {
    parameters: 'weights and optimizer',
    attentionMaps: 'attention maps',
    activations: 'activations',
    logits: 'logits',
    engine: 'the engine',
  };
  return `about ${gibibytes(estimate.bytes)} (largest part: ${names[largest]}, ${gibibytes(size)})`;
}
