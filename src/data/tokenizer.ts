import { createRequire } from 'node:module';
import { get_encoding, Tiktoken, type TiktokenEncoding } from 'tiktoken';
import {
  BPE_SIZES,
  bpeVocabSize,
  TIKTOKEN_NAMES,
  TOKENIZER_CHOICES,
  type TiktokenName,
  TOKENIZER_NAMES,
  type TokenizerName,
} from '../config/tokenizers.js';
import { UserError } from '../errors.js';

/**
 * Tokenizers and their identities. A spec is plain JSON stored in the dataset manifest and later in
 * checkpoints, so that evaluation and generation always encode text as training did.
 */

export type TokenizerSpec =
  | { kind: 'tiktoken'; name: TiktokenName }
  | { kind: 'byte' }
  /** `symbols[0]` is the unknown symbol; the rest are the characters seen in the training split. */
  | { kind: 'char'; symbols: string[] }
  /**
   * A byte-level BPE trained on the corpus (data/bpe.ts): ids 0–255 are the bytes, `merged` (base64)
   * the tokens its merges made, in the order they were made (their rank), then end-of-text.
   */
  | { kind: 'bpe'; vocabSize: number; merged: string[] };

/** A TokenizerSpec as JSON Schema: what a checkpoint's config.json must hold for it. */
const whenKind = (kind: string, then: object) => ({ if: { properties: { kind: { const: kind } } }, then });
export const TOKENIZER_SPEC_SCHEMA = {
  type: 'object',
  required: ['kind'],
  properties: { kind: { enum: ['byte', 'tiktoken', 'char', 'bpe'] } },
  allOf: [
    whenKind('tiktoken', { required: ['name'], properties: { name: { enum: [...TIKTOKEN_NAMES] } } }),
    whenKind('char', {
      required: ['symbols'],
      properties: { symbols: { type: 'array', minItems: 1, items: { type: 'string' } } },
    }),
    whenKind('bpe', {
      required: ['vocabSize', 'merged'],
      properties: {
        vocabSize: { type: 'integer', minimum: BPE_SIZES.min },
        merged: { type: 'array', items: { type: 'string' } },
      },
    }),
  ],
} as const;

export interface Tokenizer {
  spec: TokenizerSpec;
  /** A short name for messages and directory names: gpt2, byte, char. */
  name: string;
  vocabSize: number;
  /** The end-of-text token put between documents, when the tokenizer has one. */
  endOfText?: number;
  /** Token ids as a typed array: no per-token JS numbers for the garbage collector. */
  encode(text: string): TokenIds;
  decode(ids: ArrayLike<number>): string;
  /** Releases native memory (tiktoken's wasm); the tokenizer must not be used afterwards. */
  free(): void;
}

export type TokenIds = Uint8Array | Uint32Array;

export const UNKNOWN_SYMBOL = '\uFFFD';

/** The name a config gives this tokenizer: gpt2, byte, char, bpe:4096. */
export function tokenizerName(spec: TokenizerSpec): string {
  if (spec.kind === 'tiktoken') return spec.name;
  return spec.kind === 'bpe' ? `bpe:${spec.vocabSize}` : spec.kind;
}

export function checkTokenizerName(name: string): TokenizerName {
  const bpe = bpeVocabSize(name);
  if (bpe !== undefined) {
    if (bpe < BPE_SIZES.min || bpe > BPE_SIZES.max)
      throw new UserError(`tokenizer ${name}: N must be from ${BPE_SIZES.min} to ${BPE_SIZES.max}`);
    return name as TokenizerName;
  }
  if (!(TOKENIZER_NAMES as readonly string[]).includes(name))
    throw new UserError(`unknown tokenizer "${name}": use one of ${TOKENIZER_CHOICES}`);
  return name as TokenizerName;
}

