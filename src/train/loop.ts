import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { writeFileAtomically } from '../atomic.js';
import { join, resolve } from 'node:path';
import { useEngine, type EngineChoice } from '../backend/engines.js';
import { checkResumable, configToYaml } from '../config/load.js';
import { resolveModelConfig, type ModelConfig } from '../config/model.js';
import type { RunConfig } from '../config/schema.js';
import {
  CHECKPOINT_FORMAT,
  DIFFT_VERSION,
  loadModel,
  loadOptimizerState,
  pruneCheckpoints,
  readCheckpoint,
  saveCheckpoint,
  type CheckpointConfig,
  type LoadedCheckpoint,
  type TrainState,
} from '../checkpoint/checkpoint.js';
import { TokenDataset } from '../data/dataset.js';
import { runFile, stepCheckpoints, stepDirName } from '../formats/run.js';
import { TrainingBatches } from './batches.js';
import { evaluationSet, type EvaluationSet } from '../data/eval-set.js';
import { prepareTaskDataset } from '../data/tasks/prepare.js';
import { exampleLength, taskOf } from '../config/task.js';
import { probeRecord, runProbeSets, type NamedProbeSet } from '../measure/sets.js';
import { prepareDataset, type PrepareProgress } from '../data/prepare.js';
import { UserError } from '../errors.js';
import { Decoder } from '../model/decoder.js';
import { countParameters, trainingFlopsPerToken } from '../model/parameters.js';
import { availableMemory, describeEstimate, estimateTrainingMemory, gibibytes } from './memory.js';
import type { MetricsRecord } from './metrics.js';
import { DivergenceWatch, recordDivergence, type Divergence } from './divergence.js';
import { RunLog } from './run-log.js';
import { attentionImages } from './tensorboard.js';
import { layerExtremes } from '../measure/extremes.js';
import { measureRows } from '../measure/rows.js';
import { meanAttentionMaps } from '../measure/maps.js';
import { learningRate } from './schedule.js';
import { claimForNewRun, claimForResume, defaultRunDirectory, removeIfEmpty, runDirectoryOf } from './run-dir.js';
import { createOptimizer, Trainer } from './step.js';
import { batchTensors, bitsPerByte, EvaluationLoss } from '../eval/loss.js';

/**
 * The training loop, top to bottom: engine, data, model, optimizer, schedule, then per step
 * (evaluate, log, checkpoint, step). It reports through `events` and never prints.
 */
export interface TrainEvents {
  onEngine?(choice: EngineChoice): void;
  onPrepare?(progress: PrepareProgress): void;
  onStart?(info: {
    runDir: string;
    startStep: number;
    steps: number;
    parameters: number;
    datasetDir: string;
    resumedFrom?: string;
    memory: string;
  }): void;
  onStep?(info: { step: number; loss: number; lr: number; tokensPerSecond: number }): void;
  onEval?(record: Extract<MetricsRecord, { type: 'eval' }>): void;
  onCheckpoint?(dir: string): void;
  onWarning?(message: string): void;
}

export interface TrainOptions {
  config: RunConfig;
  /** The run directory; by default <output.dir>/<name>-<time>. */
  out?: string;
  /** Continue from a checkpoint or run directory. */
  resume?: string;
  events?: TrainEvents;
  /** Polled after every step: true finishes the step, saves a checkpoint and returns. */
  shouldStop?: () => boolean;
  /** Train even when the memory estimate exceeds what the machine has. */
  skipMemoryCheck?: boolean;
  /** A new run into `out` that holds an old one: remove the old run first (never mixing the two). */
  overwrite?: boolean;
  /** The caller holds the run directory's lock (a comparison). */
  lockHeld?: boolean;
  /** A comparison's run: divergence stops it and is recorded (src/train/divergence.ts), not an error. */
  recordDivergence?: boolean;
}

export interface TrainResult {
  runDir: string;
  checkpoint: string;
  step: number;
  interrupted: boolean;
  valLoss?: number;
  valBitsPerByte?: number;
  /** Set when the run stopped because it diverged (recordDivergence). */
  diverged?: Divergence;
}

