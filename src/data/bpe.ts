import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { UserError } from '../errors.js';
import type { TokenizerSpec } from './tokenizer.js';
import { bytesToUnicode, untrainedByteLevelJson } from './tokenizer-json.js';
import { withScratchDirectory } from '../scratch.js';

/**
 * `bpe:N`: a byte-level BPE trained on the training split with Hugging Face's tokenizers (its Node
 * binding, prebuilt for every platform inside the npm package).
 *
 * The binding's `train(files)` takes no trainer options: it trains with the BPE model's default
 * trainer (up to 30,000 entries, every pair that occurs at least once). BPE training is greedy — each
 * merge is the most frequent pair given the merges before it — so the first k merges of a longer run
 * are the merges a run asked for k would make. difft trains once and keeps the merges until it has
 * N − 257 new tokens: with the 256 bytes (all of them, seen or not, so any text encodes) and
 * end-of-text, exactly N entries. A merge that rebuilds a token an earlier one made adds no entry
 * and is passed over. A corpus too small to give that many merges is refused, naming the largest N.
 */
function untrained(): HfTokenizer {
  return HfTokenizer.fromString(JSON.stringify(untrainedByteLevelJson()));
}

/** Trains `bpe:vocabSize` on the text files (the training split, written out by the caller). */
export function trainBpe(files: string[], vocabSize: number, corpus: string): TokenizerSpec {
  const tokenizer = untrained();
  tokenizer.train(files);
  type Merges = (string | [string, string])[];
  const merges = withScratchDirectory('bpe', (dir) => {
    tokenizer.save(join(dir, 'trained.json'));
    return (JSON.parse(readFileSync(join(dir, 'trained.json'), 'utf8')) as { model: { merges: Merges } }).model.merges;
  });
  const bytes = new Map(bytesToUnicode().map((symbol, byte) => [symbol, byte]));
  const wanted = vocabSize - 257;
  const seen = new Set<string>();
  const merged: string[] = [];
  for (const merge of merges) {
    if (merged.length === wanted) break;
    const token = typeof merge === 'string' ? merge.replace(' ', '') : merge.join('');
    if (seen.has(token) || token.length < 2) continue;
    seen.add(token);
    merged.push(Buffer.from(Array.from(token, (ch) => bytes.get(ch)!)).toString('base64'));
  }
  if (merged.length < wanted)
    throw new UserError(
      `tokenizer bpe:${vocabSize}: the training text of ${corpus} gives only ${merged.length} merges, enough for ` +
        `bpe:${merged.length + 257} at most; choose a smaller N or give more text`,
    );
  return { kind: 'bpe', vocabSize, merged };
}

/** `bpe:vocabSize` trained on text held in memory (a task's distractor text). */
export function trainBpeOnText(text: string, vocabSize: number, what: string): TokenizerSpec {
  return withScratchDirectory('bpe-text', (dir) => {
    writeFileSync(join(dir, 'text.txt'), text);
    return trainBpe([join(dir, 'text.txt')], vocabSize, what);
  });
}
