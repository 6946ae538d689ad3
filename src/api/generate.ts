import type { EngineChoice, EngineRequest } from '../backend/engines.js';
import { generateTexts } from '../generate/generate.js';
import { UserError } from '../errors.js';
import { engineFor } from './engine.js';

interface SamplingChoices {
  /** Tokens to generate (default 200). */
  maxTokens?: number;
  /** 0: greedy (the most likely token); default 0.8. */
  temperature?: number;
  /** Sample among the k most likely tokens. */
  topK?: number;
  /** Sample from the smallest set of most likely tokens holding probability p. */
  topP?: number;
  /** The sampler's seed (default 0): the same seed, the same text. */
  seed?: number;
  backend?: EngineRequest;
  onEngine?: (choice: EngineChoice) => void;
  /** Called once the checkpoint and the prompts have passed every check, before the first token. */
  onReady?: () => void;
}

export interface GenerateOptions extends SamplingChoices {
  /** Text to continue (default: the start of a document). */
  prompt?: string;
  /** Receives the text as it is produced, in whole characters. */
  onText?: (text: string) => void;
}

export interface GenerateManyOptions extends SamplingChoices {
  /** Texts to continue, each in its own row of one batch (default: one, the start of a document). */
  prompts?: string[];
  /** Continuations of every prompt (default 1); sample s of each prompt is seeded `seed + s`. */
  samples?: number;
  /** Receives row `row`'s text (prompt ⌊row / samples⌋, sample row mod samples) as it is produced. */
  onText?: (row: number, text: string) => void;
}

/** A sampling option within its range, or one line naming it. */
function inRange(name: string, value: number, low: number, high: number, whole = false): number {
  if (!Number.isFinite(value) || value < low || value > high || (whole && !Number.isInteger(value)))
    throw new UserError(`${name} ${value}: must be a ${whole ? 'whole number' : 'number'} from ${low} to ${high}`);
  return value;
}

/**
 * Continues prompts from a checkpoint in one batch, with a key/value cache (src/generate/decoding.ts);
 * resolves with the new text of every row, prompt by prompt, sample by sample.
 */
export async function generateMany(checkpoint: string, options: GenerateManyOptions = {}): Promise<string[]> {
  const { topK, topP } = options;
  const prompts = options.prompts ?? [''];
  if (prompts.length === 0) throw new UserError('prompts: give at least one (an empty one starts a document)');
  const sampling = {
    maxTokens: inRange('maxTokens', options.maxTokens ?? 200, 1, Number.MAX_SAFE_INTEGER, true),
    temperature: inRange('temperature', options.temperature ?? 0.8, 0, 100),
    topK: topK === undefined ? undefined : inRange('topK', topK, 1, Number.MAX_SAFE_INTEGER, true),
    topP: topP === undefined ? undefined : inRange('topP', topP, 0, 1),
    seed: inRange('seed', options.seed ?? 0, 0, 2 ** 32 - 1, true),
    samples: inRange('samples', options.samples ?? 1, 1, 4096, true),
  };
  // a token's work is far below what pays for splitting ops across threads: one intra-op thread (measured,
  // 4 layers, width 128, context 512: a decoding step 1.5 ms on one thread, 4.7 ms on two)
  await engineFor(options.backend, options.onEngine, { stepFlops: 0 });
  return generateTexts(checkpoint, prompts, { ...sampling, onReady: options.onReady, onText: options.onText });
}

/** Continues a prompt from a checkpoint (what `difft generate` does); resolves with the new text. */
export async function generate(checkpoint: string, options: GenerateOptions = {}): Promise<string> {
  const { prompt, onText, ...rest } = options;
  const [text] = await generateMany(checkpoint, {
    ...rest,
    prompts: [prompt ?? ''],
    onText: onText && ((_, piece) => onText(piece)),
  });
  return text;
}
