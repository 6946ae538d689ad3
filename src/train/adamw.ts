import * as tf from '@tensorflow/tfjs';

/**
 * AdamW (Loshchilov & Hutter): Adam on the gradient, plus weight decay applied to the weights
 * directly rather than through the gradient, and only to the parameters `decays` selects
 * (2-D weight matrices; not norms, λ vectors or biases). tfjs has only coupled L2, hence this file.
 *   m ← β1·m + (1−β1)·g        v ← β2·v + (1−β2)·g²
 *   θ ← θ − lr·wd·θ − lr · (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε)
 */
export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

interface Slot {
  param: tf.Variable;
  decays: boolean;
  /** First and second moment estimates. */
  m: tf.Variable;
  v: tf.Variable;
}

export class AdamW {
  readonly options: AdamWOptions;
  /** Number of updates applied so far (t in the bias corrections). */
  step = 0;
  private readonly slots = new Map<string, Slot>();

  constructor(params: Record<string, tf.Variable>, decays: (name: string) => boolean, options: Partial<AdamWOptions> = {}) {
    this.options = { ...ADAMW_DEFAULTS, ...options };
    for (const [name, param] of Object.entries(params)) {
      this.slots.set(name, {
        param,
        decays: decays(name),
        m: tf.tidy(() => tf.variable(tf.zerosLike(param), false)),
        v: tf.tidy(() => tf.variable(tf.zerosLike(param), false)),
      });
    }
  }

  /** Applies one update with learning rate `lr` from gradients keyed by parameter name. */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const { beta1, beta2, eps, weightDecay } = this.options;
    const correction1 = 1 - Math.pow(beta1, this.step);
    const correction2 = 1 - Math.pow(beta2, this.step);
    tf.tidy(() => {
      for (const [name, slot] of this.slots) {
        const grad = grads[name];
        if (!grad) throw new Error(`no gradient for parameter ${name}`);
        const m = slot.m.mul(beta1).add(grad.mul(1 - beta1));
        const v = slot.v.mul(beta2).add(grad.square().mul(1 - beta2));
        slot.m.assign(m);
        slot.v.assign(v);
        const update = m.div(correction1).div(v.div(correction2).sqrt().add(eps));
        const decayed = slot.decays ? slot.param.mul(1 - lr * weightDecay) : slot.param;
        slot.param.assign(decayed.sub(update.mul(lr)));
      }
    });
  }

  /** The moments by name (`<param>.exp_avg`, `<param>.exp_avg_sq`), for checkpoints. */
  stateTensors(): Record<string, tf.Variable> {
    const state: Record<string, tf.Variable> = {};
    for (const [name, slot] of this.slots) {
      state[`${name}.exp_avg`] = slot.m;
      state[`${name}.exp_avg_sq`] = slot.v;
    }
    return state;
  }

  dispose(): void {
    for (const slot of this.slots.values()) {
      slot.m.dispose();
      slot.v.dispose();
    }
  }
}
