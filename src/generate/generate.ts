import { loadModel, readCheckpoint } from '../checkpoint/checkpoint.js';
import { createTokenizer, DOCUMENT_SEPARATOR, UNKNOWN_SYMBOL } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import type { Decoder } from '../model/decoder.js';
import { decodingFor } from './decoding.js';
import { uniformStream } from '../random.js';
import type { SamplingOptions } from './sample.js';

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
  return generateBatch(model, [context], options, onToken && ((ids) => onToken(ids[0])))[0];
}

/**
 * Next-token ids for every context at once, one batch (src/generate/decoding.ts). Row r samples from
 * the stream of `seedOf(r)` (default seed + r), so that a row is what a single generation with its seed
 * gives. When a row
 * reaches the trained length the window slides: every row restarts from the newest half of its context
 * (rows of equal length, as with several samples of one prompt, slide together and stay exactly what a
 * single generation gives).
 */
export function generateBatch(
  model: Decoder,
  contexts: number[][],
  options: SamplingOptions & { maxTokens: number; seed: number },
  onTokens?: (ids: number[]) => void,
  seedOf: (row: number) => number = (row) => options.seed + row,
): number[][] {
  const window = model.config.seqLen;
  const streams = contexts.map((_, row) => uniformStream(seedOf(row)));
  // greedy draws nothing, as sampleToken does at temperature 0
  const draws = () => streams.map((uniform) => (options.temperature > 0 ? uniform() : 0));
  const tokens = contexts.map((context) => context.slice(-window));
  const produced: number[][] = contexts.map(() => []);
  const decoding = decodingFor(model, options, tokens);
  try {
    let next: number[] = [];
    for (let i = 0; i < options.maxTokens; i++) {
      if (i === 0) next = decoding.prefill(tokens, draws());
      else if (Math.max(...decoding.rowPositions) < window) next = decoding.next(next, draws());
      else
        next = decoding.prefill(
          tokens.map((row) => row.slice(-Math.max(1, Math.floor(window / 2)))),
          draws(),
        );
      next.forEach((id, row) => {
        produced[row].push(id);
        tokens[row].push(id);
      });
      onTokens?.(next);
    }
  } finally {
    decoding.dispose();
  }
  return produced;
}

export function generateText(checkpointPath: string, prompt: string, options: GenerateOptions): string {
  return generateTexts(checkpointPath, [prompt], {
    ...options,
    onText: options.onText && ((_, text) => options.onText!(text)),
  })[0];
}

export interface BatchOptions extends Omit<GenerateOptions, 'onText'> {
  /** Samples per prompt (default 1): rows prompt × sample, sample s seeded seed + s. */
  samples?: number;
  /** Receives each row's text as soon as it decodes to whole characters. */
  onText?: (row: number, text: string) => void;
}

/**
 * Continues every prompt `samples` times in one batch; returns the texts row by row (prompt 0's samples
 * first). An empty prompt starts a document.
 */
export function generateTexts(checkpointPath: string, prompts: string[], options: BatchOptions): string[] {
  const checkpoint = readCheckpoint(checkpointPath);
  const tokenizer = createTokenizer(checkpoint.config.tokenizer);
  try {
    const start =
      tokenizer.endOfText !== undefined ? [tokenizer.endOfText] : Array.from(tokenizer.encode(DOCUMENT_SEPARATOR));
    const contexts = prompts.map((prompt) => {
      if (checkpoint.config.tokenizer.kind === 'char') checkSymbols(prompt, checkpoint.config.tokenizer.symbols);
      return prompt ? Array.from(tokenizer.encode(prompt)) : start;
    });
    const samples = options.samples ?? 1;
    const rows = contexts.flatMap((context) => Array.from({ length: samples }, () => context));
    const model = loadModel(checkpoint);
    try {
      options.onReady?.();
      const ids: number[][] = rows.map(() => []);
      const shown = rows.map(() => 0);
      const show = (row: number, final: boolean) => {
        const text = tokenizer.decode(ids[row]);
        // hold back a character still being assembled from several tokens
        const complete = !final && text.endsWith('\uFFFD') ? text.slice(0, text.lastIndexOf('\uFFFD')) : text;
        if (complete.length > shown[row]) options.onText?.(row, complete.slice(shown[row]));
        shown[row] = Math.max(shown[row], complete.length);
        return text;
      };
      // row r samples from seed + (r mod samples): the samples of every prompt are seeded alike
      generateBatch(
        model,
        rows,
        options,
        (next) => {
          next.forEach((id, row) => {
            ids[row].push(id);
            show(row, false);
          });
        },
        (row) => options.seed + (row % samples),
      );
      return rows.map((_, row) => show(row, true));
    } finally {
      model.dispose();
    }
  } finally {
    tokenizer.free();
  }
}

/** A prompt for a char tokenizer holds only the symbols it knows. */
function checkSymbols(prompt: string, symbols: string[]): void {
  const known = new Set(symbols);
  const unknown = [...new Set(Array.from(prompt).filter((ch) => !known.has(ch) || ch === UNKNOWN_SYMBOL))];
  if (unknown.length)
    throw new UserError(
      `the prompt has characters the checkpoint's char tokenizer never saw: ${unknown
        .slice(0, 10)
        .map((ch) => JSON.stringify(ch))
        .join(', ')}`,
    );
}
