import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../../errors.js';
import type { Split } from './generate.js';
import { DATASET_FILES, datasetFile } from '../../formats/dataset.js';

/**
 * Loss weights for task examples. A needle example of 513 tokens holds 4 answer tokens: under the
 * plain language-model loss the retrieval is 1% of the gradient, and at this size no run learned it
 * (issue 22's first runs). `train.textWeight` w weighs every target that is not an answer by w and
 * the answers by 1: w = 1 is the plain loss, w = 0 the answers alone (as synthetic-recall work trains
 * MQAR), and between the two the text keeps part of the gradient.
 *
 * The answers' positions are stored at preparation, per split, in the dataset's answer spans file: for example k,
 * a flat list [start, end, start, end, …] of token positions within the example.
 */
export type AnswerSpans = Record<Split, number[][]>;

export function readAnswerSpans(datasetDir: string): AnswerSpans {
  const path = datasetFile(datasetDir, 'answerSpans');
  if (!existsSync(path))
    throw new UserError(
      `${datasetDir} has no ${DATASET_FILES.answerSpans}: prepare the task again (difft prepare --force)`,
    );
  return JSON.parse(readFileSync(path, 'utf8')) as AnswerSpans;
}

/**
 * The weights of a window's T targets for example k: target t predicts token t + 1 of the example,
 * so an answer token at position p is target p − 1. Answers past the window (a task longer than
 * model.seqLen + 1) have no target in it.
 */
export function targetWeights(
  spans: number[][],
  textWeight: number,
  length: number,
): (example: number) => Float32Array {
  return (example) => {
    const weights = new Float32Array(length).fill(textWeight);
    const flat = spans[example];
    for (let i = 0; i < flat.length; i += 2)
      for (let position = flat[i]; position < flat[i + 1] && position <= length; position++) weights[position - 1] = 1;
    return weights;
  };
}
