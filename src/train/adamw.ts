import * as tf from '@tensorflow/tfjs';
import { compileProgram, type Program, type Tensors } from '../backend/graph/compile.js';
import { type Moment, momentName } from '../checkpoint/checkpoint.js';

/**
 * AdamW (Loshchilov & Hutter): Adam on the gradient, plus weight decay applied to the weights
 * directly rather than through the gradient, and only to the parameters `decays` selects
 * (2-D weight matrices; not norms, λ vectors or biases). tfjs has only coupled L2, hence this file.
 *   m ← β1·m + (1−β1)·g        v ← β2·v + (1−β2)·g²
 *   θ ← θ − lr·wd·θ − lr · (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε)
 *
 * Every parameter's entries live end to end in one flat vector (in a fixed parameter order), and so
 * do the moments: an update is a dozen operations on that vector, not a dozen per parameter. Each
 * operation costs a fixed dispatch overhead on every engine (~10 µs on tensorflow), which for ~40
 * small tensors per step was a large part of the optimizer's time.
 */
export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

/** What an update proposes: the next parameters and moments, and the gradient norm that led there. */
export interface ProposedUpdate {
  /** The global L2 norm of the averaged gradient before clipping, []. */
  gradNorm: tf.Scalar;
  /** Every parameter by name, and the moments `m` and `v`: new tensors, owned by the caller until committed. */
  state: Tensors;
}

export interface UpdateSettings {
  lr: number;
  /** Clip the averaged gradient to this global norm (≤ 0: no clipping). */
  clipNorm: number;
  /** How many micro-batch gradients the summed gradient holds. */
  microBatches: number;
}

/** Inputs and results of the compiled update: scalars, the flat gradient, and the state by name. */
type UpdateInputs = Tensors & {
  gradSum: tf.Tensor1D;
  scale: tf.Scalar;
  lr: tf.Scalar;
  lrDecay: tf.Scalar;
  correction1: tf.Scalar;
  correction2: tf.Scalar;
};
type UpdateOutputs = Tensors & { gradNorm: tf.Scalar };

export class AdamW {
  readonly options: AdamWOptions;
  /** Number of updates applied so far (t in the bias corrections). */
  step = 0;
  private readonly names: string[];
  private readonly params: Record<string, tf.Variable>;
  private readonly sizes: number[];
  /** First and second moment estimates of every entry, flat. */
  private readonly m: tf.Variable;
  private readonly v: tf.Variable;
  /** Whether each parameter is weight-decayed. */
  private readonly decayed: boolean[];
  /** The update compiled once per clipping threshold, which it freezes. */
  private readonly programs = new Map<number, Program<UpdateInputs, UpdateOutputs>>();

