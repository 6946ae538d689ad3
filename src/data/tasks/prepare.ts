import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { writeFileDurably } from '../../atomic.js';
import { trainBpeOnText } from '../bpe.js';
import { buildDatasetDirectory, describeSources, tokenizerSpecFor, type PreparedDataset } from '../prepare.js';
import {
  DATASET_FORMAT,
  DATASET_VERSION,
  readMatchingManifest,
  type DatasetManifest,
  type SplitInfo,
} from '../manifest.js';
import { datasetFile } from '../../formats/dataset.js';
import { dtypeFor, ShardWriter } from '../shards.js';
import { readDocuments, resolveSources } from '../sources.js';
import {
  charSymbols,
  checkTokenizerName,
  createTokenizer,
  DOCUMENT_SEPARATOR,
  type Tokenizer,
  type TokenizerSpec,
} from '../tokenizer.js';
import { UserError } from '../../errors.js';
import { packWindow } from './pack.js';
import {
  generateExample,
  needlesThatFit,
  randomWordsHaystack,
  TASK_ALPHABET,
  textHaystack,
  weightedSpans,
  type Haystack,
  type Span,
  type Split,
  type TaskExample,
} from './generate.js';
import { taskLabel, type TaskSpec } from '../../config/task.js';
import type { AnswerSpans } from './weights.js';

/**
 * A task as a prepared dataset: `examples` training examples and `valExamples` validation examples
 * of exactly `exampleLength` tokens each, back to back in the usual token shards (so training,
 * evaluation, resume and compare treat it like any corpus), plus `val-examples.json` with where
 * each validation example's facts and answers are — the probe set's ground truth.
 *
 * Distractor text comes from the corpus: its first 90% of tokens for training examples, the rest
 * for validation examples, so that probes never reuse training text.
 */

/** Corpus text read for distractors: plenty for varied examples, bounded whatever the corpus size. */
const MAX_DISTRACTOR_CHARS = 2_000_000;
const TRAIN_TEXT_SHARE = 0.9;

export interface TaskPrepareOptions {
  spec: TaskSpec;
  exampleLength: number;
  tokenizer: string;
  /** Distractor text (when spec.distractor is `text`). */
  sources: string[];
  dataRoot?: string;
  textField?: string;
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
  onWarning?: (message: string) => void;
}

/** Where the facts and answers of one example are, as stored in val-examples.json. */
export type StoredExample = Omit<TaskExample, 'tokens'>;

/** The corpus's text, documents separated as in prepared datasets, up to MAX_DISTRACTOR_CHARS. */
export async function distractorText(
  sources: string[],
  textField: string,
  warn: (message: string) => void,
): Promise<string> {
  let text = '';
  for await (const document of readDocuments(resolveSources(sources), { textField, onBadFile: 'skip', warn })) {
    if (text) text += DOCUMENT_SEPARATOR;
    for await (const piece of document.pieces) {
      text += piece;
      if (text.length >= MAX_DISTRACTOR_CHARS) return text.slice(0, MAX_DISTRACTOR_CHARS);
    }
  }
  return text;
}

/** Haystacks for the two splits: disjoint stretches of the corpus, or random words. */
export function splitHaystacks(spec: TaskSpec, tokenizer: Tokenizer, text: string): Record<Split, Haystack> {
  if (spec.distractor === 'random')
    return { train: randomWordsHaystack(tokenizer), val: randomWordsHaystack(tokenizer) };
  const ids = tokenizer.encode(text);
  const cut = Math.floor(ids.length * TRAIN_TEXT_SHARE);
  return { train: textHaystack(ids.subarray(0, cut)), val: textHaystack(ids.subarray(cut)) };
}

/**
 * A char tokenizer for a task knows the distractor's characters and every character the task writes;
 * a `bpe:N` is trained on the distractor text.
 */
export function taskTokenizerSpec(name: string, text: string): TokenizerSpec {
  const spec = tokenizerSpecFor(checkTokenizerName(name));
  if (spec.kind === 'char')
    return { kind: 'char', symbols: charSymbols([...text, ...TASK_ALPHABET, DOCUMENT_SEPARATOR[0]]) };
  if (spec.kind === 'bpe') return trainBpeOnText(`${text}\n${TASK_ALPHABET}\n`, spec.vocabSize, "the task's text");
  return spec;
}

/** The spec as the key hashes it: without icl's keys on other kinds, so their datasets keep the keys they had. */
function keyedSpec(spec: TaskSpec): Partial<TaskSpec> {
  if (spec.kind === 'icl') return spec;
  const { classes: _c, order: _o, permutation: _p, ...rest } = spec;
  return rest;
}

