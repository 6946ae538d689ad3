import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkTaskSpec, lettersPerClass, parseTaskSpec, type TaskSpec } from '../src/config/task.js';
import { generateExample, randomWordsHaystack, type TaskExample, weightedSpans } from '../src/data/tasks/generate.js';
import { taskTokenizerSpec } from '../src/data/tasks/prepare.js';
import { createTokenizer, type Tokenizer } from '../src/data/tokenizer.js';
import { classifyAnswer, summarizeOutcomes } from '../src/measure/task-metrics.js';

/**
 * The in-context classification task, read back from its text: the demonstrations are parsed out of
 * the decoded example, and the rule they imply (letter → label) is rebuilt from them alone, an
 * independent route to what the generator claims: one label per class, inputs of a class's letters,
 * queries that repeat no demonstration and that the demonstrations decide, answers where they are said
 * to be, chance as one over the labels shown.
 */
const LENGTH = 140;
const spec = (text: string): TaskSpec => parseTaskSpec(`icl:${text}`);

function tokenizerFor(name: string): Tokenizer {
  return createTokenizer(taskTokenizerSpec(name, 'some filler text for the tokenizer. '.repeat(50)));
}

function examples(task: TaskSpec, tokenizer: Tokenizer, count: number, from = 0): TaskExample[] {
  return Array.from({ length: count }, (_, i) =>
    generateExample(task, LENGTH, tokenizer, randomWordsHaystack(tokenizer), 'val', from + i),
  );
}

interface Read {
  demos: { word: string; label: string }[];
  queries: { word: string; label: string }[];
}

/** The demonstrations " QEW 7." and the queries " WWQ 7" of an example's text. */
function readBack(text: string): Read {
  const demos = [...text.matchAll(/ ([A-Z]+) ([0-9]+)\./g)].map((m) => ({ word: m[1], label: m[2] }));
  const tail = text.slice(text.lastIndexOf('.') + 1);
  const queries = [...tail.matchAll(/ ([A-Z]+) ([0-9]+)/g)].map((m) => ({ word: m[1], label: m[2] }));
  return { demos, queries };
}

