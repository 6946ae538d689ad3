import * as tf from '@tensorflow/tfjs';
import type { TaskExample } from '../data/tasks/generate.js';
import { probeInputs, type ProbeSet } from '../data/tasks/probes.js';
import { createTokenizer, type Tokenizer } from '../data/tokenizer.js';
import type { Decoder } from '../model/decoder.js';

/**
 * How well a model answers a task's queries:
 *   accuracy      every token of the answer is the model's top prediction, with the true context
 *                 (teacher forcing: earlier answer tokens are the true ones);
 *   exactMatch    greedy decoding from the query, as many tokens as the answer has, decodes to the
 *                 answer's text (token by token this is the same event as accuracy; as text it
 *                 also accepts another tokenisation of the same digits, which tiktoken allows);
 *   answerLoss    mean −log p over answer tokens (nats/token);
 * each also by the depth of the fact that holds the answer (five bins of the context before the
 * first query). Chance: a uniform guess of the digits is right with probability 10^−answerLength;
 * copying the value of a random fact of the example, 1/N for an example of N facts (averaged over the
 * answers when N varies).
 */
export interface DepthBin {
  from: number;
  to: number;
  answers: number;
  accuracy: number;
  exactMatch: number;
}

/**
 * What a wrong greedy answer was (the paper's contextual hallucination, its Table 4): the value of
 * another fact of the example (the model read the wrong one), a well-formed value that is no fact's
 * value (made up: "absent from the context"; it may still occur in the filler text by chance), or
 * not a value at all (malformed: not answerLength digits). As rates over all answers, so that
 * exactMatch + otherFact + absent + malformed = 1.
 */
export type WrongAnswer = 'otherFact' | 'absent' | 'malformed';
export const WRONG_ANSWERS: readonly WrongAnswer[] = ['otherFact', 'absent', 'malformed'];

export function classifyAnswer(
  answer: string,
  truth: string,
  factValues: string[],
  answerLength: number,
): WrongAnswer | undefined {
  if (answer === truth) return undefined;
  if (factValues.includes(answer)) return 'otherFact';
  return new RegExp(`^[0-9]{${answerLength}}$`).test(answer) ? 'absent' : 'malformed';
}

export interface TaskScores {
  examples: number;
  answers: number;
  accuracy: number;
  tokenAccuracy: number;
  exactMatch: number;
  answerLoss: number;
  chance: { digits: number; randomFact: number };
  /** The wrong greedy answers by kind, each as a share of all answers. */
  wrong: Record<WrongAnswer, number>;
  byDepth: DepthBin[];
}

/** One answer's outcome. */
export interface AnswerOutcome {
  tokens: number;
  correctTokens: number;
  /** The summed log-probability of its tokens. */
  logProb: number;
  /** Greedy decoding reproduced it. */
  exact: boolean;
  /** Otherwise, what the greedy answer was. */
  wrong?: WrongAnswer;
  depth: number;
  /** Facts in its example (the needle that holds it and the look-alikes beside it); icl: the labels shown. */
  facts: number;
}

const DEPTH_BINS = 5;

