import { UserError } from '../../errors.js';
import { streamFor } from '../../random.js';
import type { TokenSource } from '../shards.js';
import type { Tokenizer } from '../tokenizer.js';
import { variesNeedles, type TaskSpec } from '../../config/task.js';
import { drawDemonstrations } from './icl.js';
import { pick, randomInt } from './random-draws.js';

/**
 * Retrieval examples, built in token space so that every position is known exactly: each piece of
 * text (a fact, a query, an answer, the distractor) is tokenised on its own and the ids are
 * concatenated. An example is exactly `length` tokens and ends with its last answer.
 *
 *   needles:  distractor with the facts " The code XQV42." inserted at random depths,
 *             then per query " The code XQV" followed by the answer "42".
 *   mqar:     distractor, then all pairs " XQV42" together, then per query " XQV" and "42".
 *   icl:      distractor, then demonstrations " QEW 7." of a rule of the example's own, then per query
 *             a new input " WWQ " and its label "7" (src/data/tasks/icl.ts).
 *
 * Example i of a split is drawn from its own stream (seed, split, i): any example can be rebuilt
 * alone, and adding examples never changes the earlier ones.
 */

/** Token positions [start, end) within an example. */
export interface Span {
  start: number;
  end: number;
}

export interface Needle extends Span {
  key: string;
  value: string;
  /** Where the value's tokens are, inside the needle. */
  valueSpan: Span;
}

export interface Answer extends Span {
  /** The index in `needles` of the fact that holds this answer. */
  needle: number;
  /** Where that fact sits: its first token's position over the position of the first query, in [0, 1). */
  depth: number;
}

export interface TaskExample {
  tokens: Int32Array;
  needles: Needle[];
  answers: Answer[];
  /** Where the first query begins: everything before it is the context the answers are read from. */
  queryStart: number;
  /** icl: the distinct labels its demonstrations show (chance is one over it). */
  labelsShown?: number;
}

export type Split = 'train' | 'val';

