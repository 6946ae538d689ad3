import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config/load.js';
import { checkTaskSpec, parseTaskSpec, type TaskSpec } from '../src/config/task.js';
import { BatchSampler, evalBatches, TokenDataset } from '../src/data/dataset.js';
import { generateExample, needlesThatFit, type TaskExample } from '../src/data/tasks/generate.js';
import { packWindow } from '../src/data/tasks/pack.js';
import { readAnswerSpans, targetWeights } from '../src/data/tasks/weights.js';
import { prepareTaskDataset, splitHaystacks, taskTokenizerSpec } from '../src/data/tasks/prepare.js';
import { DATASET_FILES } from '../src/formats/dataset.js';
import { datasetProbes, generatedProbes } from '../src/data/tasks/probes.js';
import { createTokenizer, type Tokenizer } from '../src/data/tokenizer.js';
import { UserError } from '../src/errors.js';

/**
 * The retrieval tasks: deterministic examples whose recorded positions point at the right tokens
 * for every tokenizer, with the answer always present in the context; their datasets; aligned
 * windows. Checked by decoding the tokens back to text and reading the facts there (an independent
 * route to what the generator claims).
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-tasks-'));

const SPECS = [
  parseTaskSpec('needles:needles=4,queries=2,distractor=text'),
  parseTaskSpec('needles:needles=3,queries=1,distractor=random,answerLength=3'),
  parseTaskSpec('mqar:needles=6,queries=6,distractor=random'),
];
const TOKENIZERS = ['byte', 'char', 'gpt2', 'cl100k_base'];
const DISTRACTOR = 'The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs!\n'.repeat(
  200,
);

function tokenizerFor(name: string): Tokenizer {
  return createTokenizer(taskTokenizerSpec(name, DISTRACTOR));
}

function examplesOf(spec: TaskSpec, tokenizer: Tokenizer, length: number, count: number): TaskExample[] {
  const haystack = splitHaystacks(spec, tokenizer, DISTRACTOR).val;
  return Array.from({ length: count }, (_, i) => generateExample(spec, length, tokenizer, haystack, 'val', i));
}

const decode = (tokenizer: Tokenizer, example: TaskExample, from: number, to: number) =>
  tokenizer.decode(example.tokens.subarray(from, to));

describe('retrieval task examples', () => {
  for (const name of TOKENIZERS) {
    for (const spec of SPECS) {
      it(`${spec.kind} (${spec.needles} facts, ${spec.queries} queries, ${spec.distractor}) with ${name}: positions point at the right tokens, the answer is in the context`, () => {
        const tokenizer = tokenizerFor(name);
        const length = 160;
        for (const example of examplesOf(spec, tokenizer, length, 20)) {
          assert.equal(example.tokens.length, length);
          assert.equal(new Set(example.needles.map((n) => n.key)).size, spec.needles, 'keys are distinct');
          assert.equal(example.answers.length, spec.queries);
          assert.equal(
            example.answers[example.answers.length - 1].end,
            length,
            'the example ends with its last answer',
          );
          for (const needle of example.needles) {
            assert.equal(decode(tokenizer, example, needle.valueSpan.start, needle.valueSpan.end), needle.value);
            assert.match(needle.value, new RegExp(`^\\d{${spec.answerLength}}$`));
            const fact =
              spec.kind === 'needles' ? `The code ${needle.key}${needle.value}.` : `${needle.key}${needle.value}`;
            assert.equal(decode(tokenizer, example, needle.start, needle.end).trim(), fact);
            assert.ok(needle.end <= example.queryStart, 'every fact comes before the first query');
          }
          const context = decode(tokenizer, example, 0, example.queryStart);
          for (const answer of example.answers) {
            const needle = example.needles[answer.needle];
            const answerText = decode(tokenizer, example, answer.start, answer.end);
            assert.equal(answerText, needle.value);
            assert.deepEqual(
              Array.from(example.tokens.subarray(answer.start, answer.end)),
              Array.from(example.tokens.subarray(needle.valueSpan.start, needle.valueSpan.end)),
            );
            // recoverable from the text alone: the query names the key, the context states its value
            const query = decode(tokenizer, example, example.queryStart, answer.start);
            assert.ok(query.endsWith(spec.kind === 'needles' ? ` The code ${needle.key}` : ` ${needle.key}`), query);
            assert.match(needle.key, new RegExp(`^[A-Z]{${spec.keyLength}}$`));
            const stated =
              spec.kind === 'needles'
                ? new RegExp(`The code ${needle.key}(\\d+)\\.`)
                : new RegExp(` ${needle.key}(\\d+)`);
            assert.equal(context.match(stated)?.[1], answerText);
            assert.ok(answer.depth >= 0 && answer.depth < 1);
            assert.equal(answer.depth, needle.start / example.queryStart);
          }
        }
        tokenizer.free();
      });
    }
  }

  it('the same seed gives the same examples; another seed or index, others', () => {
    const tokenizer = tokenizerFor('byte');
    const spec = SPECS[0];
    const first = examplesOf(spec, tokenizer, 160, 5);
    assert.deepEqual(examplesOf(spec, tokenizer, 160, 5), first);
    assert.notDeepEqual(examplesOf({ ...spec, seed: 1 }, tokenizer, 160, 5)[0].tokens, first[0].tokens);
    assert.notDeepEqual(first[1].tokens, first[0].tokens);
  });

  it('refuses a length too short for its facts, naming the key', () => {
    const tokenizer = tokenizerFor('byte');
    assert.throws(
      () => examplesOf(SPECS[0], tokenizer, 40, 1),
      (error: Error) => error instanceof UserError && /task\.length = 40 tokens is too short/.test(error.message),
    );
  });

  it('train.textWeight below 1 needs a task (it weighs answers), and says so', () => {
    assert.throws(
      () => loadConfig(undefined, ['train.textWeight=0.5']),
      (error: Error) =>
        error instanceof UserError &&
        /train\.textWeight = 0\.5: weighs answers, so it needs a task/.test(error.message),
    );
    assert.equal(loadConfig(undefined, ['train.textWeight=0', 'data.task.kind=needles']).train.textWeight, 0);
  });

  it('task specs on the command line: defaults, overrides and one-line errors', () => {
    assert.deepEqual(parseTaskSpec('mqar:needles=8,queries=4'), {
      ...checkTaskSpec({ kind: 'mqar' }, 'x'),
      needles: 8,
      queries: 4,
    });
    assert.throws(() => parseTaskSpec('haystack'), /unknown task "haystack"/);
    assert.throws(() => parseTaskSpec('needles:depth=3'), /"depth=3" is not key=value with a known key/);
    assert.throws(() => parseTaskSpec('needles:needles=2,queries=3'), /task.queries = 3 exceeds task.needles = 2/);
    assert.throws(
      () => parseTaskSpec('needles:distractor=noise'),
      /task.distractor must be equal to one of the allowed values/,
    );
  });
});

/** The first example of SPECS[0] (byte) as generated before look-alike keys and ranges: fixed specs must not change. */
const FIRST_EXAMPLE = 'CGI06@5 HAL54@22 MEW64@55 YIH89@100';

