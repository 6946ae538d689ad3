import { attentionLabel } from '../config/model.js';
import { loadModel, readCheckpoint, type LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { exampleLength, taskLabel, type TaskSpec } from '../config/task.js';
import { TokenDataset } from '../data/dataset.js';
import { datasetProbes, generatedProbes, type ProbeSet } from '../data/tasks/probes.js';
import { UserError } from '../errors.js';
import { analyzeModel, type ModelAnalysis } from '../measure/analysis.js';
import { scoreProbes, type TaskScores } from '../measure/task-metrics.js';
import { hasManifest } from '../data/manifest.js';

/**
 * `difft analyze`: checkpoints side by side on one fixed probe set — task accuracy, where attention
 * goes when an answer is produced, attention-logit and activation outliers, λ and gates.
 */
export interface AnalyzeOptions {
  /** The task to probe with; by default the task a checkpoint was trained on. */
  task?: TaskSpec;
  examples: number;
  batchSize: number;
  /** Examples whose every logit and activation feed the outlier statistics. */
  outlierExamples?: number;
}

export interface CheckpointAnalysis extends ModelAnalysis {
  checkpoint: string;
  attention: string;
  step: number;
  probes: { task: string; spec: TaskSpec; length: number; examples: number };
  scores: TaskScores;
}

/**
 * The probe set for a checkpoint: `count` examples of the named task, generated with the
 * checkpoint's tokenizer (distractor text from its corpus), or the first validation examples of
 * the task it was trained on. The same task and tokenizer give every checkpoint the same examples.
 */
export async function probeSetFor(
  checkpoint: LoadedCheckpoint,
  task: TaskSpec | undefined,
  count: number,
): Promise<ProbeSet> {
  const { run, model, dataset } = checkpoint.config;
  if (task) {
    const length = exampleLength(task, model.seqLen);
    if (length - 1 > model.seqLen)
      throw new UserError(
        `--task length ${length}: ${checkpoint.dir} reads at most model.seqLen + 1 = ${model.seqLen + 1} tokens`,
      );
    return generatedProbes(task, length, checkpoint.config.tokenizer, count, run.data.corpus, run.data.textField);
  }
  if (!hasManifest(dataset.dir))
    throw new UserError(
      `${checkpoint.dir}: its dataset ${dataset.dir} is gone; name a task with --task (e.g. --task needles)`,
    );
  const opened = TokenDataset.open(dataset.dir);
  try {
    if (!opened.manifest.task)
      throw new UserError(
        `${checkpoint.dir} was trained on text, not on a task: name one with --task (e.g. --task needles or --task ` +
          `mqar:needles=8,queries=4)`,
      );
    const probes = datasetProbes(opened, count);
    if (probes.examples.length < count)
      throw new UserError(
        `${dataset.dir} holds ${probes.examples.length} validation examples, fewer than --examples ${count}`,
      );
    return probes;
  } finally {
    opened.close();
  }
}

export async function analyzeCheckpoint(path: string, options: AnalyzeOptions): Promise<CheckpointAnalysis> {
  const checkpoint = readCheckpoint(path);
  const probes = await probeSetFor(checkpoint, options.task, options.examples);
  const model = loadModel(checkpoint);
  try {
    const scores = scoreProbes(model, probes, options.batchSize);
    const analysis = analyzeModel(model, probes, {
      batchSize: options.batchSize,
      outlierExamples: options.outlierExamples,
    });
    return {
      checkpoint: checkpoint.dir,
      attention: attentionLabel(checkpoint.config.model),
      step: checkpoint.state.step,
      probes: {
        task: taskLabel(probes.spec),
        spec: probes.spec,
        length: probes.length,
        examples: probes.examples.length,
      },
      scores,
      ...analysis,
    };
  } finally {
    model.dispose();
  }
}

/** Task metrics only (`difft eval --task`). */
export interface CheckpointTaskScores {
  checkpoint: string;
  attention: string;
  step: number;
  task: string;
  length: number;
  scores: TaskScores;
  /** With attention bit widths: the scores at each. */
  attentionBits?: { bits: number; scores: TaskScores }[];
}

export async function taskScores(
  path: string,
  task: TaskSpec | undefined,
  examples: number,
  batchSize: number,
  /** Also the scores with the attention logits fake-quantized to each of these bit widths. */
  attentionBits: number[] = [],
): Promise<CheckpointTaskScores> {
  const checkpoint = readCheckpoint(path);
  const probes = await probeSetFor(checkpoint, task, examples);
  const model = loadModel(checkpoint);
  try {
    const bits = attentionBits.map((width) => ({ bits: width, scores: scoreProbes(model, probes, batchSize, width) }));
    return {
      checkpoint: checkpoint.dir,
      attention: attentionLabel(checkpoint.config.model),
      step: checkpoint.state.step,
      task: taskLabel(probes.spec),
      length: probes.length,
      scores: scoreProbes(model, probes, batchSize),
      ...(bits.length ? { attentionBits: bits } : {}),
    };
  } finally {
    model.dispose();
  }
}
