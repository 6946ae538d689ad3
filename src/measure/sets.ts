import type { RunConfig } from '../config/schema.js';
import { parseTaskSpec, exampleLength, taskLabel } from '../config/task.js';
import type { TokenDataset } from '../data/dataset.js';
import { datasetProbes, generatedProbes, type ProbeSet } from '../data/tasks/probes.js';
import type { Decoder } from '../model/decoder.js';
import { ATTENTION_VARIANTS } from '../model/attention/variants.js';
import { analyzeModel, type Allocation } from './analysis.js';
import { measureRows } from './rows.js';
import { scoreProbes, type TaskScores } from './task-metrics.js';

/**
 * The probe sets a run is scored on at every evaluation: its own task's first `eval.probes`
 * validation examples (a task dataset), and each task named in `eval.tasks`, generated with the
 * run's tokenizer (so a model trained on text can be probed too).
 */
export interface NamedProbeSet {
  name: string;
  probes: ProbeSet;
}

export async function runProbeSets(config: RunConfig, dataset: TokenDataset): Promise<NamedProbeSet[]> {
  const sets: NamedProbeSet[] = [];
  const count = config.eval.probes;
  if (count === 0) return sets;
  if (dataset.manifest.task)
    sets.push({ name: taskLabel(dataset.manifest.task.spec), probes: datasetProbes(dataset, count) });
  for (const text of config.eval.tasks) {
    const spec = parseTaskSpec(text);
    const probes = await generatedProbes(
      spec,
      exampleLength(spec, config.model.seqLen),
      dataset.manifest.tokenizer,
      count,
      config.data.corpus,
      config.data.textField,
    );
    sets.push({ name: text, probes });
  }
  return sets;
}

/**
 * What an evaluation record holds for one probe set: task metrics and the attention allocation per layer (mean over
 * heads).
 */
export interface ProbeRecord extends TaskScores {
  allocation: Record<string, Allocation[]>;
}

export function probeRecord(model: Decoder, set: ProbeSet, evalBatchSize: number): ProbeRecord {
  // a long context's maps bound the rows of these passes, not the evaluation batch (src/measure/rows.ts)
  const batchSize = Math.min(evalBatchSize, measureRows(model.config, set.length - 1));
  const scores = scoreProbes(model, set, batchSize);
  const { layers } = analyzeModel(model, set, { batchSize, outlierExamples: 0 });
  const allocation = Object.fromEntries(
    ATTENTION_VARIANTS[model.config.attention].allocationMaps.map((map) => [
      map,
      layers.map((layer) => layer.allocation[map].mean),
    ]),
  );
  return { ...scores, allocation };
}
