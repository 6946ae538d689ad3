import { streamFor } from '../../random.js';
import type { TaskSpec } from '../../config/task.js';
import type { Tokenizer } from '../tokenizer.js';
import { generateExample, type Haystack, needlesThatFit, type Span, type Split, weightedSpans } from './generate.js';
import { randomInt } from './random-draws.js';

/**
 * Training windows packed with short examples (`task.lengthMin`). One long example per window gives
 * a step two queries' worth of retrieval to learn from, and at this size no run left the plateau
 * that way; examples of 96 tokens, 48 to a step, learned one needle in 600 steps (issue 22's runs).
 * Packing keeps the window and the cost of a step and multiplies the retrievals in it, while the
 * log-uniform lengths keep some examples long: every distance up to the window is trained.
 *
 * Window i draws from its own stream (seed, split, "pack", i): the lengths, and for each example its
 * number of facts (from the spec's range, capped at what fits its length); example k of the window is
 * then generated as example "i.k" of the split. The last example takes the rest of the window.
 */
export interface PackedWindow {
  tokens: Int32Array;
  /** Every weighted span of every example (its answers; icl's labels too), as positions in the window. */
  answers: Span[];
  examples: number;
}

export function packWindow(
  spec: TaskSpec,
  windowLength: number,
  tokenizer: Tokenizer,
  haystack: Haystack,
  split: Split,
  index: number,
): PackedWindow {
  const uniform = streamFor(spec.seed, `task:${spec.kind}:${split}:pack:${index}`);
  const tokens = new Int32Array(windowLength);
  const answers: Span[] = [];
  let at = 0;
  let examples = 0;
  while (at < windowLength) {
    const remaining = windowLength - at;
    let length = Math.floor(spec.lengthMin * (windowLength / spec.lengthMin) ** uniform());
    if (remaining - length < spec.lengthMin) length = remaining;
    const needles = exampleNeedles(spec, length, uniform);
    const example = generateExample(
      { ...spec, needles, needlesMin: 0, queries: Math.min(spec.queries, needles) },
      length,
      tokenizer,
      haystack,
      split,
      `${index}.${examples}`,
    );
    tokens.set(example.tokens, at);
    for (const span of weightedSpans(example)) answers.push({ start: at + span.start, end: at + span.end });
    at += length;
    examples++;
  }
  return { tokens, answers, examples };
}

/** The spec's number of facts (or a draw from its range), at most what fits in `length` tokens. */
function exampleNeedles(spec: TaskSpec, length: number, uniform: () => number): number {
  const most = needlesThatFit(spec, length);
  const fewest = Math.min(most, spec.needlesMin || spec.needles);
  return fewest + randomInt(uniform, most - fewest + 1);
}
