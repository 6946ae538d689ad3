import * as tf from '@tensorflow/tfjs';
import { headDim, type Attention, type ModelConfig } from '../config/model.js';
import { diffAttention } from './attention/diff.js';
import { diff2Attention } from './attention/diff2.js';
import type { AttentionFn, LayerCache } from './attention/shared.js';
import { standardAttention } from './attention/standard.js';
import { linear, rmsNorm, swiGlu } from './layers.js';
import { createParameters, type Parameters } from './parameters.js';
import { createRopeTables, ropeWindow, type RopeTables } from './rope.js';

const ATTENTION: Record<Attention, AttentionFn> = {
  standard: standardAttention,
  diff: diffAttention,
  diff2: diff2Attention,
};

/** Large enough that exp() of it underflows to 0, small enough to keep gradients finite. */
const MASKED = -1e9;

export interface ForwardOptions {
  /** Return each layer's attention maps and hidden states (for analyses; costs nothing when off). */
  capture?: boolean;
  /** Incremental decoding: one cache per layer; `tokens` are the positions after those cached. */
  cache?: LayerCache[];
}

export interface LayerCapture {
  /** The residual stream after the block, [B, T, D]. */
  hidden: tf.Tensor;
  /**
   * The attention maps [B, heads, Tq, Tk] — standard: `attention`; diff and diff2: `a1`, `a2` and the
   * `differential` map the output is made of — the pre-softmax `logits`, and diff2's `lambda` and `gate` [B, H, Tq].
   */
  maps: Record<string, tf.Tensor>;
}

export interface ForwardResult {
  /** [B, T, V] */
  logits: tf.Tensor3D;
  captures?: LayerCapture[];
}

/**
 * A decoder-only language model: embedding → L pre-norm blocks → RMSNorm → LM head.
 * Each block: x = x + Attn(RMSNorm(x)); x = x + SwiGLU(RMSNorm(x)).
 * The model owns its variables and constant tables; callers run `forward` inside `tf.tidy`.
 */
export class Decoder {
  readonly config: ModelConfig;
  readonly params: Parameters;
  private readonly rope: RopeTables;
  /** [seqLen, seqLen] additive causal mask, sliced per call. */
  private readonly causalMask: tf.Tensor2D;
  private readonly attached: { dispose(): void }[] = [];

  constructor(config: ModelConfig, params: Parameters) {
    this.config = config;
    this.params = params;
    this.rope = createRopeTables(config.seqLen, headDim(config), config.ropeBase);
    this.causalMask = tf.tidy(() => {
      const rows = tf.range(0, config.seqLen, 1, 'int32').expandDims(1);
      const cols = tf.range(0, config.seqLen, 1, 'int32').expandDims(0);
      return tf.where(tf.lessEqual(cols, rows), tf.zeros([config.seqLen, config.seqLen]), tf.fill([config.seqLen, config.seqLen], MASKED)) as tf.Tensor2D;
    });
  }

  static create(config: ModelConfig, seed: number): Decoder {
    return new Decoder(config, createParameters(config, seed));
  }

  get variables(): tf.Variable[] {
    return Object.values(this.params);
  }

