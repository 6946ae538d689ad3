import * as tf from '@tensorflow/tfjs';
import { switchesOff } from '../config/model.js';
import { tokenizerName } from '../data/tokenizer.js';
import { loadModel, readCheckpoint } from '../checkpoint/checkpoint.js';
import { BatchSampler, TokenDataset } from '../data/dataset.js';
import type { Diff2LayerStats } from '../model/attention/diagnostics.js';
import type { AttentionDiagnostics } from '../model/attention/diagnostics.js';
import { ATTENTION_VARIANTS } from '../model/attention/variants.js';
import { countParameters, type ParameterCounts } from '../model/parameters.js';
import { describeEstimate, estimateTrainingMemory } from '../train/memory.js';
import { hasManifest } from '../data/manifest.js';

/** `difft info`: what a checkpoint is, how far it trained, and its λ. */
export interface CheckpointInfo {
  checkpoint: string;
  difftVersion: string;
  config: unknown;
  parameters: ParameterCounts;
  tokenizer: string;
  vocabSize: number;
  engine: string;
  /** What training this config needs, estimated (src/train/memory.ts). */
  trainingMemory: string;
  progress: {
    step: number;
    steps: number;
    tokens: number;
    elapsedSeconds: number;
    lastValLoss?: number;
    bestValLoss?: number;
    bestStep?: number;
  };
  /** The ablation switches off their defaults, `key=value` (src/config/model.ts). */
  switches: string[];
  /** diff: λ of every layer. */
  lambdas?: number[];
  /** diff2: λ = x·W_λ (mean, std) and the gate sigmoid(λ) per layer, over a sample of validation tokens. */
  lambdaStats?: Diff2LayerStats[];
}

export function checkpointInfo(path: string): CheckpointInfo {
  const checkpoint = readCheckpoint(path);
  const { config, state } = checkpoint;
  const tokenizer = tokenizerName(config.tokenizer);
  const info: CheckpointInfo = {
    checkpoint: checkpoint.dir,
    difftVersion: config.difftVersion,
    config: config.run,
    parameters: countParameters(config.model),
    switches: switchesOff(config.model),
    tokenizer,
    vocabSize: config.model.vocabSize,
    engine: state.engine,
    trainingMemory: describeEstimate(estimateTrainingMemory(config.model, config.run.train.batchSize, state.engine)),
    progress: {
      step: state.step,
      steps: config.run.train.steps,
      tokens: state.tokens,
      elapsedSeconds: state.elapsedSeconds,
      lastValLoss: state.lastValLoss,
      bestValLoss: state.bestValLoss,
      bestStep: state.bestStep,
    },
  };
  const attention = ATTENTION_VARIANTS[config.model.attention];
  if (!attention.reportsState) return info;
  const model = loadModel(checkpoint);
  try {
    const { lambdas, gates } = attention.readsActivations
      ? diagnosticsOnValidation(checkpoint.config.dataset.dir, model)
      : model.diagnostics();
    if (lambdas) info.lambdas = lambdas;
    if (gates) info.lambdaStats = gates;
  } finally {
    model.dispose();
  }
  return info;
}

/** The attention's diagnostics on 8 validation windows (fixed pseudo-random tokens if the dataset is gone). */
function diagnosticsOnValidation(datasetDir: string, model: ReturnType<typeof loadModel>): AttentionDiagnostics {
  const { seqLen, vocabSize } = model.config;
  const dataset = hasManifest(datasetDir) ? TokenDataset.open(datasetDir) : undefined;
  const tokens = dataset?.val ?? Uint32Array.from({ length: 8 * (seqLen + 1) }, (_, i) => (i * 7919) % vocabSize);
  const sample = new BatchSampler(tokens, 8, seqLen, 0, { stride: dataset?.manifest.task?.exampleLength }).next();
  dataset?.close();
  const inputs = tf.tensor2d(sample.inputs, [sample.batch, sample.length], 'int32');
  try {
    return model.diagnostics(inputs);
  } finally {
    inputs.dispose();
  }
}