/** Tokenises (or reuses) the token shards a run's `data` section describes: its corpus, or its task. */
export function prepareRunData(
  config: RunConfig,
  events: Pick<TrainEvents, 'onPrepare' | 'onWarning'> = {},
): ReturnType<typeof prepareDataset> {
  const task = taskOf(config.data.task);
  if (task) {
    const length = exampleLength(task, config.model.seqLen);
    if (length !== config.model.seqLen + 1) {
      throw new UserError(
        `data.task.length = ${length}: a task trained on has examples of model.seqLen + 1 = ${config.model.seqLen + 1} ` +
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
      onProgress: (done, total) => events.onPrepare?.({ bytesDone: done, bytesTotal: total, tokens: done * length }),
      onWarning: events.onWarning,
    });
  }
  return prepareDataset({
    sources: config.data.corpus,
    valSources: config.data.valCorpus,
    tokenizer: config.data.tokenizer,
    valFraction: config.data.valFraction,
    dataRoot: config.data.dir,
    textField: config.data.textField,
    onProgress: events.onPrepare,
    onWarning: events.onWarning,
  });
}

/**
 * The checkpoint a resume continues from: the newest whose files all verify; newer ones that do not
 * are named, with the reason, and left in place.
 */
function openForResume(path: string, events: TrainEvents): LoadedCheckpoint {
  return readCheckpoint(path, {
    verify: true,
    onSkip: (dir, why) => events.onWarning?.(`skipping checkpoint ${dir}: ${why}`),
  });
}

/**
 * The config a resumed run continues with: its own, or `given` when that differs only in what a
 * resume may change (train.steps, train.backend, train.threads) — said out loud.
 */
function resumedConfig(resumed: LoadedCheckpoint, given: RunConfig | undefined, events: TrainEvents): RunConfig {
  const stored = resumed.config.run;
  if (!given) return stored;
  checkResumable(stored, given, `resuming ${resumed.dir}`);
  if (given.train.steps !== stored.train.steps) {
    const step = resumed.state.step;
    events.onWarning?.(
      given.train.steps > step
        ? `train.steps ${stored.train.steps} → ${given.train.steps}: the learning-rate schedule from step ${step} ` +
            `on now decays to step ${given.train.steps} (steps before it are unchanged)`
        : `train.steps ${given.train.steps}: the run is already at step ${step}, nothing left to train`,
    );
  }
  if (given.train.backend !== stored.train.backend) {
    events.onWarning?.(
      `train.backend ${stored.train.backend} → ${given.train.backend}: same data order and schedule; from here ` +
        `on the arithmetic is the new engine's (agreeing to float32 round-off, not bit for bit)`,
    );
  }
  return given;
}

/**
 * Refuses, before anything is allocated, a run whose memory estimate exceeds the machine's; returns the estimate's
 * description.
 */
function checkMemory(model: ModelConfig, batchSize: number, engine: string, skip: boolean): string {
  const estimate = estimateTrainingMemory(model, batchSize, engine);
  const available = availableMemory();
  const line = `${describeEstimate(estimate)} of ${gibibytes(available)}`;
  if (estimate.bytes > available && !skip) {
    throw new UserError(
      `this run needs ${describeEstimate(estimate)} on ${engine}, more than the ${gibibytes(available)} this machine ` +
        `has: lower model.seqLen, train.batchSize (train.gradAccum keeps the tokens per step) or model.width, or ` +
        `pass --skip-memory-check`,
    );
  }
  return line;
}

/**
 * What an evaluation adds beyond the loss: task metrics per probe set, and on the first batch the
 * stability statistics of every layer and the attention's gates (diff2).
 */
