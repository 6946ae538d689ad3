import * as tf from '@tensorflow/tfjs';
import { compileProgram, type Program, programsCompile } from '../backend/graph/compile.js';
import { type Decoder, disposeCache } from '../model/decoder.js';
import type { LayerCache } from '../model/attention/shared.js';
import { type DeviceSampling, deviceSampling, sampleOnDevice, type SamplingOptions, sampleToken } from './sample.js';

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

/** A batch being decoded: every call appends tokens to each row and returns each row's next token. */
export interface Decoding {
  /** The most positions a row holds before the window must slide. */
  readonly window: number;
  /** The position the next token of each row goes to. */
  readonly rowPositions: readonly number[];
  /** Starts (or restarts) every row from its context, at most `window` tokens each. */
  prefill(contexts: number[][], uniform: number[]): number[];
  /** Appends one token to every row. */
  next(tokens: number[], uniform: number[]): number[];
  dispose(): void;
}

/**
 * The decoding for a batch: where programs compile, or when rows start at different lengths, caches of
 * a fixed capacity (`KvDecoding`); op by op with rows of one length, caches that grow by concatenation
 * (`GrowingDecoding`), which is faster there (measured on wasm, 500 tokens: fixed capacities 12% slower),
 * every slot attended to being one that holds a token.
 */
export function decodingFor(
  model: Decoder,
  options: SamplingOptions,
  contexts: number[][],
  steps?: DecodeSteps,
): Decoding {
  const oneLength = contexts.every((context) => context.length === contexts[0].length);
  if (programsCompile() || !oneLength) return new KvDecoding(model, options, steps);
  return new GrowingDecoding(model, options);
}

/** The next token of every row from its logits [B, V]: argMax when greedy, else the device sampler. */
function pickNext(logits: tf.Tensor2D, uniform: tf.Tensor1D, sampling: DeviceSampling, greedy: boolean): tf.Tensor {
  return greedy ? tf.argMax(logits, 1).toInt() : sampleOnDevice(logits, uniform, sampling);
}

/**
 * A model's decoding step as a program (compiled once per batch, length and capacity on the tensorflow
 * engine), kept across decodings by whoever decodes many batches (a bench, a task's probes).
 */
export class DecodeSteps {
  readonly program: Program<StepInputs, Record<string, tf.Tensor>>;

  constructor(
    readonly model: Decoder,
    readonly greedy: boolean,
  ) {
    this.program = compileProgram(
      'the decoding step',
      (inputs: StepInputs) => decodeStep(model, greedy, inputs),
      model.params,
    );
  }

  dispose(): void {
    this.program.dispose();
  }
}

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
export class KvDecoding implements Decoding {
  private readonly steps: DecodeSteps;
  private readonly ownsSteps: boolean;
  private readonly sampling: DeviceSampling;
  private cache: tf.Tensor[] = [];
  /** The next position of each row. */
  private positions: number[] = [];
  /**
   * What the last call left on the device for the next: its tokens (as returned) and positions, so that
   * a step fed the tokens it was given creates no tensor (each costs ~20 µs, a tenth of a small step).
   */
  private carried?: { ids: number[]; tokens: tf.Tensor; positions: tf.Tensor };
  /** Zeros [B] and [B, 1]: a greedy step's draws and a one-token step's `last`. */
  private zeros?: { uniform: tf.Tensor; last: tf.Tensor };

  /** `steps`: programs compiled before, kept by the caller across decodings (else compiled here, for this one). */
  constructor(
    private readonly model: Decoder,
    options: SamplingOptions,
    steps?: DecodeSteps,
  ) {
    this.sampling = deviceSampling(options, model.config.vocabSize);
    const greedy = options.temperature <= 0;
    if (steps && (steps.model !== model || steps.greedy !== greedy))
      throw new Error('decoding steps compiled for another model or sampler');
    this.ownsSteps = !steps;
    this.steps = steps ?? new DecodeSteps(model, greedy);
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
    const carried = this.carried?.ids === tokens ? this.carried : undefined;
    const next = this.call(
      tokens.map((token) => [token]),
      this.positions.map((position) => [position]),
      tokens.map(() => 0),
      uniform,
      carried,
    );
    this.positions = this.positions.map((position) => position + 1);
    return next;
  }

