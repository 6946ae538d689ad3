import { existsSync, readFileSync } from 'node:fs';
import type { TaskSpec } from '../../config/task.js';
import { UserError } from '../../errors.js';
import type { TokenDataset } from '../dataset.js';
import { createTokenizer, type TokenizerSpec } from '../tokenizer.js';
import { generateExample, type TaskExample } from './generate.js';
import { distractorText, splitHaystacks, type StoredExample } from './prepare.js';
import { datasetFile } from '../../formats/dataset.js';

/**
 * Probe sets: a fixed list of task examples with their ground truth (where the facts and answers
 * are) that task metrics and `difft analyze` score. Either a task dataset's first validation
 * examples, or examples generated for any checkpoint with its own tokenizer.
 */
export interface ProbeSet {
  spec: TaskSpec;
  /** Tokens per example. */
  length: number;
  examples: TaskExample[];
  /** The tokenizer the examples were made with (greedy answers are compared as text). */
  tokenizer: TokenizerSpec;
}

/** The first `count` validation examples of a task dataset. */
export function datasetProbes(dataset: TokenDataset, count: number): ProbeSet {
  const task = dataset.manifest.task;
  if (!task) throw new UserError(`${dataset.dir} is not a task dataset: name a task with --task (e.g. --task needles)`);
  const path = datasetFile(dataset.dir, 'valExamples');
  if (!existsSync(path)) throw new UserError(`${path} is missing: the dataset is damaged; prepare it again`);
  let stored: StoredExample[];
  try {
    stored = JSON.parse(readFileSync(path, 'utf8')) as StoredExample[];
  } catch (error) {
    throw new UserError(
      `${path}: not valid JSON (${(error as Error).message}): the dataset is damaged; prepare it again`,
    );
  }
  const length = task.exampleLength;
  const examples = stored.slice(0, count).map((where, index) => ({
    ...where,
    tokens: Int32Array.from(dataset.val.slice(index * length, (index + 1) * length)),
  }));
  return { spec: task.spec, length, examples, tokenizer: dataset.manifest.tokenizer };
}

/** `count` validation examples of a task, generated with a checkpoint's tokenizer. */
export async function generatedProbes(
  spec: TaskSpec,
  length: number,
  tokenizerSpec: TokenizerSpec,
  count: number,
  sources: string[],
  textField: string,
): Promise<ProbeSet> {
  const tokenizer = createTokenizer(tokenizerSpec);
  try {
    const text = spec.distractor === 'text' ? await distractorText(sources, textField, () => {}) : '';
    const haystack = splitHaystacks(spec, tokenizer, text).val;
    const examples = Array.from({ length: count }, (_, index) =>
      generateExample(spec, length, tokenizer, haystack, 'val', index),
    );
    return { spec, length, examples, tokenizer: tokenizerSpec };
  } finally {
    tokenizer.free();
  }
}

/** The examples' first `length − 1` tokens, row-major [examples, length − 1]: the model's inputs. */
export function probeInputs(examples: TaskExample[], length: number): Int32Array {
  const inputs = new Int32Array(examples.length * (length - 1));
  for (const [row, example] of examples.entries())
    inputs.set(example.tokens.subarray(0, length - 1), row * (length - 1));
  return inputs;
}
