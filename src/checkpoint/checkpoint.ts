import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { resolveModelConfig, type ModelConfig } from '../config/model.js';
import type { SchemaCheck } from '../schema.js';
import { checked, validateConfig, validateState } from './schemas.js';
import type { RunConfig } from '../config/schema.js';
import { fsyncDirectory, writeDirectoryAtomically, writeFileDurably } from '../atomic.js';
import type { SamplerState } from '../data/dataset.js';
import type { TokenizerSpec } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import { CHECKPOINT_FILES, checkpointFile, holdsWeights } from '../formats/checkpoint.js';
import { RUN_FILES, runFile, stepCheckpoints, stepOfDirName } from '../formats/run.js';
import { Decoder } from '../model/decoder.js';
import { parameterSpecs } from '../model/parameters.js';
import { readSafetensors, writeSafetensors, type NamedArray } from './safetensors.js';

/** Reads and writes checkpoints: their files are listed in src/formats/checkpoint.ts. */
export const DIFFT_VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;
export const CHECKPOINT_FORMAT = 1;

export interface CheckpointConfig {
  difftVersion: string;
  format: number;
  run: RunConfig;
  model: ModelConfig;
  tokenizer: TokenizerSpec;
  dataset: { dir: string; key: string };
}

export interface TrainState {
  step: number;
  tokens: number;
  lr: number;
  optimizerStep: number;
  sampler: SamplerState;
  /** Where the sampler of short examples is, in a run that starts from them (train.shortSteps). */
  shortSampler?: SamplerState;
  elapsedSeconds: number;
  engine: string;
  lastValLoss?: number;
  bestValLoss?: number;
  bestStep?: number;
}

export interface LoadedCheckpoint {
  dir: string;
  config: CheckpointConfig;
  state: TrainState;
}

function transpose(array: NamedArray): NamedArray {
  const [rows, cols] = array.shape;
  const out = new Float32Array(array.data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = array.data[r * cols + c];
  return { shape: [cols, rows], data: out };
}

/** AdamW's two moments per parameter, named as PyTorch's optimizer state names them. */
export const MOMENTS = ['exp_avg', 'exp_avg_sq'] as const;
export type Moment = (typeof MOMENTS)[number];

/** `<parameter>.exp_avg`: a moment's name in optimizer.safetensors. */
export function momentName(parameter: string, moment: Moment): string {
  return `${parameter}.${moment}`;
}

/** The parameter a name belongs to: itself, or the parameter of a moment. */
function parameterOf(name: string): string {
  const moment = MOMENTS.find((suffix) => name.endsWith(`.${suffix}`));
  return moment ? name.slice(0, -(moment.length + 1)) : name;
}

/** Whether a stored tensor is a linear map's weight or its moment: held [in, out] in memory, [out, in] on disk. */
function transposedOnDisk(model: ModelConfig): (name: string) => boolean {
  const linearWeights = new Set(
    parameterSpecs(model)
      .filter((spec) => spec.isLinear)
      .map((spec) => spec.name),
  );
  return (name) => linearWeights.has(parameterOf(name));
}

/** The moments a checkpoint of `model` holds, by name, with their (memory-layout) shapes. */
function momentShapes(model: ModelConfig): Record<string, number[]> {
  return Object.fromEntries(
    parameterSpecs(model).flatMap((spec) => MOMENTS.map((moment) => [momentName(spec.name, moment), spec.shape])),
  );
}

/** Zero moments: the optimizer state of a model with no training history (an imported one). */
export function zeroMoments(model: ModelConfig): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(momentShapes(model)).map(([name, shape]) => [name, tf.zeros(shape)]));
}

function toDisk(tensors: Record<string, tf.Tensor>, transposed: (name: string) => boolean): Record<string, NamedArray> {
  const out: Record<string, NamedArray> = {};
  for (const [name, tensor] of Object.entries(tensors)) {
    const array = { shape: tensor.shape, data: tensor.dataSync() as Float32Array };
    out[name] = transposed(name) ? transpose(array) : array;
  }
  return out;
}

