import type { RunConfig } from '../config/schema.js';
import { exampleLength, taskOf } from '../config/task.js';
import type { TokenDataset } from '../data/dataset.js';
import { evaluationSet, type EvaluationSet } from '../data/eval-set.js';
import { prepareDataset, type PrepareProgress } from '../data/prepare.js';
import { prepareTaskDataset } from '../data/tasks/prepare.js';
import { UserError } from '../errors.js';
import { runProbeSets, type NamedProbeSet } from '../measure/sets.js';
import { TrainingBatches } from './batches.js';

/** Tokenises (or reuses) the token shards a run's `data` section describes: its corpus, or its task. */
export function prepareRunData(
  config: RunConfig,
  callbacks: { onPrepare?(progress: PrepareProgress): void; onWarning?(message: string): void } = {},
): ReturnType<typeof prepareDataset> {
  const task = taskOf(config.data.task);
  if (task) {
    const length = exampleLength(task, config.model.seqLen);
    if (length !== config.model.seqLen + 1) {
      throw new UserError(
        `data.task.length = ${length}: a task trained on has examples of model.seqLen + 1 = ` +
          `${config.model.seqLen + 1} ` +
          `tokens (one window each); set it to 0 or ${config.model.seqLen + 1}`,
      );
    }
    return prepareTaskDataset({
      spec: task,
      exampleLength: length,
      tokenizer: config.data.tokenizer,
      sources: config.data.corpus,
      dataRoot: config.data.dir,
      textField: config.data.textField,
      onProgress: (done, total) => callbacks.onPrepare?.({ bytesDone: done, bytesTotal: total, tokens: done * length }),
      onWarning: callbacks.onWarning,
    });
  }
  return prepareDataset({
    sources: config.data.corpus,
    valSources: config.data.valCorpus,
    tokenizer: config.data.tokenizer,
    valFraction: config.data.valFraction,
    dataRoot: config.data.dir,
    textField: config.data.textField,
    onProgress: callbacks.onPrepare,
    onWarning: callbacks.onWarning,
  });
}

/** What a run reads from its dataset: training batches, the evaluation set, probe sets, one example to draw. */
export interface RunData {
  dataset: TokenDataset;
  batches: TrainingBatches;
  evalSet: EvaluationSet;
  probeSets: NamedProbeSet[];
  /** The example whose attention maps TensorBoard shows at every evaluation: the first scored window. */
  exampleTokens: Int32Array;
}

export async function openRunData(
  config: RunConfig,
  dataset: TokenDataset,
  onWarning?: (message: string) => void,
): Promise<RunData> {
  const batches = await TrainingBatches.open(config, dataset, onWarning);
  const evalSet = evaluationSet(dataset.val, {
    seqLen: config.model.seqLen,
    batchSize: config.eval.batchSize,
    maxTokens: config.eval.maxTokens,
    // runs written before eval.seed existed were scored on a subset drawn with train.seed: keep it on resume
    seed: config.eval.seed ?? config.train.seed,
    stride: dataset.manifest.task?.exampleLength, // task datasets: one window per example, whole
  });
  const probeSets = await runProbeSets(config, dataset);
  const first = evalSet.batches().next().value!;
  const exampleTokens = first.inputs.slice(0, first.length);
  return { dataset, batches, evalSet, probeSets, exampleTokens };
}

export function closeRunData(data: RunData): void {
  data.dataset.close();
  data.batches.close();
}