type ProbeFields = Pick<Extract<MetricsRecord, { type: 'eval' }>, 'tasks' | 'diff2' | 'extremes'>;
function probeFields(
  model: Decoder,
  probeSets: NamedProbeSet[],
  evalSet: EvaluationSet,
  batchSize: number,
): ProbeFields {
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

/**
 * Trains one run. Its directory is taken first (src/train/run-dir.ts: locked, and checked to hold
 * this run and no other), then everything below happens under that lock.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const events = options.events ?? {};
  const claim = { overwrite: options.overwrite, lockHeld: options.lockHeld, onWarning: events.onWarning };
  if (!options.resume) {
    const runDir = resolve(options.out ?? defaultRunDirectory(options.config));
    const created = !existsSync(runDir);
    const lock = claimForNewRun(runDir, claim);
    try {
      return await trainIn(runDir, undefined, options.config, options);
    } finally {
      lock.release();
      if (created) removeIfEmpty(runDir); // a run that failed before writing anything leaves no trace
    }
  }
  const { lock, startOver } = claimForResume(options.resume, claim);
  try {
    const resumed = startOver ? undefined : openForResume(options.resume, events);
    const config = resumed ? resumedConfig(resumed, options.config, events) : options.config;
    return await trainIn(runDirectoryOf(options.resume), resumed, config, options);
  } finally {
    lock.release();
  }
}

async function trainIn(
  runDir: string,
  resumed: LoadedCheckpoint | undefined,
  config: RunConfig,
  options: TrainOptions,
): Promise<TrainResult> {
  const events = options.events ?? {};
  const { train: settings } = config;

  // data
  const prepared = await prepareRunData(config, events);
  if (resumed && resumed.config.dataset.key !== prepared.manifest.key) {
    events.onWarning?.(`the corpus changed since ${resumed.dir} was written: resuming on the new data`);
  }
  const dataset = TokenDataset.open(prepared.dir);
  const { manifest } = dataset;
  const modelConfig = resolveModelConfig({ ...config.model, vocabSize: manifest.vocabSize });

  // engine (after the data: its default thread count depends on the work in a step)
  const stepFlops = trainingFlopsPerToken(modelConfig) * settings.batchSize * config.model.seqLen; // one micro-batch
  const engine = await useEngine(settings.backend, { threads: settings.threads || undefined, stepFlops });
  events.onEngine?.(engine);
  const stride = manifest.task?.exampleLength; // task datasets: one window per example, whole
  const batches = await TrainingBatches.open(config, dataset, events.onWarning);
  // runs written before eval.seed existed were scored on a subset drawn with train.seed: keep it on resume
  const evalSeed = config.eval.seed ?? settings.seed;
  const evalSet = evaluationSet(dataset.val, {
    seqLen: config.model.seqLen,
    batchSize: config.eval.batchSize,
    maxTokens: config.eval.maxTokens,
    seed: evalSeed,
    stride,
  });
  const probeSets = await runProbeSets(config, dataset);
  // the example whose attention maps TensorBoard shows at every evaluation: the first scored window (a task's first)
  const firstBatch = evalSet.batches().next().value!;
  const exampleTokens = firstBatch.inputs.slice(0, firstBatch.length);

  // model and optimizer
  const memory = checkMemory(modelConfig, settings.batchSize, engine.name, options.skipMemoryCheck ?? false);
  const model = resumed ? loadModel(resumed) : Decoder.create(modelConfig, settings.seed);
  const { beta1, beta2, eps, weightDecay } = settings;
  const optimizer = createOptimizer(model, { beta1, beta2, eps, weightDecay });
  const trainer = new Trainer(model, optimizer);
  const evaluationLoss = new EvaluationLoss(model);

  const log = new RunLog(runDir, config.output.tensorboard);
  const checkpointConfig: CheckpointConfig = {
    difftVersion: DIFFT_VERSION,
    format: CHECKPOINT_FORMAT,
    run: config,
    model: modelConfig,
    tokenizer: manifest.tokenizer,
    dataset: { dir: prepared.dir, key: manifest.key },
  };
  const state: TrainState = resumed
    ? { ...resumed.state, engine: engine.name }
    : { step: 0, tokens: 0, lr: 0, optimizerStep: 0, ...batches.state(), elapsedSeconds: 0, engine: engine.name };
  if (resumed) {
    const moments = loadOptimizerState(resumed);
    optimizer.setMoments(moments);
    tf.dispose(moments);
    optimizer.step = resumed.state.optimizerStep;
    batches.restore(resumed.state);
    log.truncate(resumed.state.step);
  } else {
    writeFileAtomically(runFile(runDir, 'config'), configToYaml(config));
  }

  const save = (dir: string) => {
    log.sync();
    const moments = optimizer.momentTensors();
    try {
      saveCheckpoint(dir, model, moments, checkpointConfig, {
        ...state,
        ...batches.state(),
        optimizerStep: optimizer.step,
      });
    } finally {
      tf.dispose(moments);
    }
    events.onCheckpoint?.(dir);
  };
  const evaluate = (): Extract<MetricsRecord, { type: 'eval' }> => {
    const { loss, tokens } = evaluationLoss.mean(evalSet.batches());
    const val = manifest.splits.val;
    const record = {
      type: 'eval' as const,
      step: state.step,
      tokens: state.tokens,
      valLoss: loss,
      valPerplexity: Math.exp(loss),
      valBitsPerByte: bitsPerByte(loss, val.tokens, val.bytes),
      evalTokens: tokens,
      evalFingerprint: evalSet.fingerprint,
      elapsedSeconds: state.elapsedSeconds,
      ...probeFields(model, probeSets, evalSet, config.eval.batchSize),
    };
    log.append(record);
    log.appendEvents(state.step, () => attentionImages(meanAttentionMaps(model, exampleTokens), exampleTokens.length));
    events.onEval?.(record);
    state.lastValLoss = loss;
    if (state.bestValLoss === undefined || loss < state.bestValLoss) {
      state.bestValLoss = loss;
      state.bestStep = state.step;
      save(runFile(runDir, 'best'));
    }
    return record;
  };

  events.onStart?.({
    runDir,
    startStep: state.step,
    steps: settings.steps,
    parameters: countParameters(modelConfig).total,
    datasetDir: prepared.dir,
    resumedFrom: resumed?.dir,
    memory,
  });

  // the loop
  let interrupted = false;
  const divergence = new DivergenceWatch();
  let lastEval: Extract<MetricsRecord, { type: 'eval' }> | undefined;
  try {
    while (state.step < settings.steps) {
      const step = state.step + 1;
      const lr = learningRate(step, settings);
      const started = performance.now();
      const ids = batches.next(step);
      const tokensPerStep = ids.reduce((sum, batch) => sum + batch.batch * batch.length, 0);
      const microBatches = ids.map(batchTensors);
      const outcome = trainer.step(microBatches, lr, settings.clipNorm);
      tf.dispose(microBatches as unknown as tf.TensorContainer);
      const seconds = (performance.now() - started) / 1000;
      const diverged = options.recordDivergence ? divergence.check(step, outcome.loss) : undefined;
      if (diverged) {
        recordDivergence(runDir, diverged);
        events.onWarning?.(`diverged at step ${step}: ${diverged.reason}; its last good checkpoint is kept`);
        const checkpoint = join(runDir, stepCheckpoints(runDir)[0] ?? '');
        return { runDir, checkpoint, step: state.step, interrupted: false, diverged };
      }
      if (!outcome.applied) {
        const what = `non-finite loss at step ${step} (loss ${outcome.loss}, gradient norm ${outcome.gradNorm})`;
        if (settings.onNonFinite === 'stop') {
          throw new UserError(
            `${what}: the run stopped; its last good checkpoint is in ${runDir} (lower train.lr, or set train.onNonFinite=skip)`,
          );
        }
        events.onWarning?.(`${what}: step skipped`);
      }
      state.step = step;
      state.tokens += tokensPerStep;
      state.lr = lr;
      state.elapsedSeconds += seconds;
      const tokensPerSecond = tokensPerStep / seconds;
      events.onStep?.({ step, loss: outcome.loss, lr, tokensPerSecond });
      if (step % settings.logEvery === 0 || step === settings.steps) {
        log.append({
          type: 'train',
          step,
          tokens: state.tokens,
          loss: outcome.loss,
          lr,
          gradNorm: outcome.gradNorm,
          tokensPerSecond,
          elapsedSeconds: state.elapsedSeconds,
          lambdas: model.diagnostics().lambdas ?? [],
        });
      }
      const last = step === settings.steps;
      if (last || (config.eval.every > 0 && step % config.eval.every === 0)) lastEval = evaluate();
      const stopping = !last && (options.shouldStop?.() ?? false); // set by Ctrl-C, seen after the step
      if (last || stopping || (config.output.saveEvery > 0 && step % config.output.saveEvery === 0)) {
        save(join(runDir, stepDirName(step, settings.steps)));
        pruneCheckpoints(runDir, config.output.keepLast);
      }
      if (stopping) {
        interrupted = true;
        break;
      }
      // the steps themselves are synchronous: let signal handlers and progress timers run
      await new Promise((resume) => setImmediate(resume));
    }
    if (state.step >= settings.steps && !existsSync(join(runDir, stepDirName(state.step, settings.steps)))) {
      // resumed a finished run: nothing left to train, still leave a final checkpoint
      save(join(runDir, stepDirName(state.step, settings.steps)));
    }
    return {
      runDir,
      checkpoint: join(runDir, stepDirName(state.step, settings.steps)),
      step: state.step,
      interrupted,
      valLoss: lastEval?.valLoss ?? state.lastValLoss,
      valBitsPerByte: lastEval?.valBitsPerByte,
    };
  } finally {
    evaluationLoss.dispose();
    trainer.dispose();
    optimizer.dispose();
    model.dispose();
    dataset.close();
    batches.close();
  }
}
