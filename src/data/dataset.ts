import { UserError } from '../errors.js';
import { mulberry32, uniformStream } from '../random.js';
import { readManifest, type DatasetManifest } from './manifest.js';
import { ShardedTokens, type TokenSource } from './shards.js';

/**
 * A prepared dataset opened for training and evaluation: the manifest, and each split's tokens
 * read from its shards on demand (nothing is read until a window is asked for).
 */
export class TokenDataset {
  private constructor(
    readonly dir: string,
    readonly manifest: DatasetManifest,
    readonly train: ShardedTokens,
    readonly val: ShardedTokens,
  ) {}

  static open(dir: string): TokenDataset {
    const manifest = readManifest(dir);
    const train = new ShardedTokens(dir, manifest.splits.train.shards, manifest.dtype);
    const val = new ShardedTokens(dir, manifest.splits.val.shards, manifest.dtype);
    return new TokenDataset(dir, manifest, train, val);
  }

  split(name: 'train' | 'val'): ShardedTokens {
    return name === 'train' ? this.train : this.val;
  }

  close(): void {
    this.train.close();
    this.val.close();
  }
}

/** Token ids of one batch, row-major [batch, length], ready for tf.tensor2d(..., 'int32'). */
export interface TokenBatch {
  batch: number;
  length: number;
  inputs: Int32Array;
  targets: Int32Array;
  /** Each target's weight in the training loss (task runs with train.textWeight < 1); absent: all equal. */
  weights?: Float32Array;
}

/** Where task windows start, and what their targets weigh. */
export interface WindowOptions {
  /** Task datasets: windows start only at multiples of this (each example's first token). */
  stride?: number;
  /** The target weights of example k's window (needs a stride). */
  weightsOf?: (example: number) => Float32Array;
}

export interface SamplerState {
  seed: number;
  /** The generator's internal state: restoring it continues with exactly the next batch. */
  rng: number;
  batches: number;
}

/**
 * Random windows of T+1 tokens from a split, drawn from a seeded generator. The same seed gives the
 * same batches on any machine; `state()` and `restore()` make a resumed run continue exactly.
 */
export class BatchSampler {
  private rngState: number;
  private batches = 0;

  constructor(
    private readonly tokens: TokenSource,
    private readonly batch: number,
    private readonly length: number,
    private readonly seed: number,
    private readonly options: WindowOptions = {},
  ) {
    const { stride } = options;
    if (tokens.length < length + 1) {
      throw new UserError(
        `training split has ${tokens.length} tokens, fewer than one window of ${length + 1} (model.seqLen + 1): ` +
          `use more text or a shorter model.seqLen`,
      );
    }
    if (stride !== undefined && stride < length + 1)
      throw new UserError(
        `task examples of ${stride} tokens are shorter than one window of ${length + 1} (model.seqLen + 1)`,
      );
    this.rngState = seed >>> 0;
  }

  /** One uniform draw in [0, 1) from the serialisable state. */
  private uniform(): number {
    const { value, next } = mulberry32(this.rngState);
    this.rngState = next;
    return value;
  }

  next(): TokenBatch {
    const { batch, length, tokens } = this;
    const { stride, weightsOf } = this.options;
    // start positions with T+1 tokens after them
    const windows = stride ? Math.floor(tokens.length / stride) : tokens.length - length;
    const inputs = new Int32Array(batch * length);
    const targets = new Int32Array(batch * length);
    const weights = weightsOf ? new Float32Array(batch * length) : undefined;
    for (let row = 0; row < batch; row++) {
      const window = Math.floor(this.uniform() * windows);
      const start = window * (stride ?? 1);
      const ids = tokens.slice(start, start + length + 1);
      for (let t = 0; t < length; t++) {
        inputs[row * length + t] = ids[t];
        targets[row * length + t] = ids[t + 1];
      }
      weights?.set(weightsOf!(window), row * length);
    }
    this.batches++;
    return { batch, length, inputs, targets, ...(weights ? { weights } : {}) };
  }

  state(): SamplerState {
    return { seed: this.seed, rng: this.rngState, batches: this.batches };
  }

  restore(state: SamplerState): void {
    if (state.seed !== this.seed) throw new Error(`sampler state was saved for seed ${state.seed}, not ${this.seed}`);
    this.rngState = state.rng >>> 0;
    this.batches = state.batches;
  }
}

/**
 * Evaluation windows over a split, in order: window k predicts tokens kT+1 .. kT+T, so every token
 * after the first is predicted exactly once; a shorter last window takes the remainder.
 * `maxTokens` evaluates a fixed, seeded subset of whole windows instead (the same one every time).
 * With a `stride` (task datasets: the example length, T+1) window k is example k instead, whole.
 */
export function* evalBatches(
  tokens: TokenSource,
  length: number,
  batch: number,
  options: { maxTokens?: number; seed?: number; stride?: number } = {},
): Generator<TokenBatch> {
  const predicted = tokens.length - 1;
  if (predicted < 1) throw new UserError('validation split has fewer than two tokens');
  const stride = options.stride ?? length;
  // windows of a full T
  const whole = stride === length ? Math.floor(predicted / length) : Math.floor(tokens.length / stride);
  const windows = stride === length ? Math.ceil(predicted / length) : whole; // window k starts at k·stride
  const subset =
    options.maxTokens !== undefined && options.maxTokens < predicted
      ? seededSubset(whole, Math.max(1, Math.floor(options.maxTokens / length)), options.seed ?? 0)
      : undefined;
  const count = subset?.length ?? windows;
  const startOf = (i: number) => (subset ? subset[i] : i) * stride;
  for (let i = 0; i < count; ) {
    const size = Math.min(length, predicted - startOf(i));
    // group consecutive windows of the same length
    const group: number[] = [];
    while (i < count && group.length < batch && Math.min(length, predicted - startOf(i)) === size)
      group.push(startOf(i++));
    const inputs = new Int32Array(group.length * size);
    const targets = new Int32Array(group.length * size);
    group.forEach((start, row) => {
      const window = tokens.slice(start, start + size + 1);
      for (let t = 0; t < size; t++) {
        inputs[row * size + t] = window[t];
        targets[row * size + t] = window[t + 1];
      }
    });
    yield { batch: group.length, length: size, inputs, targets };
  }
}

/**
 * `wanted` of the indices 0..n−1, drawn by a partial Fisher–Yates shuffle of the implicit array
 * [0, 1, …, n−1] and returned sorted (so that windows are read in order). Only the swapped entries are
 * stored, so memory grows with `wanted`, not with n (a 100 M-token split has 1.6 M windows of 64).
 */
export function seededSubset(n: number, wanted: number, seed: number): number[] {
  const next = uniformStream(seed);
  const swapped = new Map<number, number>();
  const at = (i: number) => swapped.get(i) ?? i;
  const picked: number[] = [];
  for (let i = 0; i < Math.min(wanted, n); i++) {
    const j = i + Math.floor(next() * (n - i));
    const [a, b] = [at(i), at(j)];
    swapped.set(j, a);
    picked.push(b);
    swapped.delete(i); // position i is settled: never read again
  }
  return picked.sort((a, b) => a - b);
}
