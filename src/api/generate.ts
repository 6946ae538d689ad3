import type { EngineChoice, EngineRequest } from '../backend/engines.js';
import { generateText } from '../generate/generate.js';
import { UserError } from '../errors.js';
import { engineFor } from './engine.js';

export interface GenerateOptions {
  /** Text to continue (default: the start of a document). */
  prompt?: string;
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
  /** Called once the checkpoint and the prompt have passed every check, before the first token. */
  onReady?: () => void;
  /** Receives the text as it is produced, in whole characters. */
  onText?: (text: string) => void;
}

/** A sampling option within its range, or one line naming it. */
function inRange(name: string, value: number, low: number, high: number, whole = false): number {
  if (!Number.isFinite(value) || value < low || value > high || (whole && !Number.isInteger(value)))
    throw new UserError(`${name} ${value}: must be a ${whole ? 'whole number' : 'number'} from ${low} to ${high}`);
  return value;
}

/** Continues a prompt from a checkpoint (what `difft generate` does); resolves with the new text. */
export async function generate(checkpoint: string, options: GenerateOptions = {}): Promise<string> {
  const { topK, topP } = options;
  const sampling = {
    maxTokens: inRange('maxTokens', options.maxTokens ?? 200, 1, Number.MAX_SAFE_INTEGER, true),
    temperature: inRange('temperature', options.temperature ?? 0.8, 0, 100),
    topK: topK === undefined ? undefined : inRange('topK', topK, 1, Number.MAX_SAFE_INTEGER, true),
    topP: topP === undefined ? undefined : inRange('topP', topP, 0, 1),
    seed: inRange('seed', options.seed ?? 0, 0, 2 ** 32 - 1, true),
  };
  await engineFor(options.backend, options.onEngine);
  return generateText(checkpoint, options.prompt ?? '', {
    ...sampling,
    onReady: options.onReady,
    onText: options.onText,
  });
}
