import { type PreparedDataset, type PrepareOptions as DatasetOptions, prepareDataset } from '../data/prepare.js';

export interface PrepareOptions extends Omit<DatasetOptions, 'tokenizer' | 'dataRoot'> {
  /** byte, char, gpt2 (default), r50k_base, p50k_base, cl100k_base, o200k_base, or bpe:N trained on the text. */
  tokenizer?: string;
}

/**
 * Tokenises text corpora into train/validation token shards (what `difft prepare` does); an identical
 * dataset already built is reused unless `force`.
 */
export function prepare(options: PrepareOptions): Promise<PreparedDataset> {
  return prepareDataset({ ...options, tokenizer: options.tokenizer ?? 'gpt2' });
}
