import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic.js';
import { useEngine } from '../backend/engines.js';
import {
  CHECKPOINT_FORMAT,
  DIFFT_VERSION,
  loadModel,
  loadOptimizerState,
  pruneCheckpoints,
  saveCheckpoint,
  type CheckpointConfig,
  type LoadedCheckpoint,
  type TrainState,
} from '../checkpoint/checkpoint.js';
import { configToYaml } from '../config/load.js';
import type { ModelConfig } from '../config/model.js';
import type { RunConfig } from '../config/schema.js';
import { TokenDataset } from '../data/dataset.js';
import { modelOfRun } from '../data/run-model.js';
import { UserError } from '../errors.js';
import { batchTensors, EvaluationLoss } from '../eval/loss.js';
import { runFile, stepCheckpoints, stepDirName } from '../formats/run.js';
import { meanAttentionMaps } from '../measure/maps.js';
import { Decoder } from '../model/decoder.js';
import { countParameters, trainingFlopsPerToken } from '../model/parameters.js';
import type { AdamW } from './adamw.js';
import { type Divergence, DivergenceWatch, nonFinite, recordDivergence } from './divergence.js';
import { type EvalRecord, measureEvaluation } from './evaluation.js';
import { availableMemory, describeEstimate, estimateTrainingMemory, gibibytes } from './memory.js';
import { closeRunData, openRunData, prepareRunData, type RunData } from './run-data.js';
import { RunLog } from './run-log.js';
import { learningRate } from './schedule.js';
import { createOptimizer, type StepOutcome, Trainer } from './step.js';
import { attentionImages } from './tensorboard.js';
import type { TrainCallbacks, TrainOptions, TrainResult } from './options.js';

/** What `open` builds and the run owns (it disposes the tensors and closes the data). */
interface RunParts {
  data: RunData;
  model: Decoder;
  optimizer: AdamW;
  trainer: Trainer;
  evaluationLoss: EvaluationLoss;
  log: RunLog;
  checkpointConfig: CheckpointConfig;
  state: TrainState;
}

/**
 * One training run, in nanoGPT's order: `open` sets it up (data, engine, model, optimizer, log),
 * then `run` loops over `step`, `evaluate` and `keepBest`, and `checkpoint`. Its directory is
 * already claimed by the caller (src/train/loop.ts).
 */
export class TrainingRun {
  /** The newest evaluation of this process (a resumed run knows its earlier one from `state`). */
  private lastEval?: EvalRecord;
  private readonly divergence?: DivergenceWatch;

  private readonly data: RunData;
  private readonly model: Decoder;
  private readonly optimizer: AdamW;
  private readonly trainer: Trainer;
  private readonly evaluationLoss: EvaluationLoss;
  private readonly log: RunLog;
  private readonly checkpointConfig: CheckpointConfig;
  private readonly state: TrainState;

  private constructor(
    private readonly runDir: string,
    private readonly config: RunConfig,
    parts: RunParts,
    private readonly callbacks: TrainCallbacks,
    recordDivergence: boolean,
  ) {
    ({
      data: this.data,
      model: this.model,
      optimizer: this.optimizer,
      trainer: this.trainer,
      evaluationLoss: this.evaluationLoss,
      log: this.log,
      checkpointConfig: this.checkpointConfig,
      state: this.state,
    } = parts);
    this.divergence = recordDivergence ? new DivergenceWatch() : undefined;
  }

