import * as tf from '@tensorflow/tfjs';
import { headDim, type ModelConfig } from '../config/model.js';
import type { AttentionDiagnostics } from './attention/diagnostics.js';
import type { LayerCache, LayerCapture } from './attention/shared.js';
import { ATTENTION_VARIANTS } from './attention/variants.js';
import { linear, rmsNorm, swiGlu } from './layers.js';
import type { Parameters } from './parameter-spec.js';
import { createParameters } from './parameters.js';
import { crossEntropy } from './loss.js';
import { DROPOUT_SITES, type Dropout, dropout } from './dropout.js';
import { createRopeTables, ropeAt, ropeWindow, type RopeTables } from './rope.js';

/** Large enough that exp() of it underflows to 0, small enough to keep gradients finite. */
const MASKED = -1e9;

export interface ForwardOptions {
  /** Return each layer's attention maps and hidden states (for analyses; costs nothing when off). */
  capture?: boolean;
  /** Incremental decoding: one cache per layer; `tokens` are the positions after those cached. */
  cache?: LayerCache[];
  /** Training with model.dropout > 0: where the masks' noise comes from (src/model/dropout.ts). */
  dropout?: Dropout;
  /** Evaluation of low-bit attention: attention logits fake-quantized to this many bits (attention/shared.ts). */
  logitBits?: number;
}

export interface ForwardResult {
  /** [B, T, V] */
  logits: tf.Tensor3D;
  captures?: LayerCapture[];
}

