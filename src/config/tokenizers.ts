/**
 * The tokenizers a config may name: tiktoken's encodings, UTF-8 bytes, the characters of the
 * training split, or a BPE trained on it. data/tokenizer.ts builds them; the schema, the CLI and
 * imports list them from here.
 */
export const TIKTOKEN_NAMES = ['gpt2', 'r50k_base', 'p50k_base', 'cl100k_base', 'o200k_base'] as const;
export type TiktokenName = (typeof TIKTOKEN_NAMES)[number];
export const TOKENIZER_NAMES = [...TIKTOKEN_NAMES, 'byte', 'char'] as const;
/** `bpe:N`: a byte-level BPE of exactly N entries trained on the corpus's training split (data/bpe.ts). */
export type TokenizerName = (typeof TOKENIZER_NAMES)[number] | `bpe:${number}`;
export const BPE_PATTERN = '^bpe:[0-9]+$';

/** Smallest and largest `bpe:N`: the 256 bytes, end-of-text and one merge; what tokenizers' trainer reaches. */
export const BPE_SIZES = { min: 258, max: 30000 } as const;

/** N of a `bpe:N` name, or undefined for the other tokenizers. */
export function bpeVocabSize(name: string): number | undefined {
  return new RegExp(BPE_PATTERN).test(name) ? Number(name.slice(4)) : undefined;
}

/** Every tokenizer a config may name, for help and errors. */
export const TOKENIZER_CHOICES = `${TOKENIZER_NAMES.join(', ')} or bpe:N (${BPE_SIZES.min} ≤ N ≤ ${BPE_SIZES.max})`;