  /** Setup: the data, then the engine (its thread count depends on a step's work), the model and optimizer. */
  static async open(
    runDir: string,
    resumed: LoadedCheckpoint | undefined,
    config: RunConfig,
    options: TrainOptions,
  ): Promise<TrainingRun> {
    const callbacks = options.callbacks ?? {};
    const prepared = await prepareRunData(config, callbacks);
    if (resumed && resumed.config.dataset.key !== prepared.manifest.key)
      callbacks.onWarning?.(`the corpus changed since ${resumed.dir} was written: resuming on the new data`);
    const dataset = TokenDataset.open(prepared.dir);
    const { manifest } = dataset;
    const modelConfig = modelOfRun(config, manifest);
    const { train: settings } = config;
    const stepFlops = trainingFlopsPerToken(modelConfig) * settings.batchSize * modelConfig.seqLen; // one micro-batch
    const engine = await useEngine(settings.backend, { threads: settings.threads || undefined, stepFlops });
    callbacks.onEngine?.(engine);
    const data = await openRunData(config, dataset, callbacks.onWarning);

    const memory = checkMemory(modelConfig, settings.batchSize, engine.name, options.skipMemoryCheck ?? false);
    const model = resumed ? loadModel(resumed) : Decoder.create(modelConfig, settings.seed);
    const { beta1, beta2, eps, weightDecay } = settings;
    const optimizer = createOptimizer(model, { beta1, beta2, eps, weightDecay });
    const log = new RunLog(runDir, config.output.tensorboard);
    const checkpointConfig: CheckpointConfig = {
      difftVersion: DIFFT_VERSION,
      format: CHECKPOINT_FORMAT,
      run: config,
      model: modelConfig,
      tokenizer: manifest.tokenizer,
      dataset: { dir: prepared.dir, key: manifest.key },
    };
    const state = resumed
      ? restore(resumed, optimizer, data, log, engine.name)
      : start(runDir, config, data, engine.name);
    const trainer = new Trainer(model, optimizer, settings.seed);
    const evaluationLoss = new EvaluationLoss(model);
    const parts = { data, model, optimizer, trainer, evaluationLoss, log, checkpointConfig, state };
    const run = new TrainingRun(runDir, config, parts, callbacks, options.recordDivergence ?? false);
    callbacks.onStart?.({
      runDir,
      startStep: state.step,
      steps: settings.steps,
      attention: modelConfig.attention,
      parameters: countParameters(modelConfig).total,
      datasetDir: prepared.dir,
      resumedFrom: resumed?.dir,
      memory,
    });
    return run;
  }

  /** The loop: step; evaluate (keeping the best) and checkpoint when due; stop when asked, after a whole step. */
  async run(shouldStop?: () => boolean): Promise<TrainResult> {
    const { train: settings, eval: evaluation, output } = this.config;
    const due = (every: number) => every > 0 && this.state.step % every === 0;
    let interrupted = false;
    while (this.state.step < settings.steps) {
      const diverged = this.step();
      if (diverged) return this.stopDiverged(diverged);
      const last = this.state.step === settings.steps;
      if (last || due(evaluation.every)) this.keepBest(this.evaluate());
      interrupted = !last && (shouldStop?.() ?? false); // set by Ctrl-C, seen after the step
      if (last || interrupted || due(output.saveEvery)) this.checkpointStep();
      if (interrupted) break;
      // the steps themselves are synchronous: let signal handlers and progress timers run
      await new Promise((resume) => setImmediate(resume));
    }
    // a resumed run that had nothing left to train still leaves its final checkpoint
    if (!existsSync(this.stepDir())) this.checkpoint(this.stepDir());
    return {
      runDir: this.runDir,
      checkpoint: this.stepDir(),
      step: this.state.step,
      interrupted,
      valLoss: this.lastEval?.valLoss ?? this.state.lastValLoss,
      valBitsPerByte: this.lastEval?.valBitsPerByte,
    };
  }

  /** Measures the validation loss and what the probes measure, and records it: nothing else. */
  evaluate(): EvalRecord {
    const { model, data, state } = this;
    const record = measureEvaluation(model, this.evaluationLoss, data, data.dataset.manifest, this.config, state);
    this.log.append(record);
    const example = data.exampleTokens;
    this.log.appendToEventFile(state.step, () => attentionImages(meanAttentionMaps(model, example), example.length));
    this.callbacks.onEval?.(record);
    this.lastEval = record;
    this.state.lastValLoss = record.valLoss;
    return record;
  }

  /** Keeps `best/`: the checkpoint of the lowest validation loss so far. */
  keepBest(record: EvalRecord): void {
    const { state } = this;
    if (state.bestValLoss !== undefined && record.valLoss >= state.bestValLoss) return;
    state.bestValLoss = record.valLoss;
    state.bestStep = state.step;
    this.checkpoint(runFile(this.runDir, 'best'));
  }

  /** Saves a checkpoint into `dir`, its log made durable first so that no record it covers is lost. */
  checkpoint(dir: string): void {
    this.log.sync();
    const moments = this.optimizer.momentTensors();
    try {
      const state = { ...this.state, ...this.data.batches.state(), optimizerStep: this.optimizer.step };
      saveCheckpoint(dir, this.model, moments, this.checkpointConfig, state);
    } finally {
      tf.dispose(moments);
    }
    this.callbacks.onCheckpoint?.(dir);
  }

