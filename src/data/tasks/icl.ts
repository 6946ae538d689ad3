import type { TaskSpec } from '../../config/task.js';
import { lettersPerClass } from '../../config/task.js';
import { streamFor } from '../../random.js';
import { randomInt, shuffled } from './random-draws.js';

/**
 * In-context classification (the paper's Figure 6 and 7, in token space). Every example draws a rule
 * of its own: `classes` classes, each with a label (a random value of answerLength digits, distinct
 * per class) and a set of letters (disjoint sets); an input of a class is a word of keyLength
 * letters from that class's set alone. The example shows `needles` demonstrations " QEW 7." (input,
 * label) and asks for the label of new inputs " WWQ " → "7". A query is never a verbatim copy of a
 * demonstration, so it cannot be answered by retrieving one, and it shares at least one letter with
 * a demonstration of its class, so the demonstrations decide it: the model has to find the
 * demonstrations whose letters the query shares and read their label. Nothing carries over from one
 * example to the next (letters and labels are drawn afresh), so the rule cannot be memorised.
 *
 * Queries ask about classes that the demonstrations show. Chance: a label guessed among the labels
 * shown, 1 / (classes shown).
 *
 * The demonstrations and the queries are drawn from the example's stream; their arrangement from a
 * stream of its own (seed, split, example, order, permutation): `permutation` p of `order` random is
 * the same demonstrations and queries in another order, and `order: grouped` puts each class's
 * demonstrations together (classes in a random order), as the paper's order-robustness study does.
 */
export interface Demonstrations {
  /** The inputs of the demonstrations, in their arranged order, and their labels. */
  keys: string[];
  values: string[];
  /** Each query: a new input, and the demonstration whose label answers it (the last of its class). */
  queries: { key: string; needle: number }[];
  /** Distinct labels among the demonstrations: the answers a guess picks from. */
  labelsShown: number;
}

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

export function drawDemonstrations(
  spec: TaskSpec,
  count: number,
  uniform: () => number,
  orderStream: string,
): Demonstrations {
  const perClass = lettersPerClass(spec.classes);
  const letters = shuffled([...LETTERS], uniform);
  const classLetters = Array.from({ length: spec.classes }, (_, c) => letters.slice(c * perClass, (c + 1) * perClass));
  const labels = distinctValues(spec.classes, spec.answerLength, uniform);
  const word = (c: number) =>
    Array.from({ length: spec.keyLength }, () => classLetters[c][randomInt(uniform, perClass)]).join('');

  const demos = Array.from({ length: count }, () => {
    const c = randomInt(uniform, spec.classes);
    return { c, key: word(c) };
  });
  const shown = [...new Set(demos.map((d) => d.c))];
  const queried = Array.from({ length: spec.queries }, () => {
    const c = shown[randomInt(uniform, shown.length)];
    const seen = demos.filter((d) => d.c === c).map((d) => d.key);
    const shownLetters = new Set(seen.join(''));
    // new, and sharing a letter with a demonstration of its class (else the demonstrations would not decide
    // it); terminates: a class has more such inputs than there are demonstrations (src/config/task.ts)
    let key = word(c);
    while (seen.includes(key) || ![...key].some((letter) => shownLetters.has(letter))) key = word(c);
    return { c, key };
  });

  const arranged = arrange(demos, spec, streamFor(spec.seed, orderStream));
  const lastOf = (c: number) => arranged.map((d) => d.c).lastIndexOf(c);
  return {
    keys: arranged.map((d) => d.key),
    values: arranged.map((d) => labels[d.c]),
    queries: queried.map(({ c, key }) => ({ key, needle: lastOf(c) })),
    labelsShown: shown.length,
  };
}

/** The demonstrations shuffled, or grouped by class with the classes and each group's members shuffled. */
function arrange<T extends { c: number }>(demos: T[], spec: TaskSpec, uniform: () => number): T[] {
  const order = shuffled(demos, uniform);
  if (spec.order === 'random') return order;
  const classOrder = shuffled(
    Array.from({ length: spec.classes }, (_, c) => c),
    uniform,
  );
  return classOrder.flatMap((c) => order.filter((d) => d.c === c));
}

/** `count` distinct values of `digits` digits each. */
function distinctValues(count: number, digits: number, uniform: () => number): string[] {
  const values = new Set<string>();
  while (values.size < count) values.add(Array.from({ length: digits }, () => String(randomInt(uniform, 10))).join(''));
  return [...values];
}