function datasetKey(options: TaskPrepareOptions): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      format: DATASET_VERSION,
      // task datasets store their answers' positions (weights.ts): one prepared without them is not reused
      answerSpans: true,
      task: keyedSpec(options.spec),
      exampleLength: options.exampleLength,
      tokenizer: options.tokenizer,
      textField: options.textField ?? 'text',
    }),
  );
  if (options.spec.distractor === 'text')
    for (const entry of resolveSources(options.sources))
      hash.update(`\n${entry.kind}\t${entry.path}\t${entry.size}\t${entry.mtimeMs}`);
  return hash.digest('hex');
}

/** One window of a split: its tokens, its answers, and for a whole example where everything is (the probes' truth). */
type StoredWindow = { tokens: Int32Array; answers: Span[]; where?: StoredExample };

function wholeExample({ tokens, ...where }: TaskExample): StoredWindow {
  return { tokens, answers: weightedSpans({ tokens, ...where }), where };
}

/** Packed windows need their shortest example to fit in a window and to hold a fact and its query. */
function checkLengthMin(spec: TaskSpec, exampleLength: number): void {
  if (spec.lengthMin === 0) return;
  if (spec.lengthMin > exampleLength)
    throw new UserError(
      `task.lengthMin = ${spec.lengthMin} exceeds the ${exampleLength} tokens of a window (task.length, or ` +
        `model.seqLen + 1)`,
    );
  if (needlesThatFit({ ...spec, needles: 1 }, spec.lengthMin) < 1)
    throw new UserError(
      `task.lengthMin = ${spec.lengthMin} tokens cannot hold one fact and its query: raise it, or shorten ` +
        `task.keyLength or task.answerLength`,
    );
}

export async function prepareTaskDataset(options: TaskPrepareOptions): Promise<PreparedDataset> {
  const { spec, exampleLength } = options;
  checkLengthMin(spec, exampleLength);
  const key = datasetKey(options);
  const dir = resolve(
    join(
      options.dataRoot ?? 'data',
      `task-${taskLabel(spec)}-${exampleLength}-${options.tokenizer.replace(':', '')}-${key.slice(0, 10)}`,
    ),
  );
  const existing = options.force ? undefined : readMatchingManifest(dir, key);
  if (existing) return { dir, manifest: existing, reused: true };

  const text =
    spec.distractor === 'text'
      ? await distractorText(options.sources, options.textField ?? 'text', options.onWarning ?? (() => {}))
      : '';
  const tokenizerSpec = taskTokenizerSpec(options.tokenizer, text);
  const tokenizer = createTokenizer(tokenizerSpec);
  try {
    const haystacks = splitHaystacks(spec, tokenizer, text);
    return await buildDatasetDirectory(dir, key, options.force ?? false, async (temporary) => {
      const dtype = dtypeFor(tokenizer.vocabSize);
      const total = spec.examples + spec.valExamples;
      let done = 0;
      const answerSpans: AnswerSpans = { train: [], val: [] };
      const writeSplit = (split: Split, count: number, keep?: StoredExample[]): SplitInfo => {
        const writer = new ShardWriter(temporary, split, dtype);
        let bytes = 0;
        for (let index = 0; index < count; index++) {
          const { tokens, answers, where }: StoredWindow =
            split === 'train' && spec.lengthMin > 0
              ? packWindow(spec, exampleLength, tokenizer, haystacks[split], split, index)
              : wholeExample(generateExample(spec, exampleLength, tokenizer, haystacks[split], split, index));
          writer.write(tokens);
          bytes += Buffer.byteLength(tokenizer.decode(tokens), 'utf8');
          if (where) keep?.push(where);
          answerSpans[split].push(answers.flatMap((answer) => [answer.start, answer.end]));
          if (++done % 256 === 0 || done === total) options.onProgress?.(done, total);
        }
        const sha256 = writer.finish();
        return { tokens: writer.tokens, bytes, sections: count, shards: writer.shards, sha256 };
      };
      const probes: StoredExample[] = [];
      const splits = { train: writeSplit('train', spec.examples), val: writeSplit('val', spec.valExamples, probes) };
      writeFileDurably(datasetFile(temporary, 'valExamples'), JSON.stringify(probes));
      writeFileDurably(datasetFile(temporary, 'answerSpans'), JSON.stringify(answerSpans));
      const manifest: DatasetManifest = {
        format: DATASET_FORMAT,
        version: DATASET_VERSION,
        key,
        tokenizer: tokenizerSpec,
        vocabSize: tokenizer.vocabSize,
        dtype,
        valFraction: 0,
        sources: spec.distractor === 'text' ? describeSources(options.sources) : [],
        splits,
        task: { spec, exampleLength },
        createdAt: new Date().toISOString(),
      };
      return manifest;
    });
  } finally {
    tokenizer.free();
  }
}