export function summarizeOutcomes(outcomes: AnswerOutcome[], examples: number, answerLength: number): TaskScores {
  const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);
  const right = (o: AnswerOutcome) => (o.correctTokens === o.tokens ? 1 : 0);
  const tokens = outcomes.reduce((sum, o) => sum + o.tokens, 0);
  const byDepth = Array.from({ length: DEPTH_BINS }, (_, bin) => {
    const inBin = outcomes.filter((o) => Math.min(DEPTH_BINS - 1, Math.floor(o.depth * DEPTH_BINS)) === bin);
    return {
      from: bin / DEPTH_BINS,
      to: (bin + 1) / DEPTH_BINS,
      answers: inBin.length,
      accuracy: mean(inBin.map(right)),
      exactMatch: mean(inBin.map((o) => (o.exact ? 1 : 0))),
    };
  });
  return {
    examples,
    answers: outcomes.length,
    accuracy: mean(outcomes.map(right)),
    tokenAccuracy: outcomes.reduce((sum, o) => sum + o.correctTokens, 0) / tokens,
    exactMatch: mean(outcomes.map((o) => (o.exact ? 1 : 0))),
    answerLoss: -outcomes.reduce((sum, o) => sum + o.logProb, 0) / tokens,
    chance: { digits: 10 ** -answerLength, randomFact: mean(outcomes.map((o) => 1 / o.facts)) },
    wrong: Object.fromEntries(
      WRONG_ANSWERS.map((kind) => [kind, mean(outcomes.map((o) => (o.wrong === kind ? 1 : 0)))]),
    ) as Record<WrongAnswer, number>,
    byDepth,
  };
}

/** A position whose next token is scored: batch row, input position, the true next token. */
export interface Pick {
  row: number;
  position: number;
  target: number;
}

/** At each pick: the top prediction of logits [B, T, V] and the log-probability of the target. */
export function predictionsAt(logits: tf.Tensor3D, picks: Pick[]): { predicted: Int32Array; logProb: Float32Array } {
  if (picks.length === 0) return { predicted: new Int32Array(0), logProb: new Float32Array(0) };
  const [batch, length, vocab] = logits.shape;
  return tf.tidy(() => {
    const rows = tf.gather(
      logits.reshape([batch * length, vocab]),
      tf.tensor1d(
        picks.map((p) => p.row * length + p.position),
        'int32',
      ),
    );
    const logProbs = tf.logSoftmax(rows).reshape([picks.length * vocab]);
    const targetLogProb = tf.gather(
      logProbs,
      tf.tensor1d(
        picks.map((p, i) => i * vocab + p.target),
        'int32',
      ),
    );
    return {
      predicted: tf.argMax(rows, 1).dataSync() as Int32Array,
      logProb: targetLogProb.dataSync() as Float32Array,
    };
  });
}

/** Every answer token of the examples as picks: the input position before it predicts it. */
function answerPicks(examples: TaskExample[]): Pick[] {
  return examples.flatMap((example, row) =>
    example.answers.flatMap((answer) =>
      Array.from({ length: answer.end - answer.start }, (_, k) => ({
        row,
        position: answer.start + k - 1,
        target: example.tokens[answer.start + k],
      })),
    ),
  );
}

/** `logitBits`: the attention logits fake-quantized to that many bits (low-bit attention). */
function logitsFor(model: Decoder, inputs: Int32Array, rows: number, logitBits?: number): tf.Tensor3D {
  return model.forward(tf.tensor2d(inputs, [rows, inputs.length / rows], 'int32'), { logitBits }).logits;
}

/**
 * Greedy answers, in the order of `answerPicks`. Every query is answered on its own row, with the true
 * text before it, so that one wrong answer does not decide the next: that text is read once, writing
 * the key/value caches (`Decoder.decode`; rows padded on the right, the padding in slots no query sees
 * before they are written again), and each further answer token is one step fed the model's previous
 * one — positions after an answer cannot influence it, the model being causal.
 */
