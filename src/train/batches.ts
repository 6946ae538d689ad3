import type { RunConfig } from '../config/schema.js';
import { taskOf, type TaskSpec } from '../config/task.js';
import { BatchSampler, type SamplerState, type TokenBatch, TokenDataset } from '../data/dataset.js';
import { needlesThatFit } from '../data/tasks/generate.js';
import { prepareTaskDataset } from '../data/tasks/prepare.js';
import { readAnswerSpans, targetWeights } from '../data/tasks/weights.js';
import { UserError } from '../errors.js';

/**
 * The training batches of a run: random windows of its dataset (whole examples for a task, each
 * target weighed by train.textWeight), and for a task run that starts from short contexts, first
 * `train.shortSteps` steps of examples of `train.shortLength` tokens.
 *
 * Why the warm start: at 513 tokens the attention of a fresh model spreads over 512 keys, the
 * gradient that would point one of them at the needle is ~1/512 of a row, and no 2-layer run left
 * the plateau in our budget; at 97 tokens it did within 600 steps, and 150 steps at 513 tokens
 * afterwards carried it over (issue 22's runs). The short phase takes as many examples per step as
 * keep the tokens per step: batchSize × ⌊(seqLen + 1) / shortLength⌋.
 */
export interface BatchesState {
  sampler: SamplerState;
  shortSampler?: SamplerState;
}

export class TrainingBatches {
  private constructor(
    private readonly long: BatchSampler,
    private readonly short: { sampler: BatchSampler; steps: number; dataset: TokenDataset } | undefined,
    private readonly gradAccum: number,
  ) {}

  static async open(
    config: RunConfig,
    dataset: TokenDataset,
    onWarning?: (message: string) => void,
  ): Promise<TrainingBatches> {
    const { train: settings } = config;
    const seqLen = config.model.seqLen;
    const long = sampler(dataset, settings.batchSize, seqLen, settings.seed, settings.textWeight);
    const task = taskOf(config.data.task);
    if (!task || settings.shortSteps === 0) return new TrainingBatches(long, undefined, settings.gradAccum);
    const prepared = await prepareTaskDataset({
      spec: shortSpec(task, settings.shortLength),
      exampleLength: settings.shortLength,
      tokenizer: config.data.tokenizer,
      sources: config.data.corpus,
      dataRoot: config.data.dir,
      textField: config.data.textField,
      onWarning,
    });
    const shortDataset = TokenDataset.open(prepared.dir);
    const batch = settings.batchSize * Math.max(1, Math.floor((seqLen + 1) / settings.shortLength));
    const short = sampler(shortDataset, batch, settings.shortLength - 1, settings.seed, settings.textWeight);
    return new TrainingBatches(
      long,
      { sampler: short, steps: settings.shortSteps, dataset: shortDataset },
      settings.gradAccum,
    );
  }

  /** The micro-batches of optimizer step `step` (counted from 1). */
  next(step: number): TokenBatch[] {
    const source = this.short && step <= this.short.steps ? this.short.sampler : this.long;
    return Array.from({ length: this.gradAccum }, () => source.next());
  }

  state(): BatchesState {
    return { sampler: this.long.state(), ...(this.short ? { shortSampler: this.short.sampler.state() } : {}) };
  }

  restore(state: BatchesState): void {
    this.long.restore(state.sampler);
    if (this.short && state.shortSampler) this.short.sampler.restore(state.shortSampler);
  }

  close(): void {
    this.short?.dataset.close();
  }
}

/** Random windows of a dataset's training split: whole examples of a task, weighted when textWeight < 1. */
function sampler(dataset: TokenDataset, batch: number, length: number, seed: number, textWeight: number) {
  const stride = dataset.manifest.task?.exampleLength;
  const weightsOf =
    stride && textWeight < 1 ? targetWeights(readAnswerSpans(dataset.dir).train, textWeight, length) : undefined;
  return new BatchSampler(dataset.train, batch, length, seed, { stride, weightsOf });
}

/** The task at a short length: as many facts as fit (at most the task's), whole examples, one validation example. */
function shortSpec(task: TaskSpec, shortLength: number): TaskSpec {
  const needles = needlesThatFit(task, shortLength);
  if (needles < 1)
    throw new UserError(
      `train.shortLength = ${shortLength} tokens cannot hold one fact and its query of data.task: raise it`,
    );
  return {
    ...task,
    length: 0,
    lengthMin: 0,
    needles,
    needlesMin: Math.min(task.needlesMin, needles),
    queries: Math.min(task.queries, needles),
    valExamples: 1,
  };
}