export type { LayerCapture };

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

  constructor(config: ModelConfig, params: Parameters) {
    this.config = config;
    this.params = params;
    this.rope = createRopeTables(config.seqLen, headDim(config), config.ropeBase);
    this.causalMask = tf.tidy(() => {
      const rows = tf.range(0, config.seqLen, 1, 'int32').expandDims(1);
      const cols = tf.range(0, config.seqLen, 1, 'int32').expandDims(0);
      return tf.where(
        tf.lessEqual(cols, rows),
        tf.zeros([config.seqLen, config.seqLen]),
        tf.fill([config.seqLen, config.seqLen], MASKED),
      ) as tf.Tensor2D;
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
    const length = tokens.shape[1];
    const offset = options.cache?.[0]?.keys?.shape[1] ?? 0;
    if (offset + length > this.config.seqLen) {
      throw new Error(`sequence of ${offset + length} positions exceeds model.seqLen = ${this.config.seqLen}`);
    }
    const rope = ropeWindow(this.rope, offset, length);
    const mask = this.causalMask.slice([offset, 0], [length, offset + length]);
    return this.blocks(tokens, { rope, mask }, options);
  }

  /**
   * Decoding on caches of a fixed capacity C (keys and values [B, C, nKv·d] per layer, `emptyCache`;
   * compiled decoding, whose shapes must not grow): `tokens` [B, T] sit at `positions` [B, T] (int32, each row its
   * own, below C), their keys and values are written into those slots, and each attends to the slots at
   * or before its position (`logitBits`: low-bit attention, as in `forward`). Returns the logits [B, T, V] and
   * the written caches (new tensors).
   */
  decode(
    tokens: tf.Tensor2D,
    positions: tf.Tensor2D,
    cache: LayerCache[],
    logitBits?: number,
  ): { logits: tf.Tensor3D; cache: LayerCache[] } {
    const capacity = (cache[0].keys as tf.Tensor3D).shape[1];
    const slotIndex = tf.range(0, capacity, 1, 'int32').reshape([1, 1, capacity]);
    const positionIndex = positions.expandDims(2); // [B, T, 1]
    const mask = tf.where(tf.lessEqual(slotIndex, positionIndex), tf.scalar(0), tf.scalar(MASKED)); // [B, T, C]
    const [batch, length] = positions.shape;
    const rows = tf.range(0, batch, 1, 'int32').reshape([batch, 1]).tile([1, length]);
    const slots = tf.stack([rows.reshape([-1]), positions.reshape([-1])], 1); // [B·T, 2]: row, slot
    const written = cache.map(({ keys, values }) => ({ keys, values, slots }));
    const { logits } = this.blocks(tokens, { rope: ropeAt(this.rope, positions), mask }, { cache: written, logitBits });
    return { logits, cache: written.map(({ keys, values }) => ({ keys, values })) };
  }

  /** Embedding → the blocks → RMSNorm → LM head, at the positions `frame` gives (rotary rows and mask). */
  private blocks(
    tokens: tf.Tensor2D,
    frame: { rope: { cos: tf.Tensor; sin: tf.Tensor }; mask: tf.Tensor },
    options: ForwardOptions,
  ): ForwardResult {
    const { config, params } = this;
    const length = tokens.shape[1];
    const { rope, mask } = frame;
    const captures: LayerCapture[] = [];

    const drop = options.dropout;
    let x: tf.Tensor = dropout(tf.gather(params['embed.weight'], tokens), DROPOUT_SITES.embedding, drop); // [B, T, D]
    for (let layer = 0; layer < config.layers; layer++) {
      const weight = (name: string) => params[`layers.${layer}.${name}`];
      const attended = ATTENTION_VARIANTS[config.attention].forward(
        rmsNorm(x, weight('attn_norm.weight'), config.normEps),
        {
          config,
          params,
          layer,
          rope,
          rotation: this.rope.rotation,
          mask,
          capture: options.capture ?? false,
          cache: options.cache?.[layer],
          dropout: drop,
          logitBits: options.logitBits,
        },
      );
      x = tf.add(x, dropout(attended.out, DROPOUT_SITES.attentionOutput(layer), drop));
      const normed = rmsNorm(x, weight('ffn_norm.weight'), config.normEps);
      const ffn = swiGlu(
        normed,
        weight('ffn.gate_proj.weight'),
        weight('ffn.up_proj.weight'),
        weight('ffn.down_proj.weight'),
      );
      x = tf.add(x, dropout(ffn, DROPOUT_SITES.ffnOutput(layer), drop));
      if (options.capture) captures.push({ hidden: x, maps: attended.maps ?? {} });
    }
    const final = rmsNorm(x, params['norm.weight'], config.normEps);
    const logits = config.tieEmbeddings
      ? tf
          .matMul(final.reshape([-1, config.width]), params['embed.weight'], false, true)
          .reshape([tokens.shape[0], length, config.vocabSize])
      : linear(final, params['lm_head.weight']);
    return { logits: logits as tf.Tensor3D, captures: options.capture ? captures : undefined };
  }

  /**
   * Mean next-token cross-entropy (nats) of logits for `inputs` against `targets`, both [B, T];
   * weighted by `weights` ([B, T]) when given; with dropout when `drop` is given (training).
   */
  loss(inputs: tf.Tensor2D, targets: tf.Tensor2D, weights?: tf.Tensor2D, drop?: Dropout): tf.Scalar {
    return crossEntropy(this.forward(inputs, { dropout: drop }).logits, targets, weights);
  }

  /**
   * What the attention tells of its learned state (diff: λ per layer; diff2: its gates over the
   * positions of `inputs`, when given). Numbers, for logs and reports.
   */
  diagnostics(inputs?: tf.Tensor2D): AttentionDiagnostics {
    const variant = ATTENTION_VARIANTS[this.config.attention];
    if (!variant.readsActivations || !inputs) return variant.diagnostics(this.params, this.config);
    let diagnostics: AttentionDiagnostics = {};
    tf.tidy(() => {
      diagnostics = variant.diagnostics(this.params, this.config, this.forward(inputs, { capture: true }).captures);
    });
    return diagnostics;
  }

  /** Empty caches of a fixed capacity for `decode`: keys and values [batch, capacity, nKv·d] per layer, zeros. */
  emptyCache(batch: number, capacity: number): LayerCache[] {
    const width = this.config.kvHeads * headDim(this.config);
    return Array.from({ length: this.config.layers }, () => ({
      keys: tf.zeros([batch, capacity, width]),
      values: tf.zeros([batch, capacity, width]),
    }));
  }

  /** A fresh, empty key/value cache for incremental decoding. */
  newCache(): LayerCache[] {
    return Array.from({ length: this.config.layers }, () => ({}));
  }

  dispose(): void {
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