  dispose(): void {
    tf.dispose(this.cache);
    this.cache = [];
    this.carry(undefined);
    tf.dispose([...Object.values(this.sampling), ...Object.values(this.zeros ?? {})]);
    if (this.ownsSteps) this.steps.dispose();
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

  private call(
    tokens: number[][],
    positions: number[][],
    last: number[],
    uniform: number[],
    carried?: { tokens: tf.Tensor; positions: tf.Tensor },
  ): number[] {
    const [batch, length] = [tokens.length, tokens[0].length];
    this.zeros ??= { uniform: tf.zeros([batch]), last: tf.zeros([batch, 1], 'int32') };
    const oneStep = length === 1 && this.zeros.uniform.shape[0] === batch;
    const made = tf.tidy(() => ({
      ...(carried ? {} : { tokens: tf.tensor2d(tokens.flat(), [batch, length], 'int32') }),
      ...(carried ? {} : { positions: tf.tensor2d(positions.flat(), [batch, length], 'int32') }),
      ...(oneStep ? {} : { last: tf.tensor2d(last, [batch, 1], 'int32') }),
      ...(oneStep && this.steps.greedy ? {} : { uniform: tf.tensor1d(uniform) }),
    }));
    const inputs = { ...this.zeros, ...(carried && { tokens: carried.tokens, positions: carried.positions }), ...made };
    const caches = Object.fromEntries(this.cache.map((tensor, i) => [`cache${i}`, tensor]));
    // tidy: on engines without programs the function runs op by op and its intermediates are freed here
    const outputs = tf.tidy(() => this.steps.program({ ...inputs, ...this.sampling, ...caches } as StepInputs));
    tf.dispose([...Object.values(made), ...this.cache]);
    this.cache = this.cache.map((_, i) => outputs[`cache${i}`]);
    const next = Array.from(outputs.next.dataSync());
    outputs.next.dispose();
    this.carry({ ids: next, tokens: outputs.nextTokens, positions: outputs.nextPositions });
    return next;
  }

  /** Keeps what the next step may take from this one, freeing what the last one left. */
  private carry(carried: KvDecoding['carried']): void {
    if (this.carried) tf.dispose([this.carried.tokens, this.carried.positions]);
    this.carried = carried;
  }
}

/**
 * Decoding op by op on caches that grow: each call's keys and values are concatenated to the cache
 * (src/model/attention/shared.ts), so attention reads exactly the tokens so far, and the sampler runs in
 * JavaScript (reading the logits costs a copy here, not a transfer). Every row is at the same position:
 * contexts of one length (several samples of one prompt).
 */
export class GrowingDecoding implements Decoding {
  private cache: LayerCache[] = [];
  private positions: number[] = [];

  constructor(
    private readonly model: Decoder,
    private readonly options: SamplingOptions,
  ) {}

  get window(): number {
    return this.model.config.seqLen;
  }

  get rowPositions(): readonly number[] {
    return this.positions;
  }

  prefill(contexts: number[][], uniform: number[]): number[] {
    if (contexts.some((context) => context.length !== contexts[0].length || context.length > this.window))
      throw new Error(`contexts of one length, 1 to ${this.window} tokens`);
    disposeCache(this.cache);
    this.cache = this.model.newCache();
    this.positions = contexts.map(() => 0);
    return this.call(contexts, uniform);
  }

  next(tokens: number[], uniform: number[]): number[] {
    return this.call(
      tokens.map((token) => [token]),
      uniform,
    );
  }

  dispose(): void {
    disposeCache(this.cache);
    this.cache = [];
  }

  private call(tokens: number[][], uniform: number[]): number[] {
    const [batch, length] = [tokens.length, tokens[0].length];
    const logits = tf.tidy(() => {
      const input = tf.tensor2d(tokens.flat(), [batch, length], 'int32');
      const all = this.model.forward(input, { cache: this.cache }).logits; // [B, T, V]
      return all.slice([0, length - 1, 0], [batch, 1, -1]).dataSync();
    });
    this.positions = this.positions.map((position) => position + length);
    const vocab = logits.length / batch;
    return uniform.map((u, row) => sampleToken(logits.subarray(row * vocab, (row + 1) * vocab), this.options, () => u));
  }
}

/** The decoding step: the model's decode, the logits at each row's last real token, the next tokens. */
function decodeStep(model: Decoder, greedy: boolean, inputs: StepInputs): Record<string, tf.Tensor> {
  const layers = model.config.layers;
  const cache = Array.from({ length: layers }, (_, l) => ({
    keys: inputs[`cache${2 * l}`],
    values: inputs[`cache${2 * l + 1}`],
  }));
  const decoded = model.decode(inputs.tokens, inputs.positions, cache);
  const [batch, length, vocab] = decoded.logits.shape;
  // the last real token's logits, by a one-hot product (exact: one value times 1 plus zeros)
  const pick = () => tf.oneHot(inputs.last.reshape([batch]), length).reshape([batch, 1, length]);
  const lastLogits = length === 1 ? decoded.logits : tf.matMul(pick(), decoded.logits);
  const logits = lastLogits.reshape([batch, vocab]) as tf.Tensor2D;
  // greedy sessions skip the sampler's sort (sampleOnDevice takes the same argMax at temperature 0)
  const next = pickNext(logits, inputs.uniform, inputs, greedy);
  const written = decoded.cache.flatMap(({ keys, values }) => [keys!, values!]);
  // the next step's input: these tokens, each one past its row's last position
  const lastPosition =
    length === 1
      ? inputs.positions
      : tf.sum(tf.mul(inputs.positions, tf.oneHot(inputs.last.reshape([batch]), length)), 1, true);
  return {
    next,
    nextTokens: next.reshape([batch, 1]),
    nextPositions: tf.add(lastPosition, tf.scalar(1, 'int32')),
    ...Object.fromEntries(written.map((tensor, i) => [`cache${i}`, tensor])),
  };
}
