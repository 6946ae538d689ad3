import { readFileSync } from 'node:fs';
import { filesIn } from './paths.js';

/**
 * A Hugging Face transformers directory (src/export/ writes and imports it): `config.json` with a
 * `difft` section when difft exported it, `generation_config.json`, the weights in
 * `model.safetensors`, the tokenizer's files as transformers' `AutoTokenizer` reads them, and the model card
 * (`README.md`, the Hub's format).
 */
export const EXPORT_FILES = {
  config: 'config.json',
  generation: 'generation_config.json',
  weights: 'model.safetensors',
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
  specialTokens: 'special_tokens_map.json',
  card: 'README.md',
} as const;

/** The path of one of an export's files. */
export const exportFile = filesIn(EXPORT_FILES);

/** Whether `dir` holds an export difft wrote (its config.json names architectures and has a difft section). */
export function exportedByDifft(dir: string): boolean {
  try {
    const config = JSON.parse(readFileSync(exportFile(dir, 'config'), 'utf8')) as {
      difft?: unknown;
      architectures?: unknown;
    };
    return typeof config.difft === 'object' && Array.isArray(config.architectures);
  } catch {
    return false;
  }
}

/** Recognises a difft export from its directory and entries. */
export function looksLikeExport(dir: string, names: string[]): boolean {
  return names.includes(EXPORT_FILES.config) && exportedByDifft(dir);
}
