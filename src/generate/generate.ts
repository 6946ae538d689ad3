import * as tf from '@tensorflow/tfjs';
import { loadModel, readCheckpoint } from '../checkpoint/checkpoint.js';
import { createTokenizer, DOCUMENT_SEPARATOR, UNKNOWN_SYMBOL } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import { disposeCache, type Decoder } from '../model/decoder.js';
import { uniformStream } from '../random.js';
import { sampleToken, type SamplingOptions } from './sample.js';

/**
 * `difft generate`: incremental decoding with a key/value cache. When the context reaches the
 * trained length, the window slides: the cache is rebuilt from the newest half of the context.
 */
export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  seed: number;
  /** Called once the checkpoint and the prompt have passed every check, before the first token. */
  onReady?: () => void;
  /** Receives text as soon as it decodes to whole characters. */
  onText?: (text: string) => void;
}

/** Next-token ids, decoding incrementally with a cache; `context` holds the prompt's ids. */
export function generateIds(
  model: Decoder,
  context: number[],
  options: SamplingOptions & { maxTokens: number; seed: number },
  onToken?: (id: number) => void,
): number[] {
  const window = model.config.seqLen;
  const uniform = uniformStream(options.seed);
  const tokens = context.slice(-window);
  const produced: number[] = [];
  let cache = model.newCache();
  let pending = tokens.slice(); // tokens not yet in the cache
  try {
    for (let i = 0; i < options.maxTokens; i++) {
      const cached = cache[0].keys?.shape[1] ?? 0;
      if (cached + pending.length > window) {
        // slide: keep the newest half of the context, rebuild the cache from it
        disposeCache(cache);
        cache = model.newCache();
        pending = tokens.slice(-Math.max(1, Math.floor(window / 2)));
      }
      const logits = tf.tidy(() => {
        const input = tf.tensor2d([pending], [1, pending.length], 'int32');
        const out = model.forward(input, { cache }).logits; // [1, n, V]
        return out.slice([0, pending.length - 1, 0], [1, 1, -1]).dataSync();
      });
      const next = sampleToken(logits, options, uniform);
      produced.push(next);
      tokens.push(next);
      pending = [next];
      onToken?.(next);
    }
  } finally {
    disposeCache(cache);
  }
  return produced;
}

export function generateText(checkpointPath: string, prompt: string, options: GenerateOptions): string {
  const checkpoint = readCheckpoint(checkpointPath);
  const tokenizer = createTokenizer(checkpoint.config.tokenizer);
  try {
    if (checkpoint.config.tokenizer.kind === 'char') {
      const known = new Set(checkpoint.config.tokenizer.symbols);
      const unknown = [...new Set(Array.from(prompt).filter((ch) => !known.has(ch) || ch === UNKNOWN_SYMBOL))];
      if (unknown.length) {
        throw new UserError(
          `the prompt has characters the checkpoint's char tokenizer never saw: ${unknown
            .slice(0, 10)
            .map((ch) => JSON.stringify(ch))
            .join(', ')}`,
        );
      }
    }
    const start =
      tokenizer.endOfText !== undefined ? [tokenizer.endOfText] : Array.from(tokenizer.encode(DOCUMENT_SEPARATOR));
    const context = prompt ? Array.from(tokenizer.encode(prompt)) : start;
    const model = loadModel(checkpoint);
    try {
      options.onReady?.();
      const ids: number[] = [];
      let shown = 0;
      generateIds(model, context, options, (id) => {
        ids.push(id);
        const text = tokenizer.decode(ids);
        // hold back a character still being assembled from several tokens
        const complete = text.endsWith('\uFFFD') ? text.slice(0, text.lastIndexOf('\uFFFD')) : text;
        if (complete.length > shown) {
          options.onText?.(complete.slice(shown));
          shown = complete.length;
        }
      });
      const text = tokenizer.decode(ids);
      if (text.length > shown) options.onText?.(text.slice(shown));
      return text;
    } finally {
      model.dispose();
    }
  } finally {
    tokenizer.free();
  }
}
