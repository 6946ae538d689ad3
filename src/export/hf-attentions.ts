import { type Attention, ffnHiddenWidth, headDim, lambdaInit, type ModelConfig } from '../config/model.js';

/**
 * How each attention goes to transformers, one row per attention (undefined: transformers has no
 * class for it). `difft export` and `difft import` read this table both ways.
 */
export interface HfAttention {
  architecture: string;
  modelType: string;
  /** Query and key head order: the export's head h reads difft's head `headOrder(count)[h]`. */
  headOrder(count: number): number[];
  /** Whether value heads are reordered too (diff: value head g, 2d rows, gives heads g and g + H_kv/2). */
  reordersValues: boolean;
  /** Its own tensors of a layer's attention, under the same names in transformers' `self_attn`. */
  vectors: string[];
  /** A per-head norm weight that transformers' class lacks, folded into o_proj's columns (and 1 on import). */
  foldsSubln: boolean;
  /** Its entries of config.json, and of the `difft` section there. */
  config(model: ModelConfig): Record<string, unknown>;
  difftConfig(model: ModelConfig): Record<string, unknown>;
}

const identity = (count: number) => Array.from({ length: count }, (_, h) => h);

/** DiffLlama's head h reads difft sub-head 2h (first half of the heads) or 2(h − n/2) + 1 (second half). */
export function diffHeadOrder(count: number): number[] {
  return Array.from({ length: count }, (_, h) => (h < count / 2 ? 2 * h : 2 * (h - count / 2) + 1));
}

export const HF_ATTENTIONS: Record<Attention, HfAttention | undefined> = {
  standard: {
    architecture: 'LlamaForCausalLM',
    modelType: 'llama',
    headOrder: identity,
    reordersValues: false,
    vectors: [],
    foldsSubln: false,
    config: () => ({}),
    difftConfig: () => ({ lambdaInit: undefined }),
  },
  diff: {
    architecture: 'DiffLlamaForCausalLM',
    modelType: 'diffllama',
    headOrder: diffHeadOrder,
    reordersValues: true,
    vectors: ['lambda_q1', 'lambda_k1', 'lambda_q2', 'lambda_k2'],
    foldsSubln: true,
    config: () => ({ lambda_std_dev: 0.1 }),
    difftConfig: (model) => ({ lambdaInit: Array.from({ length: model.layers }, (_, l) => lambdaInit(model, l)) }),
  },
  // transformers has no class for V2
  diff2: undefined,
};

/** The attention a transformers architecture holds, among those difft exports. */
export function attentionOfArchitecture(architecture: string | undefined): Attention | undefined {
  return (Object.keys(HF_ATTENTIONS) as Attention[]).find(
    (attention) => HF_ATTENTIONS[attention]?.architecture === architecture,
  );
}

/** The model's shape in transformers' config.json keys, the same for every class difft exports to. */
export function hfShape(model: ModelConfig): Record<string, unknown> {
  return {
    vocab_size: model.vocabSize,
    hidden_size: model.width,
    intermediate_size: ffnHiddenWidth(model),
    num_hidden_layers: model.layers,
    num_attention_heads: model.heads,
    num_key_value_heads: model.kvHeads,
    head_dim: headDim(model),
    max_position_embeddings: model.seqLen,
    rms_norm_eps: model.normEps,
    rope_theta: model.ropeBase,
    tie_word_embeddings: model.tieEmbeddings,
  };
}
