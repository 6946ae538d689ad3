import { filesIn } from './paths.js';

/**
 * A prepared dataset (src/data/): `manifest.json` (src/data/manifest.ts reads and writes it), the
 * token shards `train-000000.bin` and `val-000000.bin` it lists, a trained BPE tokenizer as
 * transformers' `tokenizer.json`, and for a built-in task its validation examples and answer spans.
 */
export const DATASET_FILES = {
  manifest: 'manifest.json',
  tokenizer: 'tokenizer.json',
  valExamples: 'val-examples.json',
  answerSpans: 'answer-spans.json',
} as const;

/** The path of one of a dataset's files. */
export const datasetFile = filesIn(DATASET_FILES);

/** The n-th token shard of a split (`train`, `val`) or of a scored corpus: `train-000003.bin`. */
export function shardFileName(prefix: string, index: number): string {
  return `${prefix}-${String(index).padStart(6, '0')}.bin`;
}

/** Recognises a dataset from its directory's entries. */
export function looksLikeDataset(names: string[]): boolean {
  return names.includes(DATASET_FILES.manifest);
}