  /** One optimizer step on the next batch; a divergence (recorded runs only) is returned, not taken. */
  step(): Divergence | undefined {
    const { train: settings } = this.config;
    const step = this.state.step + 1;
    const lr = learningRate(step, settings);
    const started = performance.now();
    const ids = this.data.batches.next(step);
    const tokens = ids.reduce((sum, batch) => sum + batch.batch * batch.length, 0);
    const microBatches = ids.map(batchTensors);
    const outcome = this.trainer.step(microBatches, lr, settings.clipNorm, step);
    tf.dispose(microBatches as unknown as tf.TensorContainer);
    const seconds = (performance.now() - started) / 1000;
    const diverged = this.divergence?.check(step, outcome.loss, outcome.gradNorm);
    if (diverged) return diverged;
    if (!outcome.applied) this.skipNonFinite(step, outcome);
    const { state } = this;
    state.step = step;
    state.tokens += tokens;
    state.lr = lr;
    state.elapsedSeconds += seconds;
    const tokensPerSecond = tokens / seconds;
    this.callbacks.onStep?.({ step, loss: outcome.loss, lr, tokensPerSecond });
    if (step % settings.logEvery === 0 || step === settings.steps) this.logStep(outcome, tokensPerSecond);
    return undefined;
  }

  dispose(): void {
    this.evaluationLoss.dispose();
    this.trainer.dispose();
    this.optimizer.dispose();
    this.model.dispose();
    closeRunData(this.data);
  }

  private logStep(outcome: StepOutcome, tokensPerSecond: number): void {
    const { step, tokens, lr, elapsedSeconds } = this.state;
    const lambdas = this.model.diagnostics().lambdas ?? [];
    const { loss, gradNorm } = outcome;
    this.log.append({ type: 'train', step, tokens, loss, lr, gradNorm, tokensPerSecond, elapsedSeconds, lambdas });
  }

  /** A step whose loss or gradient was not finite was not applied: stop, or go on (train.onNonFinite). */
  private skipNonFinite(step: number, outcome: StepOutcome): void {
    const what = `${nonFinite(outcome.loss, outcome.gradNorm)} at step ${step}`;
    if (this.config.train.onNonFinite === 'stop') {
      throw new UserError(
        `${what}: the run stopped; ${this.lastGoodCheckpointText()} (lower train.lr, or set train.onNonFinite=skip)`,
      );
    }
    this.callbacks.onWarning?.(`${what}: step skipped`);
  }

  /** The newest checkpoint this run saved (a step-* one, else best/), if any. */
  private lastGoodCheckpoint(): string | undefined {
    const newest = stepCheckpoints(this.runDir)[0];
    if (newest) return join(this.runDir, newest);
    const best = runFile(this.runDir, 'best');
    return existsSync(best) ? best : undefined;
  }

  private lastGoodCheckpointText(): string {
    const checkpoint = this.lastGoodCheckpoint();
    return checkpoint ? `its last good checkpoint is ${checkpoint}` : 'it had saved no checkpoint yet';
  }

  /** A comparison's run that diverged: recorded beside its last good checkpoint, which is kept. */
  private stopDiverged(diverged: Divergence): TrainResult {
    recordDivergence(this.runDir, diverged);
    this.callbacks.onWarning?.(
      `diverged at step ${diverged.step}: ${diverged.reason}; ${this.lastGoodCheckpointText()}`,
    );
    const checkpoint = this.lastGoodCheckpoint() ?? this.runDir;
    return { runDir: this.runDir, checkpoint, step: this.state.step, interrupted: false, diverged };
  }

  private checkpointStep(): void {
    this.checkpoint(this.stepDir());
    pruneCheckpoints(this.runDir, this.config.output.keepLast);
  }

  private stepDir(): string {
    return join(this.runDir, stepDirName(this.state.step, this.config.train.steps));
  }
}

/** A new run's state at step 0; its config written into the run directory. */
function start(runDir: string, config: RunConfig, data: RunData, engine: string): TrainState {
  writeFileAtomically(runFile(runDir, 'config'), configToYaml(config));
  return { step: 0, tokens: 0, lr: 0, optimizerStep: 0, ...data.batches.state(), elapsedSeconds: 0, engine };
}

/**
 * A resumed run's state: the optimizer's moments, the data order and the log brought back to the
 * checkpoint's step.
 */
function restore(resumed: LoadedCheckpoint, optimizer: AdamW, data: RunData, log: RunLog, engine: string): TrainState {
  const moments = loadOptimizerState(resumed);
  optimizer.setMoments(moments);
  tf.dispose(moments);
  optimizer.step = resumed.state.optimizerStep;
  data.batches.restore(resumed.state);
  log.truncate(resumed.state.step);
  return { ...resumed.state, engine };
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
