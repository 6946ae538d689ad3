import { existsSync } from 'node:fs';
import { filesIn } from './paths.js';

/**
 * A checkpoint directory (read and written by src/checkpoint/checkpoint.ts), written into a
 * temporary sibling and renamed into place:
 *   model.safetensors      weights, linear maps stored [out, in] as PyTorch does
 *   optimizer.safetensors  AdamW moments (same names + .exp_avg / .exp_avg_sq, same layout)
 *   config.json            the resolved run config, model shape, tokenizer and difft version
 *   state.json             step, tokens, learning rate, data sampler position, best/last validation loss
 */
export const CHECKPOINT_FILES = {
  weights: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  config: 'config.json',
  state: 'state.json',
} as const;

/** The path of one of a checkpoint's files. */
export const checkpointFile = filesIn(CHECKPOINT_FILES);

/** Whether `dir` is a checkpoint (it holds weights), as opposed to a run directory holding checkpoints. */
export function holdsWeights(dir: string): boolean {
  return existsSync(checkpointFile(dir, 'weights'));
}

/** Recognises a checkpoint from its directory's entries. */
export function looksLikeCheckpoint(names: string[]): boolean {
  return names.includes(CHECKPOINT_FILES.weights) && names.includes(CHECKPOINT_FILES.state);
}
