import { createHash } from 'node:crypto';
import { evalBatches, type TokenBatch } from './dataset.js';
import type { TokenSource } from './shards.js';

/**
 * The evaluation set of a run: which validation windows are scored. It depends on the split, the
 * context length, `eval.maxTokens` and `eval.seed` — never on the training seed — so that every
 * run of an experiment (all variants, all seeds) is scored on the same tokens, and differences
 * between runs are differences between models, not between samples of text.
 *
 * The fingerprint names those tokens: sha256 over every window's T+1 token ids (uint32,
 * little-endian, in reading order), independent of how the windows are grouped into batches.
 */
export const DEFAULT_EVAL_SEED = 0;

export interface EvaluationSetSpec {
  seqLen: number;
  batchSize: number;
  /** Score a fixed subset of about this many tokens; undefined or 0: the whole split. */
  maxTokens?: number;
  seed?: number;
  /** Task datasets: one window per example of this many tokens. */
  stride?: number;
}

export interface EvaluationSet {
  /** Re-reads the windows (a generator each time: a large split is never held twice). */
  batches(): Generator<TokenBatch>;
  /** Tokens predicted, i.e. scored. */
  tokens: number;
  windows: number;
  /** First 16 hex digits of the sha256 of the scored windows. */
  fingerprint: string;
}

export function evaluationSet(split: TokenSource, spec: EvaluationSetSpec): EvaluationSet {
  const options = { maxTokens: spec.maxTokens || undefined, seed: spec.seed ?? DEFAULT_EVAL_SEED, stride: spec.stride };
  const batches = () => evalBatches(split, spec.seqLen, spec.batchSize, options);
  const hash = createHash('sha256');
  let tokens = 0;
  let windows = 0;
  for (const batch of batches()) {
    for (let row = 0; row < batch.batch; row++) hash.update(windowBytes(batch, row));
    tokens += batch.batch * batch.length;
    windows += batch.batch;
  }
  return { batches, tokens, windows, fingerprint: hash.digest('hex').slice(0, 16) };
}

/** One window's T+1 token ids: its inputs, then the last target. */
function windowBytes(batch: TokenBatch, row: number): Buffer {
  const ids = new Uint32Array(batch.length + 1);
  ids.set(batch.inputs.subarray(row * batch.length, (row + 1) * batch.length));
  ids[batch.length] = batch.targets[(row + 1) * batch.length - 1];
  // uint32 in the machine's order; make it little-endian on the rare big-endian host
  const bytes = Buffer.from(ids.buffer);
  return isLittleEndian ? bytes : bytes.swap32();
}

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
