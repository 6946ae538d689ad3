import * as tf from '@tensorflow/tfjs';
import { compileProgram, type Program, programsCompile } from '../backend/graph/compile.js';
import type { Decoder } from '../model/decoder.js';
import { type DeviceSampling, deviceSampling, sampleOnDevice, type SamplingOptions } from './sample.js';

/**
 * Cache capacities, at most the model's context. Where programs compile, each capacity is one more to
 * compile (~0.2-0.3 s on the tensorflow engine), which costs more than attending over unused slots
 * (measured, 4 layers, width 128: a step 1.1 ms at 16 slots, 1.5 ms at 512): 256 positions, then four
 * times more. Op by op nothing is compiled and every slot costs: 16, then twice more.
 */
export function capacityFor(positions: number, window: number, compiled = programsCompile()): number {
  const [first, growth] = compiled ? [256, 4] : [16, 2];
  let capacity = first;
  while (capacity < positions) capacity *= growth;
  return Math.min(capacity, window);
}

/** The padded length of prompts of `length` tokens: a power of two from 16, at most `window`. */
export function promptWidth(length: number, window: number): number {
  let width = 16;
  while (width < length) width *= 2;
  return Math.min(width, window);
}

type StepInputs = {
  tokens: tf.Tensor2D;
  positions: tf.Tensor2D;
  /** [B, 1]: which of the T positions is the row's last real token (prompts are padded on the right). */
  last: tf.Tensor2D;
  uniform: tf.Tensor1D;
} & DeviceSampling &
  Record<string, tf.Tensor>;

/**
 * Decoding a batch with key/value caches of a fixed capacity: each call takes tokens and the rows'
 * positions, writes their keys and values into the caches and returns the next token of every row,
 * sampled on the device. One function serves the prompt (T tokens per row) and every new token
 * (T = 1); it is a compiled program (src/backend/graph/compile.ts: one TensorFlow graph per batch,
 * length and capacity on the tensorflow engine, the same function op by op on the others), so a token
 * costs one program call. Capacities are powers of two up to the model's context, so a generation
 * compiles a handful of programs; the caches are copied into the next capacity when a row outgrows one.
 * Rows carry their own positions: prompts of different lengths share a batch, padded on the right (the
 * padding lands in slots no query sees before it is overwritten).
 */
export class KvDecoding {
  private readonly program: Program<StepInputs, Record<string, tf.Tensor>>;
  private readonly sampling: DeviceSampling;
  private readonly greedy: boolean;
  private cache: tf.Tensor[] = [];
  /** The next position of each row. */
  private positions: number[] = [];

  constructor(
    private readonly model: Decoder,
    options: SamplingOptions,
  ) {
    this.sampling = deviceSampling(options, model.config.vocabSize);
    this.greedy = options.temperature <= 0;
    this.program = compileProgram('the decoding step', (inputs: StepInputs) => this.step(inputs), model.params);
  }

  /** The most positions a row holds before the window must slide. */
  get window(): number {
    return this.model.config.seqLen;
  }

  /** The row positions the next call writes. */
  get rowPositions(): readonly number[] {
    return this.positions;
  }

  /** Starts (or restarts) every row from its context, at most `window` tokens each; returns each row's next token. */
  prefill(contexts: number[][], uniform: number[]): number[] {
    const longest = Math.max(...contexts.map((context) => context.length));
    if (longest > this.window || contexts.some((context) => context.length === 0))
      throw new Error(`contexts of 1 to ${this.window} tokens, got ${contexts.map((c) => c.length).join(', ')}`);
    const width = promptWidth(longest, this.window);
    const padded = contexts.map((context) => [...context, ...new Array<number>(width - context.length).fill(0)]);
    tf.dispose(this.cache);
    this.cache = this.model
      .emptyCache(contexts.length, capacityFor(longest + 1, this.window))
      .flatMap(({ keys, values }) => [keys!, values!]);
    this.positions = contexts.map(() => 0);
    const starts = contexts.map(() => Array.from({ length: width }, (_, i) => i));
    const next = this.call(
      padded,
      starts,
      contexts.map((context) => context.length - 1),
      uniform,
    );
    this.positions = contexts.map((context) => context.length);
    return next;
  }

