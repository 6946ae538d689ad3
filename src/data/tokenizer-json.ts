import { createRequire } from 'node:module';
import { get_encoding, type TiktokenEncoding } from 'tiktoken';
import type { TiktokenName } from '../config/tokenizers.js';
import { GPT2_PATTERN, UNKNOWN_SYMBOL, type TokenizerSpec } from './tokenizer.js';
import { EXPORT_FILES } from '../formats/export.js';

/**
 * The tokenizer files transformers loads with `AutoTokenizer.from_pretrained(dir)` (a
 * PreTrainedTokenizerFast over `tokenizer.json`), giving difft's ids:
 * - byte: byte-level BPE over the 256 bytes with no merges: id = byte value.
 * - char: BPE with no merges over difft's symbols and no pre-tokenizer, so every character is a token;
 *   `symbols[0]` is the unknown token; the Fuse decoder joins tokens without spaces.
 * - tiktoken encodings: byte-level BPE with the encoding's ranks as the vocabulary, its split pattern as
 *   a Split pre-tokenizer, and merges derived from the ranks as transformers' own tiktoken converter
 *   does (every split of a token into two tokens, ordered by the rank of the token they make), with
 *   `ignore_merges` so a piece that is itself a token stays whole, as tiktoken does.
 */
const registry = createRequire(import.meta.url)('tiktoken/registry.json') as Record<string, { pat_str: string }>;

/** GPT-2's reversible map of the 256 bytes to printable characters (bytes_to_unicode). */
export function bytesToUnicode(): string[] {
  const printable = (from: string, to: string) =>
    Array.from({ length: to.charCodeAt(0) - from.charCodeAt(0) + 1 }, (_, i) => from.charCodeAt(0) + i);
  const kept = new Set([...printable('!', '~'), ...printable('¡', '¬'), ...printable('®', 'ÿ')]);
  const map: string[] = [];
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) map[byte] = String.fromCharCode(kept.has(byte) ? byte : 256 + shifted++);
  return map;
}

const byteLevel = (options: { useRegex: boolean }) => ({
  type: 'ByteLevel',
  add_prefix_space: false,
  trim_offsets: true,
  use_regex: options.useRegex,
});

function bpeModel(vocab: Record<string, number>, merges: string[], extra: Record<string, unknown> = {}) {
  return {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab,
    merges,
    ...extra,
  };
}

function tokenizerJson(parts: {
  model: Record<string, unknown>;
  preTokenizer: unknown;
  decoder: unknown;
  special?: { id: number; content: string };
}): Record<string, unknown> {
  const added = parts.special
    ? [{ ...parts.special, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }]
    : [];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: parts.preTokenizer,
    post_processor: null,
    decoder: parts.decoder,
    model: parts.model,
  };
}

function byteTokenizerJson(): Record<string, unknown> {
  const vocab = Object.fromEntries(bytesToUnicode().map((symbol, byte) => [symbol, byte]));
  return tokenizerJson({
    model: bpeModel(vocab, []),
    preTokenizer: byteLevel({ useRegex: false }),
    decoder: byteLevel({ useRegex: false }),
  });
}

function charTokenizerJson(symbols: string[]): Record<string, unknown> {
  const vocab = Object.fromEntries(symbols.map((symbol, id) => [symbol, id]));
  return tokenizerJson({
    model: bpeModel(vocab, [], { unk_token: UNKNOWN_SYMBOL }),
    preTokenizer: null,
    decoder: { type: 'Fuse' },
  });
}

/** The encoding's ordinary tokens in rank order, as [rank, bytes] (p50k_base has ranks after its end-of-text id). */
function rankedTokens(name: TiktokenName): { tokens: [number, Uint8Array][]; endOfText: number } {
  const encoding = get_encoding(name as TiktokenEncoding);
  try {
    const count = encoding.token_byte_values().length;
    const endOfText = encoding.encode('<|endoftext|>', 'all')[0];
    const tokens: [number, Uint8Array][] = [];
    for (let rank = 0; tokens.length < count; rank++)
      if (rank !== endOfText) tokens.push([rank, encoding.decode_single_token_bytes(rank)]);
    return { tokens, endOfText };
  } finally {
    encoding.free();
  }
}

/** A ranked byte-level BPE (a tiktoken encoding, or one difft trained) as transformers' byte-level BPE. */
function rankedTokenizerJson(
  tokens: [number, Uint8Array][],
  endOfText: number,
  pattern: string,
): Record<string, unknown> {
  const unicode = bytesToUnicode();
  const text = (bytes: Uint8Array) => Array.from(bytes, (byte) => unicode[byte]).join('');
  const vocab = new Map(tokens.map(([rank, bytes]) => [text(bytes), rank])); // a Map: tokens like "constructor"
  const merges: string[] = [];
  for (const [, bytes] of tokens) {
    if (bytes.length < 2) continue;
    const token = text(bytes);
    const splits: [string, string][] = [];
    for (let cut = 1; cut < token.length; cut++) {
      const [left, right] = [token.slice(0, cut), token.slice(cut)];
      if (vocab.has(left) && vocab.has(right)) splits.push([left, right]);
    }
    splits.sort((a, b) => vocab.get(a[0])! - vocab.get(b[0])! || vocab.get(a[1])! - vocab.get(b[1])!);
    for (const [left, right] of splits) merges.push(`${left} ${right}`);
  }
  return tokenizerJson({
    model: bpeModel(Object.fromEntries(vocab), merges, { ignore_merges: true }),
    preTokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
        byteLevel({ useRegex: false }),
      ],
    },
    decoder: byteLevel({ useRegex: false }),
    special: { id: endOfText, content: '<|endoftext|>' },
  });
}