describe('long multi-needle examples with look-alike keys', () => {
  const text = DISTRACTOR.repeat(10); // enough held-out text for 1,025 tokens of any tokenizer
  const differences = (a: string, b: string) => [...a].filter((letter, i) => letter !== b[i]).length;

  // how a distractor's key must look like the queried one, per kind of keys
  const lookAlike = {
    lookalike: (other: string, asked: string) => differences(other, asked) <= 2,
    prefix: (other: string, asked: string) => other.slice(0, 2) === asked.slice(0, 2) && other[2] !== asked[2],
  };

  for (const [name, keys] of [
    ['byte', 'lookalike'],
    ['char', 'lookalike'],
    ['gpt2', 'lookalike'],
    ['byte', 'prefix'],
    ['gpt2', 'prefix'],
  ] as const) {
    it(`${name}, ${keys} keys: every N of the grid at 513 and 1,025 tokens — positions, distinct keys that look alike, a recoverable answer`, () => {
      const tokenizer = createTokenizer(taskTokenizerSpec(name, text));
      for (const length of [513, 1025]) {
        for (const needles of [1, 2, 4, 6, 8]) {
          const spec = parseTaskSpec(`needles:needles=${needles},queries=${Math.min(2, needles)},keys=${keys}`);
          const haystack = splitHaystacks(spec, tokenizer, text).val;
          for (let index = 0; index < 6; index++) {
            const example = generateExample(spec, length, tokenizer, haystack, 'val', index);
            assert.equal(example.tokens.length, length);
            assert.equal(example.needles.length, needles);
            assert.equal(example.answers.length, Math.min(2, needles));
            const context = decode(tokenizer, example, 0, example.queryStart);
            for (const answer of example.answers) {
              const asked = example.needles[answer.needle];
              assert.equal(decode(tokenizer, example, answer.start, answer.end), asked.value);
              assert.equal(decode(tokenizer, example, asked.valueSpan.start, asked.valueSpan.end), asked.value);
              assert.ok(decode(tokenizer, example, example.queryStart, answer.start).endsWith(`The code ${asked.key}`));
              // the context states the queried key's value exactly once: recoverable, and unambiguous
              const stated = [...context.matchAll(new RegExp(`The code ${asked.key}(\\d+)\\.`, 'g'))];
              assert.deepEqual(
                stated.map((m) => m[1]),
                [asked.value],
              );
              for (const other of example.needles.filter((n) => n !== asked)) {
                assert.notEqual(other.key, asked.key);
                assert.match(other.key, /^[A-Z]{3}$/, 'the same format');
                assert.ok(lookAlike[keys](other.key, asked.key), `${other.key} looks like ${asked.key}`);
              }
            }
          }
        }
      }
      tokenizer.free();
    });
  }

  it('a range of N: every count from needlesMin to needles occurs, queries capped by the count', () => {
    const spec = parseTaskSpec('needles:needlesMin=1,needles=8,queries=2,keys=lookalike,distractor=random');
    const tokenizer = tokenizerFor('byte');
    const haystack = splitHaystacks(spec, tokenizer, '').val;
    const counts = Array.from({ length: 200 }, (_, i) => generateExample(spec, 513, tokenizer, haystack, 'val', i));
    assert.deepEqual(
      [...new Set(counts.map((e) => e.needles.length))].sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    for (const example of counts) assert.equal(example.answers.length, Math.min(2, example.needles.length));
    assert.throws(
      () => parseTaskSpec('needles:needlesMin=5,needles=4'),
      /task.needlesMin = 5 exceeds task.needles = 4/,
    );
  });

  it('prefix keys: 26 facts take every last letter once, 27 are refused in one line', () => {
    const tokenizer = tokenizerFor('byte');
    const make = (needles: number) => {
      const spec = parseTaskSpec(`needles:needles=${needles},queries=1,keys=prefix,distractor=random`);
      return generateExample(spec, 1025, tokenizer, splitHaystacks(spec, tokenizer, '').val, 'val', 0);
    };
    const keys = make(26).needles.map((n) => n.key);
    assert.equal(new Set(keys.map((key) => key.slice(0, 2))).size, 1);
    assert.equal(
      keys
        .map((key) => key[2])
        .sort()
        .join(''),
      'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
    );
    assert.throws(() => make(27), /task.needles = 27 needs more keys than task.keys = prefix makes \(26/);
  });

  it('fixed-count random-key examples are what they were before look-alike keys and ranges existed', () => {
    // fingerprint of the first example of SPECS[0] with the byte tokenizer, recorded before the change
    const tokenizer = tokenizerFor('byte');
    const [example] = examplesOf(SPECS[0], tokenizer, 160, 1);
    assert.equal(example.needles.map((n) => `${n.key}${n.value}@${n.start}`).join(' '), FIRST_EXAMPLE);
  });
});

describe('task datasets', () => {
  it('hold the examples back to back, their ground truth, and are read one whole example per window', async () => {
    const dir = scratch();
    const spec = checkTaskSpec({ kind: 'needles', needles: 2, examples: 40, valExamples: 12 }, 'test');
    const prepared = await prepareTaskDataset({
      spec,
      exampleLength: 97,
      tokenizer: 'byte',
      sources: ['brown'],
      dataRoot: dir,
    });
    assert.equal(prepared.manifest.splits.train.tokens, 40 * 97);
    assert.equal(prepared.manifest.splits.val.tokens, 12 * 97);
    assert.deepEqual(prepared.manifest.task, { spec, exampleLength: 97 });
    assert.ok(existsSync(join(prepared.dir, DATASET_FILES.valExamples)));
    const again = await prepareTaskDataset({
      spec,
      exampleLength: 97,
      tokenizer: 'byte',
      sources: ['brown'],
      dataRoot: dir,
    });
    assert.ok(again.reused);

    const dataset = TokenDataset.open(prepared.dir);
    // the stored ground truth matches examples generated afresh
    const probes = datasetProbes(dataset, 12);
    const fresh = await generatedProbes(spec, 97, { kind: 'byte' }, 12, ['brown'], 'text');
    assert.deepEqual(probes.examples, fresh.examples);
    assert.equal(JSON.parse(readFileSync(join(prepared.dir, DATASET_FILES.valExamples), 'utf8')).length, 12);

    // training windows start at example boundaries: every window is some example's first 97 tokens
    const starts = new Set(
      Array.from({ length: 40 }, (_, k) => Buffer.from(dataset.train.slice(k * 97, k * 97 + 97)).toString('hex')),
    );
    const sampler = new BatchSampler(dataset.train, 8, 96, 3, { stride: 97 });
    for (let b = 0; b < 5; b++) {
      const batch = sampler.next();
      for (let row = 0; row < 8; row++) {
        const window = [...batch.inputs.subarray(row * 96, row * 96 + 96), batch.targets[row * 96 + 95]];
        assert.ok(starts.has(Buffer.from(window).toString('hex')), 'a window is a whole example');
      }
    }
    // weighted answers: weight 1 exactly on the targets that are a query's answer digits (a query is
    // " The code KEY" with no "." after its value), found by reading the text, and 0.25 elsewhere
    const weighted = new BatchSampler(dataset.train, 8, 96, 3, {
      stride: 97,
      weightsOf: targetWeights(readAnswerSpans(prepared.dir).train, 0.25, 96),
    }).next();
    for (let row = 0; row < 8; row++) {
      const text = Buffer.from([
        ...weighted.inputs.subarray(row * 96, row * 96 + 96),
        weighted.targets[row * 96 + 95],
      ]).toString('latin1');
      const answerPositions = new Set<number>();
      for (const match of text.matchAll(/ The code [A-Z]{3}(\d{2})(?!\.)/g))
        for (let digit = 0; digit < 2; digit++) answerPositions.add(match.index + match[0].length - 2 + digit);
      assert.equal(answerPositions.size, 2, 'one query of two digits');
      const weights = Array.from(weighted.weights!.subarray(row * 96, row * 96 + 96));
      weights.forEach((weight, t) => void assert.equal(weight, answerPositions.has(t + 1) ? 1 : 0.25, `target ${t}`));
    }
    // evaluation: one window per example, all of them
    const windows = [...evalBatches(dataset.val, 96, 5, { stride: 97 })];
    assert.equal(
      windows.reduce((sum, b) => sum + b.batch, 0),
      12,
    );
    assert.deepEqual(
      Array.from(windows[0].inputs.subarray(0, 96)),
      Array.from(probes.examples[0].tokens.subarray(0, 96)),
    );
    dataset.close();
  });

  it('a sampler with a stride draws only aligned windows (synthetic positions)', () => {
    const stride = 10;
    const tokens = Uint32Array.from({ length: 1000 }, (_, i) => i % stride);
    const sampler = new BatchSampler(tokens, 16, 9, 1, { stride });
    const batch = sampler.next();
    for (let row = 0; row < 16; row++)
      assert.deepEqual(Array.from(batch.inputs.subarray(row * 9, row * 9 + 9)), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.throws(() => new BatchSampler(tokens, 1, 10, 1, { stride }), /shorter than one window/);
  });
});

describe('training windows packed with short examples', () => {
  const text = DISTRACTOR.repeat(10);

  it('the facts that fit a length, counted by hand (byte: a fact " The code KKK00." is 16 tokens, a query 15)', () => {
    const spec = parseTaskSpec('needles:needles=6,queries=2,keys=lookalike');
    assert.equal(needlesThatFit(spec, 31), 1); // 16 + 15
    assert.equal(needlesThatFit(spec, 30), 0);
    assert.equal(needlesThatFit(spec, 62), 2); // 2·16 + 2·15
    assert.equal(needlesThatFit(spec, 61), 1);
    assert.equal(needlesThatFit(spec, 78), 3); // 3·16 + 2·15
    assert.equal(needlesThatFit(spec, 10_000), 6); // never more than task.needles
  });

  for (const name of ['byte', 'char', 'gpt2']) {
    it(`${name}: a window is filled exactly by examples of at least lengthMin tokens, each answer read from its own example`, () => {
      const tokenizer = createTokenizer(taskTokenizerSpec(name, text));
      const spec = parseTaskSpec('needles:needles=6,needlesMin=1,queries=2,keys=lookalike,lengthMin=48');
      const haystack = splitHaystacks(spec, tokenizer, text).train;
      let examples = 0;
      for (let index = 0; index < 12; index++) {
        const window = packWindow(spec, 513, tokenizer, haystack, 'train', index);
        assert.equal(window.tokens.length, 513);
        examples += window.examples;
        // each answer is the value of the fact with the query's key, stated earlier in the window
        const textBefore = (position: number) => tokenizer.decode(window.tokens.subarray(0, position));
        for (const answer of window.answers) {
          const before = textBefore(answer.start);
          const key = before.match(/ The code ([A-Z]{3})$/)?.[1];
          assert.ok(key, `${name}: an answer follows a query`);
          const value = tokenizer.decode(window.tokens.subarray(answer.start, answer.end));
          assert.match(value, /^\d{2}$/);
          const stated = [...before.matchAll(new RegExp(`The code ${key}(\\d{2})\\.`, 'g'))].at(-1);
          assert.equal(stated?.[1], value, `${name}: the answer is the last value stated for ${key}`);
        }
      }
      assert.ok(examples >= 24, `${name}: ${examples} examples in 12 windows`);
      // same seed, same windows
      assert.deepEqual(
        packWindow(spec, 513, tokenizer, haystack, 'train', 3),
        packWindow(spec, 513, tokenizer, haystack, 'train', 3),
      );
      tokenizer.free();
    });
  }

  it('a task dataset packs its training windows only; a lengthMin that holds no fact, or passes the window, is refused', async () => {
    const dir = scratch();
    const spec = checkTaskSpec({ kind: 'needles', needles: 3, lengthMin: 40, examples: 8, valExamples: 4 }, 'test');
    const prepared = await prepareTaskDataset({
      spec,
      exampleLength: 161,
      tokenizer: 'byte',
      sources: ['brown'],
      dataRoot: dir,
    });
    assert.equal(prepared.manifest.splits.train.tokens, 8 * 161);
    const spans = readAnswerSpans(prepared.dir);
    const answers = spans.train.reduce((sum, flat) => sum + flat.length / 2, 0);
    assert.ok(answers > 8, `packed windows hold more answers than windows: ${answers}`);
    assert.ok(
      spans.val.every((flat) => flat.length === 2),
      'a validation example holds its one query',
    );
    await assert.rejects(
      prepareTaskDataset({
        spec: { ...spec, lengthMin: 30 },
        exampleLength: 161,
        tokenizer: 'byte',
        sources: ['brown'],
        dataRoot: dir,
      }),
      /task\.lengthMin = 30 tokens cannot hold one fact and its query/,
    );
    await assert.rejects(
      prepareTaskDataset({
        spec: { ...spec, lengthMin: 200 },
        exampleLength: 161,
        tokenizer: 'byte',
        sources: ['brown'],
        dataRoot: dir,
      }),
      /task\.lengthMin = 200 exceeds the 161 tokens of a window/,
    );
  });
});
