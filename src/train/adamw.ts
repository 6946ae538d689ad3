import * as tf from '@tensorflow/tfjs';

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

export class AdamW {
  readonly options: AdamWOptions;
  /** Number of updates applied so far (t in the bias corrections). */
  step = 0;
  private readonly names: string[];
  private readonly params: tf.Variable[];
  private readonly sizes: number[];
  /** First and second moment estimates of every entry, flat. */
  private readonly m: tf.Variable;
  private readonly v: tf.Variable;
  /** Whether each parameter is weight-decayed. */
  private readonly decayed: boolean[];
  private readonly attached: { dispose(): void }[] = [];

  constructor(params: Record<string, tf.Variable>, decays: (name: string) => boolean, options: Partial<AdamWOptions> = {}) {
    this.options = { ...ADAMW_DEFAULTS, ...options };
    this.names = Object.keys(params);
    this.params = this.names.map((name) => params[name]);
    this.sizes = this.params.map((param) => param.size);
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
    return tf.split(flat, this.sizes).map((part, i) => part.reshape(this.params[i].shape));
  }

  /** Applies one update with learning rate `lr` from gradients keyed by parameter name. */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    tf.tidy(() => this.applyFlat(this.flatten(grads), lr));
  }

  /** Applies one update from the flattened gradient (see `flatten`). */
  applyFlat(grad: tf.Tensor1D, lr: number): void {
    tf.tidy(() => this.adopt(this.nextState(grad, this.updateScalars(lr))));
  }

  /** What an update reads and replaces: every parameter (in flatten order), then m, then v. */
  get state(): tf.Variable[] {
    return [...this.params, this.m, this.v];
  }

  /**
   * The numbers of update number `step + 1` as scalar tensors: lr, lr·wd and the two bias
   * corrections 1 − β1ᵗ, 1 − β2ᵗ (computed here in double precision, as before compilation existed).
   */
  updateScalars(lr: number): tf.Scalar[] {
    const { beta1, beta2, weightDecay } = this.options;
    const step = this.step + 1;
    return [lr, lr * weightDecay, 1 - beta1 ** step, 1 - beta2 ** step].map((value) => tf.scalar(value));
  }

  /**
   * The state after one update from the flat gradient, as new tensors in `state` order. A pure
   * function of the current state, the gradient and `updateScalars`, so that it can be compiled.
   */
  nextState(grad: tf.Tensor1D, [lr, lrDecay, correction1, correction2]: tf.Scalar[]): tf.Tensor[] {
    const { beta1, beta2, eps } = this.options;
    const m = this.m.mul(beta1).add(grad.mul(1 - beta1));
    const v = this.v.mul(beta2).add(grad.square().mul(1 - beta2));
    // lr · (m / c1) / (sqrt(v / c2) + ε), with lr / c1 one scalar: each pass over the vector costs
    // memory bandwidth (the update is memory-bound), a scalar operation costs nothing
    const step = m.div(v.div(correction2).sqrt().add(eps)).mul(tf.div(lr, correction1));
    const keep = tf.sub(1, lrDecay); // decoupled weight decay: θ ← θ·(1 − lr·wd)
    const steps = tf.split(step, this.sizes);
    const params = this.params.map((param, i) => (this.decayed[i] ? param.mul(keep) : param).sub(steps[i].reshape(param.shape)));
    return [...params, m, v];
  }

  /** Makes `next` (from nextState) the state and counts the update. */
  adopt(next: tf.Tensor[]): void {
    this.state.forEach((variable, i) => {
      variable.assign(next[i]);
    });
    this.step += 1;
  }

  /** Ties `resource` (a compiled program of a step using this optimizer) to the optimizer's lifetime. */
  attach(resource: { dispose(): void }): void {
    this.attached.push(resource);
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
        out[`${name}.exp_avg`] = m[i];
        out[`${name}.exp_avg_sq`] = v[i];
      });
      return out;
    });
  }

  /** The shapes momentTensors() returns, by name (what a checkpoint must hold). */
  momentShapes(): Record<string, number[]> {
    const shapes: Record<string, number[]> = {};
    this.names.forEach((name, i) => {
      shapes[`${name}.exp_avg`] = this.params[i].shape;
      shapes[`${name}.exp_avg_sq`] = this.params[i].shape;
    });
    return shapes;
  }

  /** Sets the moments from tensors named and shaped as momentTensors() gives them. */
  setMoments(moments: Record<string, tf.Tensor>): void {
    tf.tidy(() => {
      const pick = (suffix: string) => Object.fromEntries(this.names.map((name) => [name, moments[`${name}.${suffix}`]]));
      this.m.assign(this.flatten(pick('exp_avg')));
      this.v.assign(this.flatten(pick('exp_avg_sq')));
    });
  }

  dispose(): void {
    for (const resource of this.attached.splice(0)) resource.dispose();
    this.m.dispose();
    this.v.dispose();
  }
}