/** `tokenizer.json` of a difft tokenizer. */
export function tokenizerJsonOf(spec: TokenizerSpec): Record<string, unknown> {
  switch (spec.kind) {
    case 'byte':
      return byteTokenizerJson();
    case 'char':
      return charTokenizerJson(spec.symbols);
    case 'tiktoken': {
      const { tokens, endOfText } = rankedTokens(spec.name);
      return rankedTokenizerJson(tokens, endOfText, registry[spec.name].pat_str);
    }
    case 'bpe': {
      const bytes = Array.from({ length: 256 }, (_, byte): [number, Uint8Array] => [byte, Uint8Array.of(byte)]);
      const merged = spec.merged.map((token, i): [number, Uint8Array] => [256 + i, Buffer.from(token, 'base64')]);
      return rankedTokenizerJson([...bytes, ...merged], spec.vocabSize - 1, GPT2_PATTERN);
    }
  }
}

/** An empty byte-level BPE with GPT-2's split, for tokenizers' trainer to fill (data/bpe.ts). */
export function untrainedByteLevelJson(): Record<string, unknown> {
  return tokenizerJson({ model: bpeModel({}, []), preTokenizer: byteLevel({ useRegex: true }), decoder: null });
}

/** File name → content of the tokenizer files for an export of a model with context `seqLen`. */
export function hfTokenizerFiles(spec: TokenizerSpec, seqLen: number): Record<string, string> {
  const json = tokenizerJsonOf(spec);
  const special = spec.kind === 'tiktoken' || spec.kind === 'bpe' ? '<|endoftext|>' : undefined;
  const specialTokens = special ? { bos_token: special, eos_token: special } : {};
  const config = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: seqLen,
    clean_up_tokenization_spaces: false,
    ...specialTokens,
  };
  return {
    [EXPORT_FILES.tokenizer]: `${JSON.stringify(json)}\n`,
    [EXPORT_FILES.tokenizerConfig]: `${JSON.stringify(config, null, 2)}\n`,
    [EXPORT_FILES.specialTokens]: `${JSON.stringify(specialTokens, null, 2)}\n`,
  };
}

interface TokenizerFile {
  model?: { type?: string; vocab?: Record<string, number>; merges?: unknown[] };
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string; pattern?: { Regex?: string } }[] } | null;
  decoder?: { type?: string } | null;
}

/**
 * The difft tokenizer a `tokenizer.json` expresses, when it is one of those written above (byte,
 * char, a tiktoken encoding: told by shape, split pattern and vocabulary); undefined otherwise.
 */
export function tokenizerFromHfFile(json: TokenizerFile): TokenizerSpec | undefined {
  // data from disk, from any program: anything not shaped like a BPE file is simply not recognised
  if (!json || typeof json !== 'object') return undefined;
  const vocab = json.model?.vocab;
  if (json.model?.type !== 'BPE' || !vocab || typeof vocab !== 'object') return undefined;
  if (!Object.values(vocab).every((id) => Number.isInteger(id))) return undefined;
  const merges = Array.isArray(json.model.merges) ? json.model.merges : [];
  const splits = json.pre_tokenizer?.pretokenizers;
  if (splits !== undefined && !Array.isArray(splits)) return undefined;
  const ids = Object.entries(vocab).sort((a, b) => a[1] - b[1]);
  if (merges.length === 0 && json.pre_tokenizer?.type === 'ByteLevel') {
    const unicode = bytesToUnicode();
    return ids.length === 256 && ids.every(([symbol, id]) => unicode[id] === symbol) ? { kind: 'byte' } : undefined;
  }
  if (merges.length === 0 && !json.pre_tokenizer && json.decoder?.type === 'Fuse') {
    const contiguous = ids.every(([, id], index) => id === index);
    return contiguous && ids[0]?.[0] === UNKNOWN_SYMBOL ? { kind: 'char', symbols: ids.map(([s]) => s) } : undefined;
  }
  const pattern = splits?.find((p) => p?.type === 'Split')?.pattern?.Regex;
  const candidates = (Object.keys(registry) as TiktokenName[]).filter((name) => registry[name].pat_str === pattern);
  const unicode = bytesToUnicode();
  const text = (bytes: Uint8Array) => Array.from(bytes, (byte) => unicode[byte]).join('');
  // gpt2 and r50k_base are one vocabulary: prefer gpt2; p50k_base shares their pattern with more tokens
  for (const name of candidates.sort((a) => (a === 'gpt2' ? -1 : 0))) {
    const { tokens } = rankedTokens(name);
    if (tokens.length !== ids.length) continue;
    if (tokens.every(([rank, bytes]) => vocab[text(bytes)] === rank)) return { kind: 'tiktoken', name };
  }
  return pattern === GPT2_PATTERN ? trainedBpe(ids, json) : undefined;
}

/** A BPE difft trained: the 256 bytes as ids 0–255, merged tokens after them, end-of-text last. */
function trainedBpe(ids: [string, number][], json: TokenizerFile & { added_tokens?: { id: number }[] }) {
  const inverse = new Map(bytesToUnicode().map((symbol, byte) => [symbol, byte]));
  const vocabSize = ids.length + 1;
  const endOfText = json.added_tokens?.[0]?.id;
  if (endOfText !== vocabSize - 1 || !ids.every(([, id], index) => id === index)) return undefined;
  if (!ids.slice(0, 256).every(([symbol, id]) => inverse.get(symbol) === id)) return undefined;
  const merged = ids
    .slice(256)
    .map(([symbol]) => Buffer.from(Array.from(symbol, (ch) => inverse.get(ch)!)).toString('base64'));
  return { kind: 'bpe' as const, vocabSize, merged };
}
