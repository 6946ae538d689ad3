import type { EngineChoice } from '../backend/engines.js';
import type { RunConfig } from '../config/schema.js';
import type { PrepareProgress } from '../data/prepare.js';
import type { Divergence } from './divergence.js';
import type { EvalRecord } from './evaluation.js';
import type { DirectoryLock } from '../lock.js';

/** What a training run reports as it goes (the library never prints: the CLI renders these). */
export interface TrainCallbacks {
  onEngine?(choice: EngineChoice): void;
  onPrepare?(progress: PrepareProgress): void;
  onStart?(info: {
    runDir: string;
    startStep: number;
    steps: number;
    attention: string;
    parameters: number;
    datasetDir: string;
    resumedFrom?: string;
    memory: string;
  }): void;
  onStep?(info: { step: number; loss: number; lr: number; tokensPerSecond: number }): void;
  onEval?(record: EvalRecord): void;
  onCheckpoint?(dir: string): void;
  onWarning?(message: string): void;
}

export interface TrainOptions {
  /** A new run's config; with `resume`, the whole config to continue with (default: the run's own). */
  config?: RunConfig;
  /** The run directory; by default <output.dir>/<name>-<time>. */
  out?: string;
  /** Continue from a checkpoint or run directory. */
  resume?: string;
  /** With `resume` and no `config`: `key=value` changes to the run's own config (what a resume may change). */
  overrides?: string[];
  callbacks?: TrainCallbacks;
  /** Polled after every step: true finishes the step, saves a checkpoint and returns. */
  shouldStop?: () => boolean;
  /** Train even when the memory estimate exceeds what the machine has. */
  skipMemoryCheck?: boolean;
  /** Resuming from a checkpoint older than the run's newest: remove the later checkpoints (else refused). */
  discardLater?: boolean;
  /** A new run into `out` that holds an old one: remove the old run first (never mixing the two). */
  overwrite?: boolean;
  /** The run directory's lock, already held by the caller (a comparison): training neither takes nor releases it. */
  lock?: DirectoryLock;
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
