import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomically } from '../atomic.js';
import { readCheckpoint, type LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { readSafetensors, writeSafetensors, type NamedArray } from '../checkpoint/safetensors.js';
import { ffnHiddenWidth, headDim, type ModelConfig } from '../config/model.js';
import { createTokenizer, type TokenizerSpec } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import { lambdaInit } from '../model/attention/diff.js';

/**
 * `difft export --format hf`: a checkpoint as a Hugging Face transformers directory, `standard` as
 * LlamaForCausalLM and `diff` as DiffLlamaForCausalLM, equal to the logit. The checkpoint already
 * stores linear maps [out, in] as PyTorch does; what has to change is where rows sit:
 *
 * - RoPE: difft rotates adjacent pairs (2j, 2j+1) of a head, transformers rotates (j, j + d/2)
 *   ("rotate_half"), both with frequency base^(−2j/d). Row 2j of a head goes to row j, row 2j+1 to
 *   row j + d/2, in every query and key head (values are not rotated).
 * - Head pairing (diff): difft's differential head i reads query sub-heads 2i (A1) and 2i+1 (A2) and
 *   key sub-heads 2g, 2g+1 of its kv group g, with a 2d-wide value head g. DiffLlama chunks the head
 *   axis in halves: head i and head i + H/2 form differential head i; kv head g and g + H_kv/2 give
 *   A1's and A2's keys, and its value is [v_g ; v_{g+H_kv/2}]. So sub-head 2i → head i, 2i+1 → head
 *   i + H/2 (queries, and keys with H_kv), and value head g's first d rows → head g, last d → head
 *   g + H_kv/2.
 * - DiffLlama's per-head norm has no weight; difft's `subln` weight (2d, shared by the heads) only
 *   ever meets o_proj, so it is folded into o_proj's columns: column j·2d + c times w[c].
 */
export interface HfExport {
  dir: string;
  architecture: string;
  tensors: number;
  files: string[];
}

type Tensors = Record<string, NamedArray>;

/** Rows of a [rows, cols] matrix taken in the order `from` gives: out row r = in row from[r]. */
function takeRows(array: NamedArray, from: number[]): NamedArray {
  const [rows, cols] = array.shape;
  if (from.length !== rows) throw new Error(`row permutation of ${from.length} for ${rows} rows`);
  const data = new Float32Array(rows * cols);
  for (const [row, source] of from.entries()) data.set(array.data.subarray(source * cols, (source + 1) * cols), row * cols);
  return { shape: array.shape, data };
}

/** Within one head of width d: transformers' dimension j reads difft's 2j (j < d/2) or 2(j − d/2) + 1. */
export function ropeOrder(d: number): number[] {
  return Array.from({ length: d }, (_, j) => (j < d / 2 ? 2 * j : 2 * (j - d / 2) + 1));
}

/** Row order of a projection with `heads` heads of width d: head h of the export reads difft head headFrom[h]. */
function headRows(headFrom: number[], d: number, rotate: boolean): number[] {
  const within = rotate ? ropeOrder(d) : Array.from({ length: d }, (_, j) => j);
  return headFrom.flatMap((source) => within.map((j) => source * d + j));
}

/** DiffLlama's head h reads difft sub-head 2h (first half of the heads) or 2(h − n/2) + 1 (second half). */
export function diffHeadOrder(count: number): number[] {
  return Array.from({ length: count }, (_, h) => (h < count / 2 ? 2 * h : 2 * (h - count / 2) + 1));
}

const identity = (count: number) => Array.from({ length: count }, (_, h) => h);

function attentionWeights(config: ModelConfig, get: (name: string) => NamedArray, layer: number): Tensors {
  const d = headDim(config);
  const { heads, kvHeads } = config;
  const at = (name: string) => get(`layers.${layer}.attn.${name}`);
  const out = `model.layers.${layer}.self_attn`;
  if (config.attention === 'standard') {
    return {
      [`${out}.q_proj.weight`]: takeRows(at('q_proj.weight'), headRows(identity(heads), d, true)),
      [`${out}.k_proj.weight`]: takeRows(at('k_proj.weight'), headRows(identity(kvHeads), d, true)),
      [`${out}.v_proj.weight`]: at('v_proj.weight'),
      [`${out}.o_proj.weight`]: at('out_proj.weight'),
    };
  }
  // diff: value head g (2d rows) splits into heads g and g + H_kv/2 of width d
  const valueFrom = Array.from({ length: kvHeads }, (_, h) => (h < kvHeads / 2 ? 2 * h : 2 * (h - kvHeads / 2) + 1));
  const subln = at('subln.weight').data;
  const oProj = at('out_proj.weight'); // [D, heads·d] = [D, (H/2)·2d]
  const folded = new Float32Array(oProj.data.length);
  const columns = oProj.shape[1];
  for (let i = 0; i < folded.length; i++) folded[i] = oProj.data[i] * subln[(i % columns) % (2 * d)];
  const weights: Tensors = {
    [`${out}.q_proj.weight`]: takeRows(at('q_proj.weight'), headRows(diffHeadOrder(heads), d, true)),
    [`${out}.k_proj.weight`]: takeRows(at('k_proj.weight'), headRows(diffHeadOrder(kvHeads), d, true)),
    [`${out}.v_proj.weight`]: takeRows(at('v_proj.weight'), headRows(valueFrom, d, false)),
    [`${out}.o_proj.weight`]: { shape: oProj.shape, data: folded },
  };
  for (const vector of ['lambda_q1', 'lambda_k1', 'lambda_q2', 'lambda_k2']) weights[`${out}.${vector}`] = at(vector);
  return weights;
}

/** The transformers state dict of a difft model, from its stored tensors ([out, in] linear maps). */
export function hfWeights(config: ModelConfig, stored: Tensors): Tensors {
  const get = (name: string) => {
    const array = stored[name];
    if (!array) throw new UserError(`the checkpoint has no tensor ${name}: it is damaged or not a ${config.attention} model`);
    return array;
  };
  const weights: Tensors = { 'model.embed_tokens.weight': get('embed.weight'), 'model.norm.weight': get('norm.weight') };
  for (let layer = 0; layer < config.layers; layer++) {
    const prefix = `model.layers.${layer}`;
    Object.assign(weights, attentionWeights(config, get, layer), {
      [`${prefix}.input_layernorm.weight`]: get(`layers.${layer}.attn_norm.weight`),
      [`${prefix}.post_attention_layernorm.weight`]: get(`layers.${layer}.ffn_norm.weight`),
      [`${prefix}.mlp.gate_proj.weight`]: get(`layers.${layer}.ffn.gate_proj.weight`),
      [`${prefix}.mlp.up_proj.weight`]: get(`layers.${layer}.ffn.up_proj.weight`),
      [`${prefix}.mlp.down_proj.weight`]: get(`layers.${layer}.ffn.down_proj.weight`),
    });
  }
  if (!config.tieEmbeddings) weights['lm_head.weight'] = get('lm_head.weight');
  return weights;
}

/** config.json for transformers. */
export function hfConfig(checkpoint: LoadedCheckpoint): Record<string, unknown> {
  const { model, tokenizer } = checkpoint.config;
  const diff = model.attention === 'diff';
  const endOfText = endOfTextId(tokenizer);
  return {
    architectures: [diff ? 'DiffLlamaForCausalLM' : 'LlamaForCausalLM'],
    model_type: diff ? 'diffllama' : 'llama',
    vocab_size: model.vocabSize,
    hidden_size: model.width,
    intermediate_size: ffnHiddenWidth(model),
    num_hidden_layers: model.layers,
    num_attention_heads: model.heads,
    num_key_value_heads: model.kvHeads,
    head_dim: headDim(model),
    hidden_act: 'silu',
    max_position_embeddings: model.seqLen,
    rms_norm_eps: model.normEps,
    rope_theta: model.ropeBase,
    rope_scaling: null,
    attention_bias: false,
    attention_dropout: 0,
    mlp_bias: false,
    tie_word_embeddings: model.tieEmbeddings,
    initializer_range: model.initStd,
    torch_dtype: 'float32',
    ...(diff ? { lambda_std_dev: 0.1 } : {}),
    ...(endOfText !== undefined ? { bos_token_id: endOfText, eos_token_id: endOfText } : {}),
    difft: { attention: model.attention, lambdaInit: diff ? Array.from({ length: model.layers }, (_, l) => lambdaInit(l)) : undefined, tokenizer: describeTokenizer(checkpoint) },
  };
}

function endOfTextId(spec: TokenizerSpec): number | undefined {
  const tokenizer = createTokenizer(spec);
  try {
    return tokenizer.endOfText;
  } finally {
    tokenizer.free();
  }
}

/** How to tokenise for the exported model: the transformers tokenizer that matches, or the vocabulary itself. */
function describeTokenizer(checkpoint: LoadedCheckpoint): Record<string, unknown> {
  const spec = checkpoint.config.tokenizer;
  if (spec.kind === 'tiktoken') {
    const matching: Record<string, string> = {
      gpt2: 'gpt2',
      r50k_base: 'gpt2',
      p50k_base: 'p50k_base (tiktoken)',
      cl100k_base: 'cl100k_base (tiktoken)',
      o200k_base: 'o200k_base (tiktoken)',
    };
    return { kind: 'tiktoken', encoding: spec.name, transformers: matching[spec.name] };
  }
  if (spec.kind === 'byte') return { kind: 'byte', rule: 'token id = UTF-8 byte value (0–255)' };
  return { kind: 'char', rule: 'token id = index of the character in symbols; 0 is the unknown symbol', symbols: spec.symbols };
}

export function exportHf(path: string, out: string): HfExport {
  const checkpoint = readCheckpoint(path);
  const { model } = checkpoint.config;
  if (model.attention === 'diff2') {
    throw new UserError(
      `${checkpoint.dir} is a diff2 model (Differential Transformer V2): transformers has no class for it; export a standard (Llama) or diff (DiffLlama) checkpoint`,
    );
  }
  const { tensors } = readSafetensors(join(checkpoint.dir, 'model.safetensors'));
  const weights = hfWeights(model, tensors);
  const dir = resolve(out);
  mkdirSync(dir, { recursive: true });
  const config = hfConfig(checkpoint);
  const files = ['model.safetensors', 'config.json', 'generation_config.json'].map((file) => join(dir, file));
  writeSafetensors(files[0], weights, { 'difft.source': checkpoint.dir });
  writeFileAtomically(files[1], `${JSON.stringify(config, null, 2)}\n`);
  const generation = { ...(config.eos_token_id !== undefined ? { bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id } : {}), max_length: model.seqLen };
  writeFileAtomically(files[2], `${JSON.stringify(generation, null, 2)}\n`);
  return { dir, architecture: (config.architectures as string[])[0], tensors: Object.keys(weights).length, files };
}