/** Where distractor tokens come from: a tokenised text for each split, or random words. */
export interface Haystack {
  /** Tokens of `count` distractor tokens for one example. */
  draw(count: number, uniform: () => number): ArrayLike<number>;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const KEY_LETTERS = LETTERS.toUpperCase();

/** Every character a task writes besides its distractor (a char tokenizer needs them in its vocabulary). */
export const TASK_ALPHABET = `${LETTERS}${KEY_LETTERS}0123456789 .`;

/**
 * The value follows its key directly ("XQV42"), and the query ends with the key: reading the answer
 * means finding the earlier occurrence of the key and copying what follows it, the retrieval an
 * induction head performs. Keys are upper case, rare in the distractor text.
 */
function templates(spec: TaskSpec) {
  if (spec.kind === 'needles')
    return { fact: (key: string) => ` The code ${key}`, factEnd: '.', query: (key: string) => ` The code ${key}` };
  if (spec.kind === 'icl')
    // icl's input is a word and its label another: " QEW 7." (src/data/tasks/icl.ts)
    return { fact: (key: string) => ` ${key} `, factEnd: '.', query: (key: string) => ` ${key} ` };
  return { fact: (key: string) => ` ${key}`, factEnd: '', query: (key: string) => ` ${key}` };
}

/**
 * The most facts (with their min(queries, N) queries) that fit in `length` tokens. Counted in UTF-8
 * bytes, an upper bound of the tokens for every tokenizer here (none makes a token of less than a
 * byte), so that examples of that many facts always fit.
 */
export function needlesThatFit(spec: TaskSpec, length: number): number {
  const text = templates(spec);
  const key = 'K'.repeat(spec.keyLength);
  const value = '0'.repeat(spec.answerLength);
  const fact = Buffer.byteLength(text.fact(key) + value + text.factEnd);
  const query = Buffer.byteLength(text.query(key) + value);
  let needles = 0;
  while (needles < spec.needles && (needles + 1) * fact + Math.min(spec.queries, needles + 1) * query <= length)
    needles++;
  return needles;
}

function randomKeys(count: number, letters: number, uniform: () => number): string[] {
  if (count > 26 ** letters)
    throw new UserError(
      `task.needles = ${count} needs more distinct keys than ${letters} letter(s) make (${26 ** letters}): raise ` +
        `task.keyLength`,
    );
  const keys = new Set<string>();
  while (keys.size < count)
    keys.add(Array.from({ length: letters }, () => KEY_LETTERS[randomInt(uniform, 26)]).join(''));
  return [...keys];
}

/**
 * Hard distractors: a random base key and keys that differ from it in one letter each, at any
 * position. Every key has the queried key's length and alphabet and shares all but at most two letters
 * with it, so most share its first or its last letters: finding the fact needs the whole key, not the
 * token before the value.
 */
function lookalikeKeys(count: number, letters: number, uniform: () => number): string[] {
  const capacity = 1 + 25 * letters;
  if (count > capacity)
    throw new UserError(
      `task.needles = ${count} needs more look-alike keys than ${letters} letter(s) make (${capacity}): raise ` +
        `task.keyLength`,
    );
  const base = randomKeys(1, letters, uniform)[0];
  const keys = new Set<string>();
  while (keys.size < count) {
    const key = [...base];
    key[randomInt(uniform, letters)] = KEY_LETTERS[randomInt(uniform, 26)];
    keys.add(key.join(''));
  }
  return [...keys];
}

/**
 * The paper's look-alike facts: every key the same random prefix of keyLength − 1 letters and a last
 * letter of its own, so the facts differ only where their keys end and the fact to read is the one whose
 * key matches the query's.
 */
function prefixKeys(count: number, letters: number, uniform: () => number): string[] {
  if (count > 26)
    throw new UserError(
      `task.needles = ${count} needs more keys than task.keys = prefix makes (26, one per last letter): lower ` +
        `task.needles or use task.keys = random`,
    );
  const prefix = letters > 1 ? randomKeys(1, letters - 1, uniform)[0] : '';
  return pick(26, count, uniform).map((last) => prefix + KEY_LETTERS[last]);
}

const KEY_MAKERS = { random: randomKeys, prefix: prefixKeys, lookalike: lookalikeKeys };

function randomValue(digits: number, uniform: () => number): string {
  return Array.from({ length: digits }, () => String(randomInt(uniform, 10))).join('');
}

/** Random lowercase words of 2–7 letters, tokenised, cut to exactly `count` tokens. */
export function randomWordsHaystack(tokenizer: Tokenizer): Haystack {
  return {
    draw(count, uniform) {
      let text = '';
      let ids: ArrayLike<number> = [];
      while (ids.length < count) {
        const words: string[] = [];
        for (let i = 0; i < count + 8; i++)
          words.push(Array.from({ length: 2 + randomInt(uniform, 6) }, () => LETTERS[randomInt(uniform, 26)]).join(''));
        text += ` ${words.join(' ')}`;
        ids = tokenizer.encode(text);
      }
      return Array.from(ids).slice(0, count);
    },
  };
}

/** A contiguous stretch of `count` tokens of a tokenised text, from a random place. */
export function textHaystack(tokens: TokenSource): Haystack {
  return {
    draw(count, uniform) {
      if (tokens.length < count)
        throw new UserError(
          `the distractor text has ${tokens.length} tokens, fewer than the ${count} one example needs: use more ` +
            `text in data.corpus or task.distractor=random`,
        );
      const start = randomInt(uniform, tokens.length - count + 1);
      return tokens.slice(start, start + count);
    },
  };
}

interface Piece {
  ids: ArrayLike<number>;
  /** What the piece is, so that its span can be recorded once positions are known. */
  role:
    | { kind: 'fact'; needle: number; valueFrom: number; valueTo: number }
    | { kind: 'answer'; needle: number }
    | { kind: 'query' }
    | { kind: 'text' };
}

/** Example `index` of `split`. */
export function generateExample(
  spec: TaskSpec,
  length: number,
  tokenizer: Tokenizer,
  haystack: Haystack,
  split: Split,
  /** The example's number in its split (packed examples: `window.k`). */
  index: number | string,
): TaskExample {
  const uniform = streamFor(spec.seed, `task:${spec.kind}:${split}:${index}`);
  const text = templates(spec);
  // drawn only when the count varies: fixed-count examples stay what they were
  const count = variesNeedles(spec)
    ? spec.needlesMin + randomInt(uniform, spec.needles - spec.needlesMin + 1)
    : spec.needles;
  const {
    keys,
    values,
    queries: asked,
    labelsShown,
  } = spec.kind === 'icl'
    ? drawDemonstrations(spec, count, uniform, `task:icl:${split}:${index}:${spec.order}:${spec.permutation}`)
    : drawFacts(spec, count, uniform);
  const encode = (s: string) => Array.from(tokenizer.encode(s));

  const facts: Piece[] = keys.map((key, needle) => {
    const head = encode(text.fact(key));
    const value = encode(values[needle]);
    return {
      ids: [...head, ...value, ...encode(text.factEnd)],
      role: { kind: 'fact', needle, valueFrom: head.length, valueTo: head.length + value.length },
    };
  });
  const queries: Piece[] = asked.flatMap(({ key, needle }) => [
    { ids: encode(text.query(key)), role: { kind: 'query' } } as Piece,
    { ids: encode(values[needle]), role: { kind: 'answer', needle } } as Piece,
  ]);
  const fixed = [...facts, ...queries].reduce((sum, piece) => sum + piece.ids.length, 0);
  const fill = length - fixed;
  if (fill < 0) {
    throw new UserError(
      `task.length = ${length} tokens is too short for ${count} facts and ${asked.length} queries (${fixed} ` +
        `tokens with this tokenizer): raise task.length (or model.seqLen), or lower task.needles`,
    );
  }
  const distractor = Array.from(haystack.draw(fill, uniform));

  // the context: needles spread through the distractor at random depths, or mqar's pairs after it
  const context: Piece[] = [];
  if (spec.kind === 'needles') {
    const cuts = Array.from({ length: count }, () => randomInt(uniform, fill + 1)).sort((a, b) => a - b);
    let from = 0;
    cuts.forEach((cut, i) => {
      context.push({ ids: distractor.slice(from, cut), role: { kind: 'text' } }, facts[i]);
      from = cut;
    });
    context.push({ ids: distractor.slice(from), role: { kind: 'text' } });
  } else {
    context.push({ ids: distractor, role: { kind: 'text' } }, ...facts);
  }
  const example = assemble([...context, ...queries], keys, values, length);
  return labelsShown === undefined ? example : { ...example, labelsShown };
}

/**
 * The spans an example's training loss weighs as answers (src/data/tasks/weights.ts): its answers, and for icl
 * the labels of its demonstrations too — each one after the first of its class is itself an in-context
 * prediction, and weighing them gives a step several times the signal of its two queries.
 */
export function weightedSpans(example: TaskExample): Span[] {
  const labels = example.labelsShown === undefined ? [] : example.needles.map((needle) => needle.valueSpan);
  return [...labels, ...example.answers].sort((a, b) => a.start - b.start);
}

/** Retrieval facts: keys of the spec's kind, a random value each, and the facts asked about. */
function drawFacts(spec: TaskSpec, count: number, uniform: () => number) {
  const keys = KEY_MAKERS[spec.keys](count, spec.keyLength, uniform);
  const values = keys.map(() => randomValue(spec.answerLength, uniform));
  const asked = pick(count, Math.min(spec.queries, count), uniform);
  return { keys, values, queries: asked.map((needle) => ({ key: keys[needle], needle })), labelsShown: undefined };
}

function assemble(pieces: Piece[], keys: string[], values: string[], length: number): TaskExample {
  const tokens = new Int32Array(length);
  const needles: Needle[] = [];
  const answers: { start: number; end: number; needle: number }[] = [];
  let at = 0;
  let queryStart = -1;
  for (const { ids, role } of pieces) {
    const start = at;
    tokens.set(ids, at);
    at += ids.length;
    if (role.kind === 'fact') {
      needles[role.needle] = {
        start,
        end: at,
        key: keys[role.needle],
        value: values[role.needle],
        valueSpan: { start: start + role.valueFrom, end: start + role.valueTo },
      };
    } else if (role.kind === 'answer') {
      answers.push({ start, end: at, needle: role.needle });
    } else if (role.kind === 'query' && queryStart < 0) {
      queryStart = start;
    }
  }
  if (at !== length) throw new Error(`example assembled to ${at} tokens, expected ${length}`);
  return {
    tokens,
    needles,
    answers: answers.map((answer) => ({ ...answer, depth: needles[answer.needle].start / queryStart })),
    queryStart,
  };
}