  constructor(
    params: Record<string, tf.Variable>,
    decays: (name: string) => boolean,
    options: Partial<AdamWOptions> = {},
  ) {
    this.options = { ...ADAMW_DEFAULTS, ...options };
    this.names = Object.keys(params);
    this.params = params;
    this.sizes = this.names.map((name) => params[name].size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    this.decayed = this.names.map((name) => decays(name));
    this.m = tf.variable(tf.zeros([total]), false);
    this.v = tf.variable(tf.zeros([total]), false);
  }

  /** The tensors of `byName` (one per parameter, each shaped like it) end to end: [entries]. */
  flatten(byName: Record<string, tf.Tensor>): tf.Tensor1D {
    return tf.concat(
      this.names.map((name) => {
        const tensor = byName[name];
        if (!tensor) throw new Error(`no tensor for parameter ${name}`);
        return tensor.reshape([-1]);
      }),
    ) as tf.Tensor1D;
  }

  /** The inverse of flatten: one tensor per parameter, shaped like it. */
  private unflatten(flat: tf.Tensor1D): tf.Tensor[] {
    return tf.split(flat, this.sizes).map((part, i) => part.reshape(this.params[this.names[i]].shape));
  }

  /**
   * Update number `step + 1` from `gradSum`, the flat sum (see `flatten`) of the gradients of
   * `microBatches` micro-batches: averaged, clipped to `clipNorm`, then AdamW — one compiled program
   * (backend/graph/compile.ts). Nothing changes until `commit`: the caller reads the norm first, so
   * that a non-finite step never touches the weights.
   */
  propose(gradSum: tf.Tensor1D, { lr, clipNorm, microBatches }: UpdateSettings): ProposedUpdate {
    const { beta1, beta2, weightDecay } = this.options;
    const t = this.step + 1;
    // the step's numbers are inputs, computed here in double precision: the program freezes constants
    const inputs: UpdateInputs = {
      ...this.params,
      gradSum,
      scale: tf.scalar(1 / microBatches),
      lr: tf.scalar(lr),
      lrDecay: tf.scalar(lr * weightDecay),
      correction1: tf.scalar(1 - beta1 ** t),
      correction2: tf.scalar(1 - beta2 ** t),
      m: this.m,
      v: this.v,
    };
    const { gradNorm, ...state } = this.program(clipNorm)(inputs);
    return { gradNorm, state };
  }

  /** Makes a proposed update the state (parameters and moments) and counts it. */
  commit(update: ProposedUpdate): void {
    for (const [name, variable] of Object.entries({ m: this.m, v: this.v, ...this.params }))
      variable.assign(update.state[name]);
    this.step += 1;
  }

  private program(clipNorm: number): Program<UpdateInputs, UpdateOutputs> {
    let program = this.programs.get(clipNorm);
    if (!program) {
      program = compileProgram('the optimizer update', (inputs: UpdateInputs) => this.nextState(inputs, clipNorm));
      this.programs.set(clipNorm, program);
    }
    return program;
  }

  /** The pure function the update compiles: average, clip, then the equations at the top of this file. */
  private nextState(inputs: UpdateInputs, clipNorm: number): UpdateOutputs {
    const { beta1, beta2, eps } = this.options;
    const { grads, norm } = clipByGlobalNorm({ all: tf.mul(inputs.gradSum, inputs.scale) }, clipNorm);
    const grad = grads.all;
    const m = inputs.m.mul(beta1).add(grad.mul(1 - beta1));
    const v = inputs.v.mul(beta2).add(grad.square().mul(1 - beta2));
    // lr · (m / c1) / (sqrt(v / c2) + ε), with lr / c1 one scalar: each pass over the vector costs
    // memory bandwidth (the update is memory-bound), a scalar operation costs nothing
    const step = m.div(v.div(inputs.correction2).sqrt().add(eps)).mul(tf.div(inputs.lr, inputs.correction1));
    const keep = tf.sub(1, inputs.lrDecay); // decoupled weight decay: θ ← θ·(1 − lr·wd)
    const steps = tf.split(step, this.sizes);
    const params = this.names.map((name, i) => {
      const param = inputs[name];
      return [name, (this.decayed[i] ? param.mul(keep) : param).sub(steps[i].reshape(param.shape))];
    });
    return { gradNorm: norm, m, v, ...Object.fromEntries(params) };
  }

  /**
   * The moments by name (`<param>.exp_avg`, `<param>.exp_avg_sq`), each shaped like its parameter,
   * for checkpoints: new tensors that the caller disposes.
   */
  momentTensors(): Record<string, tf.Tensor> {
    return tf.tidy(() => {
      const out: Record<string, tf.Tensor> = {};
      const [m, v] = [this.unflatten(this.m as tf.Tensor1D), this.unflatten(this.v as tf.Tensor1D)];
      this.names.forEach((name, i) => {
        out[momentName(name, 'exp_avg')] = m[i];
        out[momentName(name, 'exp_avg_sq')] = v[i];
      });
      return out;
    });
  }

  /** Sets the moments from tensors named and shaped as momentTensors() gives them. */
  setMoments(moments: Record<string, tf.Tensor>): void {
    tf.tidy(() => {
      const pick = (moment: Moment) =>
        Object.fromEntries(this.names.map((name) => [name, moments[momentName(name, moment)]]));
      this.m.assign(this.flatten(pick('exp_avg')));
      this.v.assign(this.flatten(pick('exp_avg_sq')));
    });
  }

  dispose(): void {
    for (const program of this.programs.values()) program.dispose();
    this.programs.clear();
    this.m.dispose();
    this.v.dispose();
  }
}

/**
 * Scales gradients so that their global L2 norm is at most `maxNorm` (no-op when maxNorm ≤ 0).
 * Returns the norm before clipping as a tensor, so the caller reads it only when it logs.
 */
export function clipByGlobalNorm(
  grads: Record<string, tf.Tensor>,
  maxNorm: number,
): { grads: Record<string, tf.Tensor>; norm: tf.Scalar } {
  const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
  if (!(maxNorm > 0)) return { grads, norm };
  const scale = tf.div(maxNorm, tf.maximum(norm, maxNorm));
  return { grads: mapValues(grads, (grad) => tf.mul(grad, scale)), norm };
}

function mapValues<T, U>(record: Record<string, T>, f: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, f(value)]));
}