  /** tokens [B, T] (int32) → logits [B, T, V]. */
  forward(tokens: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult {
    const { config, params } = this;
    const length = tokens.shape[1];
    const offset = options.cache?.[0]?.keys?.shape[1] ?? 0;
    if (offset + length > config.seqLen) {
      throw new Error(`sequence of ${offset + length} positions exceeds model.seqLen = ${config.seqLen}`);
    }
    const rope = ropeWindow(this.rope, offset, length);
    const mask = this.causalMask.slice([offset, 0], [length, offset + length]);
    let stacked: tf.Tensor | undefined;
    const stackedMask = () => (stacked ??= tf.concat([mask, mask], 0));
    const captures: LayerCapture[] = [];

    let x: tf.Tensor = tf.gather(params['embed.weight'], tokens); // [B, T, D]
    for (let layer = 0; layer < config.layers; layer++) {
      const weight = (name: string) => params[`layers.${layer}.${name}`];
      const attended = ATTENTION[config.attention](rmsNorm(x, weight('attn_norm.weight'), config.normEps), {
        config,
        params,
        layer,
        rope,
        rotation: this.rope.rotation,
        mask,
        stackedMask,
        capture: options.capture ?? false,
        cache: options.cache?.[layer],
      });
      x = tf.add(x, attended.out);
      const normed = rmsNorm(x, weight('ffn_norm.weight'), config.normEps);
      x = tf.add(x, swiGlu(normed, weight('ffn.gate_proj.weight'), weight('ffn.up_proj.weight'), weight('ffn.down_proj.weight')));
      if (options.capture) captures.push({ hidden: x, maps: attended.maps ?? {} });
    }
    const final = rmsNorm(x, params['norm.weight'], config.normEps);
    const logits = config.tieEmbeddings
      ? tf.matMul(final.reshape([-1, config.width]), params['embed.weight'], false, true).reshape([tokens.shape[0], length, config.vocabSize])
      : linear(final, params['lm_head.weight']);
    return { logits: logits as tf.Tensor3D, captures: options.capture ? captures : undefined };
  }

  /** Mean next-token cross-entropy (nats) of logits for `inputs` against `targets`, both [B, T]. */
  loss(inputs: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
    return crossEntropy(this.forward(inputs).logits, targets);
  }

  /** A fresh, empty key/value cache for incremental decoding. */
  newCache(): LayerCache[] {
    return Array.from({ length: this.config.layers }, () => ({}));
  }

  /** Ties `resource` (a compiled program reading this model) to the model's lifetime. */
  attach(resource: { dispose(): void }): void {
    this.attached.push(resource);
  }

  dispose(): void {
    for (const resource of this.attached.splice(0)) resource.dispose();
    for (const variable of this.variables) variable.dispose();
    this.rope.cos.dispose();
    this.rope.sin.dispose();
    this.rope.rotation.dispose();
    this.causalMask.dispose();
  }
}

export function disposeCache(cache: LayerCache[]): void {
  for (const layer of cache) {
    layer.keys?.dispose();
    layer.values?.dispose();
  }
}

/** The largest flat index an int32 gather can address. */
export const MAX_FLAT_INDEX = 2 ** 31 - 1;

/**
 * −mean log softmax(logits)[target], picking each target's log-probability from the flattened
 * log-probabilities at row·V + target. That index passes 2³¹ once B·T·V does (o200k at ~10.7k tokens
 * per micro-batch), and TensorFlow's GPU gather returns 0 for it instead of failing: so the rows go
 * in chunks whose flat indices stay within `maxIndex`; below that size (every ordinary batch) there
 * is one chunk and one gather. Measured alternatives: a one-hot mask instead of the gather cost 8%
 * (tensorflow) and 19% (wasm) more per step at V = 4096; a gather along the vocabulary axis with one
 * batch dimension has a tfjs gradient that slices the logits row by row, and fails on wasm.
 */
export function crossEntropy(logits: tf.Tensor3D, targets: tf.Tensor2D, maxIndex = MAX_FLAT_INDEX): tf.Scalar {
  const vocab = logits.shape[2];
  const count = targets.size;
  const logProbs = tf.logSoftmax(logits.reshape([count, vocab]));
  const targetIds = targets.reshape([count]) as tf.Tensor1D;
  const rowsPerChunk = Math.max(1, Math.floor((maxIndex + 1) / vocab));
  const picked: tf.Tensor[] = [];
  for (let start = 0; start < count; start += rowsPerChunk) {
    const rows = Math.min(rowsPerChunk, count - start);
    const chunk = rows === count ? logProbs : logProbs.slice([start, 0], [rows, vocab]);
    const flatIndex = tf.add(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(vocab, 'int32')), rows === count ? targetIds : targetIds.slice(start, rows));
    picked.push(tf.gather(chunk.reshape([rows * vocab]), flatIndex));
  }
  return tf.neg(tf.mean(picked.length === 1 ? picked[0] : tf.concat(picked))) as tf.Scalar;
}