export function createTokenizer(spec: TokenizerSpec): Tokenizer {
  switch (spec.kind) {
    case 'tiktoken':
      return tiktokenTokenizer(spec);
    case 'byte':
      return byteTokenizer();
    case 'char':
      return charTokenizer(spec.symbols);
    case 'bpe':
      return bpeTokenizer(spec);
  }
}

/** GPT-2's split pattern, which a byte-level BPE shares (tokenizers' ByteLevel pre-tokenizer). */
export const GPT2_PATTERN = (
  createRequire(import.meta.url)('tiktoken/registry.json') as Record<string, { pat_str: string }>
).gpt2.pat_str;

/**
 * A trained BPE through tiktoken's encoder: ranks are ids (bytes, then merged tokens in the order
 * they were made), so tiktoken's "merge the adjacent pair making the lowest-ranked token" applies the
 * merges in the trainer's order. Synchronous and fast, as every other tokenizer here.
 */
function bpeTokenizer(spec: { kind: 'bpe'; vocabSize: number; merged: string[] }): Tokenizer {
  const bytes = Array.from({ length: 256 }, (_, byte) => Buffer.from([byte]).toString('base64'));
  const ranks = [...bytes, ...spec.merged].map((token, rank) => `${token} ${rank}`).join('\n');
  const endOfText = spec.vocabSize - 1;
  const encoding = new Tiktoken(ranks, { '<|endoftext|>': endOfText }, GPT2_PATTERN);
  const decoder = new TextDecoder('utf-8');
  return {
    spec,
    name: tokenizerName(spec),
    vocabSize: spec.vocabSize,
    endOfText,
    encode: (text) => encoding.encode_ordinary(text),
    decode: (ids) => decoder.decode(encoding.decode(Uint32Array.from(ids))),
    free: () => encoding.free(),
  };
}

function tiktokenTokenizer(spec: { kind: 'tiktoken'; name: TiktokenName }): Tokenizer {
  const encoding: Tiktoken = get_encoding(spec.name as TiktokenEncoding);
  const endOfText = encoding.encode('<|endoftext|>', 'all')[0];
  const decoder = new TextDecoder('utf-8');
  return {
    spec,
    name: spec.name,
    // ordinary tokens, then the specials up to end-of-text (the only special we use)
    vocabSize: Math.max(encoding.token_byte_values().length, endOfText + 1),
    endOfText,
    // text that happens to contain "<|endoftext|>" is encoded as ordinary text, never as the special token
    encode: (text) => encoding.encode_ordinary(text),
    decode: (ids) => decoder.decode(encoding.decode(Uint32Array.from(ids))),
    free: () => encoding.free(),
  };
}

function byteTokenizer(): Tokenizer {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder('utf-8');
  return {
    spec: { kind: 'byte' },
    name: 'byte',
    vocabSize: 256,
    encode: (text) => encoder.encode(text),
    decode: (ids) => decoder.decode(Uint8Array.from(ids)),
    free: () => {},
  };
}

function charTokenizer(symbols: string[]): Tokenizer {
  const index = new Map(symbols.map((symbol, i) => [symbol, i]));
  return {
    spec: { kind: 'char', symbols },
    name: 'char',
    vocabSize: symbols.length,
    // iterate by code point, so that emoji and other astral characters are one symbol each
    encode: (text) => Uint32Array.from(text, (ch) => index.get(ch) ?? 0),
    decode: (ids) => Array.from(ids, (id) => symbols[id] ?? UNKNOWN_SYMBOL).join(''),
    free: () => {},
  };
}

/** The char vocabulary from the characters seen in training text: unknown first, then sorted by code point. */
export function charSymbols(seen: Iterable<string>): string[] {
  const unique = [...new Set(seen)].filter((ch) => ch !== UNKNOWN_SYMBOL);
  unique.sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
  return [UNKNOWN_SYMBOL, ...unique];
}

/** Text put between documents by tokenizers without an end-of-text token. */
export const DOCUMENT_SEPARATOR = '\n\n';