describe('in-context classification examples', () => {
  for (const name of ['byte', 'char', 'gpt2']) {
    it(`with ${name}: one label per class, queries new and decided by the demonstrations, answers where recorded`, () => {
      const tokenizer = tokenizerFor(name);
      const task = spec('needles=10,queries=3,classes=4,keyLength=3,distractor=random');
      for (const example of examples(task, tokenizer, 30)) {
        const text = tokenizer.decode(example.tokens);
        const { demos, queries } = readBack(text);
        assert.equal(demos.length, 10);
        assert.equal(queries.length, 3);
        // the rule, rebuilt from the demonstrations: every letter belongs to exactly one label
        const labelOf = new Map<string, string>();
        for (const { word, label } of demos)
          for (const letter of word) {
            assert.equal(labelOf.get(letter) ?? label, label, `${letter} under two labels in ${text}`);
            labelOf.set(letter, label);
          }
        const labels = new Set(demos.map((d) => d.label));
        for (const label of labels) {
          const letters = new Set(demos.filter((d) => d.label === label).flatMap((d) => [...d.word]));
          assert.ok(letters.size <= lettersPerClass(4), `a class owns at most ${lettersPerClass(4)} letters`);
        }
        assert.equal(example.labelsShown, labels.size, 'chance: one over the labels shown');
        for (const [q, query] of queries.entries()) {
          assert.ok(!demos.some((d) => d.word === query.word), `query ${query.word} copies a demonstration`);
          const implied = new Set([...query.word].flatMap((letter) => labelOf.get(letter) ?? []));
          assert.deepEqual([...implied], [query.label], `the demonstrations decide ${query.word}`);
          const answer = example.answers[q];
          assert.equal(tokenizer.decode(example.tokens.subarray(answer.start, answer.end)), query.label);
          // its needle: the last demonstration of its class
          const needle = example.needles[answer.needle];
          assert.equal(needle.value, query.label);
          assert.equal(answer.needle, example.needles.map((n) => n.value).lastIndexOf(query.label));
          assert.equal(
            tokenizer.decode(example.tokens.subarray(needle.valueSpan.start, needle.valueSpan.end)),
            needle.value,
          );
        }
        assert.equal(example.answers.at(-1)!.end, LENGTH);
      }
    });
  }

  it("training weighs every label: the demonstrations' and the queries' (retrieval tasks: the answers alone)", () => {
    const tokenizer = tokenizerFor('byte');
    const [example] = examples(spec('needles=5,queries=2,distractor=random'), tokenizer, 1);
    const { demos, queries } = readBack(tokenizer.decode(example.tokens));
    const spans = weightedSpans(example);
    assert.deepEqual(
      spans.map((span) => tokenizer.decode(example.tokens.subarray(span.start, span.end))),
      [...demos, ...queries].map((d) => d.label),
    );
    const [needle] = examples(parseTaskSpec('needles:needles=3,queries=2,distractor=random'), tokenizer, 1);
    assert.deepEqual(weightedSpans(needle), needle.answers);
  });

  it('a fresh rule per example: labels and letter classes differ from example to example', () => {
    const tokenizer = tokenizerFor('byte');
    const rules = examples(spec('needles=12,queries=1,classes=4,distractor=random'), tokenizer, 40).map((example) => {
      const { demos } = readBack(tokenizer.decode(example.tokens));
      return demos
        .map((d) => `${[...new Set(d.word)].sort().join('')}:${d.label}`)
        .sort()
        .join(' ');
    });
    assert.ok(new Set(rules).size >= 39, 'rules repeat');
  });

  it('permutations: the same demonstrations and queries in other orders; grouped puts each class together', () => {
    const tokenizer = tokenizerFor('byte');
    const base = 'needles=10,queries=2,classes=4,distractor=random';
    const read = (extra: string, index: number) =>
      readBack(tokenizer.decode(examples(spec(`${base}${extra}`), tokenizer, 1, index)[0].tokens));
    for (const index of [0, 1, 2]) {
      const orders = [
        ',permutation=0',
        ',permutation=1',
        ',permutation=2',
        ',order=grouped',
        ',order=grouped,permutation=1',
      ].map((extra) => read(extra, index));
      const multiset = (r: Read) =>
        r.demos
          .map((d) => `${d.word}${d.label}`)
          .sort()
          .join(' ');
      for (const order of orders) {
        assert.equal(multiset(order), multiset(orders[0]), 'the same demonstrations');
        assert.deepEqual(order.queries, orders[0].queries, 'the same queries');
      }
      const sequence = (r: Read) => r.demos.map((d) => `${d.word}${d.label}`).join(' ');
      assert.ok(new Set(orders.map(sequence)).size >= 4, 'the orders differ');
      for (const grouped of orders.slice(3)) {
        const runs = grouped.demos.map((d) => d.label).filter((label, i, all) => i === 0 || all[i - 1] !== label);
        assert.equal(runs.length, new Set(runs).size, `each class's demonstrations together: ${sequence(grouped)}`);
      }
    }
  });

  it('more queries than demonstrations: each a new input of a class shown', () => {
    const tokenizer = tokenizerFor('byte');
    for (const example of examples(spec('needles=1,queries=3,distractor=random'), tokenizer, 5)) {
      const { demos, queries } = readBack(tokenizer.decode(example.tokens));
      assert.equal(demos.length, 1);
      assert.equal(queries.length, 3);
      for (const query of queries) assert.equal(query.label, demos[0].label);
    }
    assert.throws(() => parseTaskSpec('needles:needles=1,queries=2'), /task.queries = 2 exceeds task.needles = 1/);
  });

  it('refuses icl keys on other tasks, look-alike keys on icl, and inputs too few for the demonstrations', () => {
    assert.throws(
      () => parseTaskSpec('needles:classes=3'),
      /task.classes applies to task.kind = icl only, not needles/,
    );
    assert.throws(() => parseTaskSpec('mqar:order=grouped'), /task.order applies to task.kind = icl only/);
    assert.throws(() => parseTaskSpec('icl:keys=prefix'), /task.keys = prefix applies to needles and mqar/);
    // 10 classes own 2 letters each: of the 2^2 inputs, 2^2 − 1^2 = 3 hold a given letter, too few for 3
    // demonstrations of one class and a new query
    assert.throws(
      () => checkTaskSpec({ kind: 'icl', classes: 10, keyLength: 2, needles: 3, queries: 1 }, 'x'),
      /task.keyLength = 2 makes 3 inputs per class that share a given letter \(2 letters each\)/,
    );
    checkTaskSpec({ kind: 'icl', classes: 10, keyLength: 2, needles: 2, queries: 1 }, 'x');
    // 4 classes, 3 letters, 3-letter inputs: 27 − 8 = 19
    checkTaskSpec({ kind: 'icl', classes: 4, keyLength: 3, needles: 18, queries: 1 }, 'x');
    assert.throws(
      () => checkTaskSpec({ kind: 'icl', classes: 4, keyLength: 3, needles: 19, queries: 1 }, 'x'),
      /19 inputs/,
    );
    assert.equal(lettersPerClass(4), 3);
    assert.equal(lettersPerClass(10), 2);
  });
});

describe('wrong answers (contextual hallucination)', () => {
  it('classified on hand-made answers', () => {
    const facts = ['42', '17', '08'];
    assert.equal(classifyAnswer('42', '42', facts, 2), undefined);
    assert.equal(classifyAnswer('17', '42', facts, 2), 'otherFact');
    assert.equal(classifyAnswer('99', '42', facts, 2), 'absent');
    assert.equal(classifyAnswer('4.', '42', facts, 2), 'malformed');
    assert.equal(classifyAnswer('420', '42', facts, 2), 'malformed');
    assert.equal(classifyAnswer(' 4', '42', facts, 2), 'malformed');
  });

  it('as shares of all answers that sum with exact match to 1', () => {
    const outcome = { tokens: 1, correctTokens: 0, logProb: -1, depth: 0.5, facts: 2 };
    const scores = summarizeOutcomes(
      [
        { ...outcome, exact: true, correctTokens: 1 },
        { ...outcome, exact: false, wrong: 'otherFact' },
        { ...outcome, exact: false, wrong: 'otherFact' },
        { ...outcome, exact: false, wrong: 'malformed' },
      ],
      4,
      1,
    );
    assert.deepEqual(scores.wrong, { otherFact: 0.5, absent: 0, malformed: 0.25 });
    assert.equal(scores.exactMatch + scores.wrong.otherFact + scores.wrong.absent + scores.wrong.malformed, 1);
  });
});
