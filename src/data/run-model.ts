import { type ModelConfig, resolveModelConfig } from '../config/model.js';
import type { RunConfig } from '../config/schema.js';
import { bpeVocabSize, type TiktokenName } from '../config/tokenizers.js';
import type { DatasetManifest } from './manifest.js';
import { createTokenizer } from './tokenizer.js';

/**
 * The one place a run's model shape is resolved: its `model` keys with the vocabulary of its
 * dataset. Training, memory estimates, experiments (parameter matching) and `info` all ask here, so
 * they agree on one `ModelConfig`.
 *
 * Once the data are prepared, the vocabulary is the manifest's. Before (an experiment sizing its
 * runs, a memory check before tokenising), it is what the tokenizer's name gives: exact for byte,
 * tiktoken and `bpe:N`; for char an assumption of 256, which the manifest corrects at training.
 */
export function modelOfRun(config: RunConfig, manifest?: Pick<DatasetManifest, 'vocabSize'>): ModelConfig {
  const vocabSize = manifest?.vocabSize ?? vocabSizeOf(config.data.tokenizer);
  return resolveModelConfig({ ...config.model, vocabSize });
}

/** Vocabulary sizes by tokenizer name, each encoding loaded once (an experiment asks for every run). */
const vocabSizes = new Map<string, number>();

/** The vocabulary size a tokenizer name gives, before any data is prepared (char: assumed 256). */
function vocabSizeOf(name: string): number {
  if (name === 'byte' || name === 'char') return 256; // char vocabularies are rarely larger
  const bpe = bpeVocabSize(name);
  if (bpe !== undefined) return bpe;
  let size = vocabSizes.get(name);
  if (size === undefined) {
    const tokenizer = createTokenizer({ kind: 'tiktoken', name: name as TiktokenName });
    size = tokenizer.vocabSize;
    tokenizer.free();
    vocabSizes.set(name, size);
  }
  return size;
}