  /** Appends one token to every row; returns each row's next token. */
  next(tokens: number[], uniform: number[]): number[] {
    const needed = Math.max(...this.positions) + 1;
    if (needed > this.window) throw new Error(`a row is at the end of the ${this.window}-position window`);
    if (needed > this.capacity) this.grow(capacityFor(needed, this.window));
    const next = this.call(
      tokens.map((token) => [token]),
      this.positions.map((position) => [position]),
      tokens.map(() => 0),
      uniform,
    );
    this.positions = this.positions.map((position) => position + 1);
    return next;
  }

  dispose(): void {
    tf.dispose(this.cache);
    this.cache = [];
    tf.dispose(Object.values(this.sampling));
    this.program.dispose();
  }

  private get capacity(): number {
    return this.cache[0]?.shape[1] ?? 0;
  }

  /** The caches copied into a larger capacity (the new slots empty). */
  private grow(capacity: number): void {
    const more = capacity - this.capacity;
    const grown = this.cache.map((tensor) =>
      tf.pad(tensor, [
        [0, 0],
        [0, more],
        [0, 0],
      ]),
    );
    tf.dispose(this.cache);
    this.cache = grown;
  }

  private call(tokens: number[][], positions: number[][], last: number[], uniform: number[]): number[] {
    const batch = tokens.length;
    const length = tokens[0].length;
    const inputs = tf.tidy(() => ({
      tokens: tf.tensor2d(tokens.flat(), [batch, length], 'int32'),
      positions: tf.tensor2d(positions.flat(), [batch, length], 'int32'),
      last: tf.tensor2d(last, [batch, 1], 'int32'),
      uniform: tf.tensor1d(uniform),
    }));
    const caches = Object.fromEntries(this.cache.map((tensor, i) => [`cache${i}`, tensor]));
    // tidy: on engines without programs the function runs op by op and its intermediates are freed here
    const outputs = tf.tidy(() => this.program({ ...inputs, ...this.sampling, ...caches } as StepInputs));
    tf.dispose([...Object.values(inputs), ...this.cache]);
    this.cache = this.cache.map((_, i) => outputs[`cache${i}`]);
    const next = Array.from(outputs.next.dataSync());
    outputs.next.dispose();
    return next;
  }

  /** The program: the model's decode, the logits at each row's last real token, the sampler. */
  private step(inputs: StepInputs): Record<string, tf.Tensor> {
    const layers = this.model.config.layers;
    const cache = Array.from({ length: layers }, (_, l) => ({
      keys: inputs[`cache${2 * l}`],
      values: inputs[`cache${2 * l + 1}`],
    }));
    const decoded = this.model.decode(inputs.tokens, inputs.positions, cache);
    const [batch, length, vocab] = decoded.logits.shape;
    // the last real token's logits, by a one-hot product (exact: one value times 1 plus zeros)
    const pick = () => tf.oneHot(inputs.last.reshape([batch]), length).reshape([batch, 1, length]);
    const lastLogits = length === 1 ? decoded.logits : tf.matMul(pick(), decoded.logits);
    const logits = lastLogits.reshape([batch, vocab]) as tf.Tensor2D;
    // greedy sessions skip the sampler's sort (sampleOnDevice takes the same argMax at temperature 0)
    const next = this.greedy ? tf.argMax(logits, 1).toInt() : sampleOnDevice(logits, inputs.uniform, inputs);
    const written = decoded.cache.flatMap(({ keys, values }) => [keys!, values!]);
    return { next, ...Object.fromEntries(written.map((tensor, i) => [`cache${i}`, tensor])) };
  }
}
