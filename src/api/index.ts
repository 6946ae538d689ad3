/**
 * difft as a library: one entry per job, each taking what its command takes and resolving with typed
 * results; progress arrives through callbacks. Mistakes in the input are thrown as `UserError`, whose
 * message is the one line the command line prints. The command line (src/cli/) is a layer over these.
 *
 *   import { train, evaluate } from 'difft';
 *   const run = await train({ config: 'tiny', set: { 'train.steps': 100 } });
 *   const [scores] = await evaluate(run.checkpoint);
 */
export { prepare, type PrepareOptions } from './prepare.js';
export { train, type TrainOptions } from './train.js';
export { evaluate, type EvaluateOptions, type EvaluateResult } from './evaluate.js';
export { generate, generateMany, type GenerateManyOptions, type GenerateOptions } from './generate.js';
export { compare, report, type CompareOptions } from './compare.js';
export { exportModel, importModel, type ExportOptions, type ImportOptions } from './export.js';
export type { ConfigChanges, ConfigInput } from './config.js';
export { UserError } from '../errors.js';
export type { RunConfig } from '../config/schema.js';
export type { EngineChoice, EngineRequest } from '../backend/engines.js';
export type { TrainCallbacks, TrainResult } from '../train/options.js';
export type { EvalRecord } from '../train/evaluation.js';
export type { PreparedDataset, PrepareProgress } from '../data/prepare.js';
export type { CheckpointTaskScores } from '../inspect/analyze.js';
export type { TaskScores } from '../measure/task-metrics.js';
export type { CompareCallbacks, CompareResult } from '../compare/run.js';
export type { Report } from '../report/report.js';
export type { HfExport } from '../export/hf.js';