function writeJson(path: string, value: unknown): void {
  writeFileDurably(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function saveCheckpoint(
  dir: string,
  model: Decoder,
  optimizerState: Record<string, tf.Tensor>,
  config: CheckpointConfig,
  state: TrainState,
): void {
  const transposed = transposedOnDisk(model.config);
  writeDirectoryAtomically(dir, (temporary) => {
    writeSafetensors(checkpointFile(temporary, 'weights'), toDisk(model.params, transposed), {
      'difft.version': DIFFT_VERSION,
    });
    writeSafetensors(checkpointFile(temporary, 'optimizer'), toDisk(optimizerState, transposed));
    writeJson(checkpointFile(temporary, 'config'), config);
    writeJson(checkpointFile(temporary, 'state'), state);
  });
}

/** A checkpoint's JSON file, checked whole against its schema (./schemas.ts). */
function readJson<T>(path: string, validate: SchemaCheck): T {
  if (!existsSync(path)) throw new UserError(`${path} is missing: not a complete difft checkpoint`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UserError(`${path}: not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  return checked<T>(path, value, validate);
}

const readState = (dir: string) => readJson<TrainState>(checkpointFile(dir, 'state'), validateState);

export interface FindOptions {
  /** Read every file of a candidate and check its checksums (resume does, before trusting one). */
  verify?: boolean;
  /** Told about each newer checkpoint passed over, and why. */
  onSkip?: (dir: string, why: string) => void;
}

/** Why a checkpoint directory cannot be used, or undefined when it can. */
function checkpointProblem(dir: string, verify: boolean): string | undefined {
  for (const file of Object.values(CHECKPOINT_FILES)) {
    if (!existsSync(join(dir, file))) return `${file} is missing`;
  }
  try {
    readJson(checkpointFile(dir, 'config'), validateConfig);
    readState(dir);
    if (verify) {
      readSafetensors(checkpointFile(dir, 'weights'));
      readSafetensors(checkpointFile(dir, 'optimizer'));
    }
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}

/** A checkpoint directory, or the newest usable step checkpoint inside a run directory (else its best/). */
export function findCheckpoint(path: string, options: FindOptions = {}): string {
  const dir = resolve(path);
  if (!existsSync(dir)) throw new UserError(`checkpoint not found: ${path}`);
  if (holdsWeights(dir)) return dir;
  // best/ is a full checkpoint too: the one left when a run stopped before its first step-* save
  const steps = [...stepCheckpoints(dir), ...(existsSync(runFile(dir, 'best')) ? [RUN_FILES.best] : [])];
  if (steps.length === 0)
    throw new UserError(
      `${path} is neither a checkpoint (no ${CHECKPOINT_FILES.weights}) nor a run directory with step-* checkpoints`,
    );
  for (const name of steps) {
    const problem = checkpointProblem(join(dir, name), options.verify ?? false);
    if (!problem) return join(dir, name);
    options.onSkip?.(join(dir, name), problem);
  }
  throw new UserError(
    `${path}: none of its ${steps.length} checkpoints is usable (newest: ${steps[0]}: ` +
      `${checkpointProblem(join(dir, steps[0]), options.verify ?? false)})`,
  );
}

export function readCheckpoint(path: string, options: FindOptions = {}): LoadedCheckpoint {
  const dir = findCheckpoint(path, options);
  const configPath = checkpointFile(dir, 'config');
  const config = readJson<CheckpointConfig>(configPath, validateConfig);
  if (config.format !== CHECKPOINT_FORMAT) {
    throw new UserError(
      `${checkpointFile(dir, 'config')}: checkpoint format ${config.format ?? 'unknown'} written by difft ` +
        `${config.difftVersion ?? 'unknown'}; ` +
        `this difft ${DIFFT_VERSION} reads format ${CHECKPOINT_FORMAT}`,
    );
  }
  let model: ModelConfig;
  try {
    // its shape rules, as a new run's config meets them, and the defaults of keys added since it was written
    model = resolveModelConfig(config.model);
  } catch (error) {
    throw new UserError(`${configPath}: ${(error as Error).message}`);
  }
  return { dir, config: { ...config, model }, state: readState(dir) };
}

/**
 * The stored arrays named in `shapes`, in memory layout ([in, out] for linear weights). They must match
 * exactly: every tensor present with its shape, and none beyond them (a file from another model —
 * a diff run's weights in a standard run — would otherwise load with its extra tensors ignored).
 */
function readArrays(
  shapes: Record<string, number[]>,
  arrays: Record<string, NamedArray>,
  file: string,
  transposed: (name: string) => boolean,
): Record<string, NamedArray> {
  const extra = Object.keys(arrays).find((name) => !(name in shapes));
  if (extra !== undefined)
    throw new UserError(`${file}: tensor ${extra} is not part of the model its config describes (from another run?)`);
  const out: Record<string, NamedArray> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const stored = arrays[name];
    if (!stored) throw new UserError(`${file}: tensor ${name} is missing`);
    const array = transposed(name) ? transpose(stored) : stored;
    if (array.shape.join(',') !== shape.join(','))
      throw new UserError(`${file}: tensor ${name} has shape [${stored.shape}], the config needs [${shape}]`);
    out[name] = array;
  }
  return out;
}

function assign(
  target: Record<string, tf.Variable>,
  arrays: Record<string, NamedArray>,
  file: string,
  transposed: (name: string) => boolean,
): void {
  const shapes = Object.fromEntries(Object.entries(target).map(([name, variable]) => [name, variable.shape]));
  for (const [name, array] of Object.entries(readArrays(shapes, arrays, file, transposed))) {
    target[name].assign(tf.tensor(array.data, array.shape, 'float32'));
  }
}

/** Builds the model the checkpoint describes and loads its weights. */
/**
 * The checkpoint's model; with `seqLen`, one that holds that many positions (no weight depends on the
 * context: RoPE's positions simply continue past the trained length).
 */
export function loadModel(checkpoint: LoadedCheckpoint, seqLen?: number): Decoder {
  const file = checkpointFile(checkpoint.dir, 'weights');
  const config = { ...checkpoint.config.model, seqLen: seqLen ?? checkpoint.config.model.seqLen };
  return modelFromStored(config, readSafetensors(file).tensors, file);
}

/** A checkpoint's weights as stored (the disk layout), checked to be exactly those its config describes. */
export function readWeights(checkpoint: LoadedCheckpoint): Record<string, NamedArray> {
  const file = checkpointFile(checkpoint.dir, 'weights');
  const { model } = checkpoint.config;
  const { tensors } = readSafetensors(file);
  const transposed = transposedOnDisk(model);
  const shapes = Object.fromEntries(parameterSpecs(model).map((spec) => [spec.name, spec.shape]));
  readArrays(shapes, tensors, file, transposed);
  return tensors;
}

/**
 * A model of `config` holding `tensors`, named and laid out as checkpoints store them; `source` names them in errors.
 */
export function modelFromStored(config: ModelConfig, tensors: Record<string, NamedArray>, source: string): Decoder {
  const model = Decoder.create(config, 0);
  try {
    tf.tidy(() => assign(model.params, tensors, source, transposedOnDisk(config)));
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/** The optimizer's moments stored in a checkpoint, by name, as tensors (the caller disposes them). */
export function loadOptimizerState(checkpoint: LoadedCheckpoint): Record<string, tf.Tensor> {
  const file = checkpointFile(checkpoint.dir, 'optimizer');
  const { model } = checkpoint.config;
  const arrays = readArrays(momentShapes(model), readSafetensors(file).tensors, file, transposedOnDisk(model));
  return Object.fromEntries(
    Object.entries(arrays).map(([name, array]) => [name, tf.tensor(array.data, array.shape, 'float32')]),
  );
}

/**
 * The checkpoints of a run directory saved after `step` (step-* by name, best/ by its state): what a
 * resume from `step` would leave beside the history it continues.
 */
export function checkpointsAfter(runDir: string, step: number): string[] {
  const later = stepCheckpoints(runDir).filter((name) => stepOfDirName(name)! > step);
  const best = runFile(runDir, 'best');
  if (holdsWeights(best) && readState(best).step > step) later.push(RUN_FILES.best);
  return later;
}

/** Removes all but the newest `keep` step checkpoints of a run (the best one lives apart, in best/). */
export function pruneCheckpoints(runDir: string, keep: number): void {
  const stale = stepCheckpoints(runDir).slice(keep);
  for (const name of stale) rmSync(join(runDir, name), { recursive: true, force: true });
  if (stale.length) fsyncDirectory(runDir);
}