export function greedyAnswers(model: Decoder, examples: TaskExample[], length: number, logitBits?: number): Int32Array {
  const queries = examples.flatMap((example) => example.answers.map((answer) => ({ example, answer })));
  const rows = queries.length;
  const starts = queries.map(({ answer }) => answer.start);
  const longest = Math.max(...queries.map(({ answer }) => answer.end - answer.start));
  const width = Math.max(...starts);
  const capacity = length - 1; // the inputs of a probe window: every answer token is predicted inside it
  const answers = queries.map(() => [] as number[]);
  let cache = model.emptyCache(rows, capacity);
  try {
    let tokens = queries.map(({ example, answer }) => {
      const before = Array.from(example.tokens.subarray(0, answer.start));
      return [...before, ...new Array<number>(width - before.length).fill(0)];
    });
    let positions = queries.map(() => Array.from({ length: width }, (_, i) => i));
    let last = starts.map((start) => start - 1);
    for (let k = 0; k < longest; k++) {
      const [next, ...written] = tf.tidy(() => {
        const shape: [number, number] = [rows, tokens[0].length];
        const decoded = model.decode(
          tf.tensor2d(tokens.flat(), shape, 'int32'),
          tf.tensor2d(positions.flat(), shape, 'int32'),
          cache,
          logitBits,
        );
        const picks = last.map((position, row) => ({ row, position, target: 0 }));
        const predicted = tf.tensor1d(predictionsAt(decoded.logits, picks).predicted, 'int32');
        return [predicted, ...decoded.cache.flatMap(({ keys, values }) => [keys!, values!])];
      });
      tf.dispose(cache.flatMap(({ keys, values }) => [keys!, values!]));
      cache = cache.map((_, l) => ({ keys: written[2 * l], values: written[2 * l + 1] }));
      const ids = Array.from(next.dataSync());
      next.dispose();
      for (const [row, id] of ids.entries()) answers[row].push(id);
      // the next step: each row's prediction at the position after its last (a finished row's is ignored)
      tokens = ids.map((id) => [id]);
      positions = starts.map((start) => [Math.min(start + k, capacity - 1)]);
      last = starts.map(() => 0);
    }
  } finally {
    tf.dispose(cache.flatMap(({ keys, values }) => [keys!, values!]));
  }
  return Int32Array.from(queries.flatMap(({ answer }, row) => answers[row].slice(0, answer.end - answer.start)));
}

/** Task metrics of a model on a probe set, `batchSize` examples per forward; `logitBits`: at low-bit attention. */
export function scoreProbes(model: Decoder, probes: ProbeSet, batchSize: number, logitBits?: number): TaskScores {
  const tokenizer = createTokenizer(probes.tokenizer);
  try {
    const outcomes = answerOutcomes(model, probes, batchSize, tokenizer, logitBits);
    return summarizeOutcomes(outcomes, probes.examples.length, probes.spec.answerLength);
  } finally {
    tokenizer.free();
  }
}

function answerOutcomes(
  model: Decoder,
  probes: ProbeSet,
  batchSize: number,
  tokenizer: Tokenizer,
  logitBits?: number,
): AnswerOutcome[] {
  const outcomes: AnswerOutcome[] = [];
  for (let from = 0; from < probes.examples.length; from += batchSize) {
    const examples = probes.examples.slice(from, from + batchSize);
    const picks = answerPicks(examples);
    const forced = tf.tidy(() =>
      predictionsAt(logitsFor(model, probeInputs(examples, probes.length), examples.length, logitBits), picks),
    );
    const greedy = greedyAnswers(model, examples, probes.length, logitBits);
    let i = 0;
    for (const example of examples) {
      for (const answer of example.answers) {
        const tokens = answer.end - answer.start;
        const greedyText = tokenizer.decode(greedy.subarray(i, i + tokens));
        const wrong = classifyAnswer(
          greedyText,
          tokenizer.decode(example.tokens.subarray(answer.start, answer.end)),
          example.needles.map((needle) => needle.value),
          probes.spec.answerLength,
        );
        const outcome: AnswerOutcome = {
          tokens,
          correctTokens: 0,
          logProb: 0,
          exact: wrong === undefined,
          ...(wrong ? { wrong } : {}),
          depth: answer.depth,
          facts: example.labelsShown ?? example.needles.length,
        };
        for (let k = 0; k < tokens; k++, i++) {
          if (forced.predicted[i] === picks[i].target) outcome.correctTokens++;
          outcome.logProb += forced.logProb[i];
        }
        outcomes.push(outcome);
      }
    }
  }
  return outcomes;
}
