import * as tf from '@tensorflow/tfjs';
import type { RunConfig } from '../config/schema.js';
import type { DatasetManifest } from '../data/manifest.js';
import { bitsPerByte, type EvaluationLoss } from '../eval/loss.js';
import { layerExtremes } from '../measure/extremes.js';
import { measureRows } from '../measure/rows.js';
import { probeRecord } from '../measure/sets.js';
import type { Decoder } from '../model/decoder.js';
import type { TrainState } from '../checkpoint/checkpoint.js';
import type { MetricsRecord } from './metrics.js';
import type { RunData } from './run-data.js';

export type EvalRecord = Extract<MetricsRecord, { type: 'eval' }>;

/**
 * What an evaluation adds beyond the loss: task metrics per probe set, and on the first batch the
 * stability statistics of every layer and the attention's gates (diff2).
 */
type ProbeFields = Pick<EvalRecord, 'tasks' | 'diff2' | 'extremes'>;
function probeFields(model: Decoder, data: RunData, batchSize: number): ProbeFields {
  const { probeSets, evalSet } = data;
  const tasks = probeSets.length
    ? Object.fromEntries(probeSets.map(({ name, probes }) => [name, probeRecord(model, probes, batchSize)]))
    : undefined;
  const first = evalSet.batches().next().value!;
  const inputs = tf.tensor2d(first.inputs, [first.batch, first.length], 'int32');
  const extremes = layerExtremes(model, inputs);
  // diff2's gate statistics on as many rows as one measuring pass may take (all of them at short contexts)
  const rows = Math.min(first.batch, measureRows(model.config, first.length));
  const gateInputs = inputs.slice([0, 0], [rows, first.length]);
  const { gates } = model.diagnostics(gateInputs);
  tf.dispose([inputs, gateInputs]);
  return { ...(tasks ? { tasks } : {}), ...(gates ? { diff2: gates } : {}), extremes };
}

/** The evaluation record at `state`: validation loss, perplexity, bits per byte, and what the probes measure. */
export function measureEvaluation(
  model: Decoder,
  loss: EvaluationLoss,
  data: RunData,
  manifest: DatasetManifest,
  config: RunConfig,
  state: TrainState,
): EvalRecord {
  const { loss: valLoss, tokens } = loss.mean(data.evalSet.batches());
  const val = manifest.splits.val;
  return {
    type: 'eval',
    step: state.step,
    tokens: state.tokens,
    valLoss,
    valPerplexity: Math.exp(valLoss),
    valBitsPerByte: bitsPerByte(valLoss, val.tokens, val.bytes),
    evalTokens: tokens,
    evalFingerprint: data.evalSet.fingerprint,
    elapsedSeconds: state.elapsedSeconds,
    ...probeFields(model, data, config.eval.batchSize),
  };
}
