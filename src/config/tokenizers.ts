/**
 * The tokenizers a config may name: tiktoken's encodings, UTF-8 bytes, or the characters of the
 * training split. data/tokenizer.ts builds them; the schema, the CLI and imports list them from here.
 */
export const TIKTOKEN_NAMES = ['gpt2', 'r50k_base', 'p50k_base', 'cl100k_base', 'o200k_base'] as const;
export type TiktokenName = (typeof TIKTOKEN_NAMES)[number];
export const TOKENIZER_NAMES = [...TIKTOKEN_NAMES, 'byte', 'char'] as const;
export type TokenizerName = (typeof TOKENIZER_NAMES)[number];
