import { basename, dirname, join, resolve } from 'node:path';
import { modelCard } from './model-card.js';
import { recoverLeftovers, writeDirectoryAtomically, writeFileDurably } from '../atomic.js';
import { checkOutputDirectory } from '../formats/directory-kind.js';
import { hfTokenizerFiles } from '../data/tokenizer-json.js';
import { readCheckpoint, readWeights, type LoadedCheckpoint } from '../checkpoint/checkpoint.js';
import { writeSafetensors, type NamedArray } from '../checkpoint/safetensors.js';
import { headDim, switchesOff, type ModelConfig } from '../config/model.js';
import { createTokenizer, type TokenizerSpec } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import { HF_ATTENTIONS, type HfAttention, hfShape } from './hf-attentions.js';
import { remoteCodeFiles, remoteConfig, remoteWeights } from './hf-remote.js';
import { EXPORT_FILES, exportFile } from '../formats/export.js';

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
  for (const [row, source] of from.entries())
    data.set(array.data.subarray(source * cols, (source + 1) * cols), row * cols);
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

/** One tensor in both namings; `rows`: the export's row r is difft's row rows[r]. */
interface Mapping {
  difft: string;
  hf: string;
  rows?: number[];
}

/** Every tensor of a standard or diff model and where it goes in transformers' state dict. */
export function hfMappings(config: ModelConfig): Mapping[] {
  const d = headDim(config);
  const { heads, kvHeads } = config;
  const attention = hfAttention(config);
  // diff: query/key sub-heads 2i, 2i+1 → heads i, i + n/2; value head g (2d rows) → heads g and g + H_kv/2
  const queryHeads = attention.headOrder(heads);
  const keyHeads = attention.headOrder(kvHeads);
  const mappings: Mapping[] = [
    { difft: 'embed.weight', hf: 'model.embed_tokens.weight' },
    { difft: 'norm.weight', hf: 'model.norm.weight' },
  ];
  for (let layer = 0; layer < config.layers; layer++) {
    const [from, to] = [`layers.${layer}`, `model.layers.${layer}`];
    mappings.push(
      { difft: `${from}.attn_norm.weight`, hf: `${to}.input_layernorm.weight` },
      { difft: `${from}.ffn_norm.weight`, hf: `${to}.post_attention_layernorm.weight` },
      { difft: `${from}.attn.q_proj.weight`, hf: `${to}.self_attn.q_proj.weight`, rows: headRows(queryHeads, d, true) },
      { difft: `${from}.attn.k_proj.weight`, hf: `${to}.self_attn.k_proj.weight`, rows: headRows(keyHeads, d, true) },
      {
        difft: `${from}.attn.v_proj.weight`,
        hf: `${to}.self_attn.v_proj.weight`,
        rows: attention.reordersValues ? headRows(attention.headOrder(kvHeads), d, false) : undefined,
      },
      { difft: `${from}.attn.out_proj.weight`, hf: `${to}.self_attn.o_proj.weight` },
      ...['gate', 'up', 'down'].map((name) => ({
        difft: `${from}.ffn.${name}_proj.weight`,
        hf: `${to}.mlp.${name}_proj.weight`,
      })),
      ...attention.vectors.map((name) => ({ difft: `${from}.attn.${name}`, hf: `${to}.self_attn.${name}` })),
    );
  }
  if (!config.tieEmbeddings) mappings.push({ difft: 'lm_head.weight', hf: 'lm_head.weight' });
  return mappings;
}

/** The transformers row of `config`'s attention (exportHf refuses those without one first). */
function hfAttention(config: ModelConfig): HfAttention {
  const attention = HF_ATTENTIONS[config.attention];
  if (!attention) throw new Error(`${config.attention} has no transformers class`);
  return attention;
}

function lookup(tensors: Tensors, name: string, where: string): NamedArray {
  const array = tensors[name];
  if (!array) throw new UserError(`${where} has no tensor ${name}`);
  return array;
}

/** The transformers state dict of a difft model, from its stored tensors ([out, in] linear maps). */
export function hfWeights(config: ModelConfig, stored: Tensors): Tensors {
  const weights: Tensors = {};
  for (const { difft, hf, rows } of hfMappings(config)) {
    const array = lookup(stored, difft, 'the checkpoint');
    weights[hf] = rows ? takeRows(array, rows) : array;
  }
  if (hfAttention(config).foldsSubln) {
    // DiffLlama's per-head norm has no weight: difft's subln weight goes into o_proj's columns
    const width = 2 * headDim(config);
    for (let layer = 0; layer < config.layers; layer++) {
      const subln = lookup(stored, `layers.${layer}.attn.subln.weight`, 'the checkpoint').data;
      const oProj = weights[`model.layers.${layer}.self_attn.o_proj.weight`];
      const columns = oProj.shape[1];
      weights[`model.layers.${layer}.self_attn.o_proj.weight`] = {
        shape: oProj.shape,
        data: oProj.data.map((value, i) => value * subln[(i % columns) % width]),
      };
    }
  }
  return weights;
}

/**
 * difft's stored tensors from a transformers state dict: the mappings inverted; diff's subln weight is 1 (its scale
 * lives in o_proj).
 */
export function difftWeights(config: ModelConfig, weights: Tensors, where: string): Tensors {
  const stored: Tensors = {};
  for (const { difft, hf, rows } of hfMappings(config)) {
    const array = lookup(weights, hf, where);
    stored[difft] = rows ? takeRows(array, inverse(rows)) : array;
  }
  if (hfAttention(config).foldsSubln) {
    for (let layer = 0; layer < config.layers; layer++)
      stored[`layers.${layer}.attn.subln.weight`] = {
        shape: [2 * headDim(config)],
        data: new Float32Array(2 * headDim(config)).fill(1),
      };
  }
  return stored;
}

function inverse(order: number[]): number[] {
  const out = new Array<number>(order.length);
  order.forEach((source, target) => {
    out[source] = target;
  });
  return out;
}

/** config.json for transformers. */
export function hfConfig(checkpoint: LoadedCheckpoint): Record<string, unknown> {
  const { model, tokenizer } = checkpoint.config;
  const attention = hfAttention(model);
  const endOfText = endOfTextId(tokenizer);
  return {
    architectures: [attention.architecture],
    model_type: attention.modelType,
    ...hfShape(model),
    hidden_act: 'silu',
    rope_scaling: null,
    attention_bias: false,
    attention_dropout: 0,
    mlp_bias: false,
    initializer_range: model.initStd,
    torch_dtype: 'float32',
    ...attention.config(model),
    ...(endOfText !== undefined ? { bos_token_id: endOfText, eos_token_id: endOfText } : {}),
    difft: {
      attention: model.attention,
      ffnMultiple: model.ffnMultiple,
      ...attention.difftConfig(model),
      tokenizer: describeTokenizer(checkpoint),
    },
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
  if (spec.kind === 'bpe')
    return {
      kind: 'bpe',
      vocabSize: spec.vocabSize,
      rule: `byte-level BPE trained on the corpus: ${EXPORT_FILES.tokenizer}`,
    };
  return {
    kind: 'char',
    rule: 'token id = index of the character in symbols; 0 is the unknown symbol',
    symbols: spec.symbols,
  };
}

export function exportHf(path: string, out: string): HfExport {
  const checkpoint = readCheckpoint(path);
  const { model } = checkpoint.config;
  // Llama and DiffLlama take a head width of their own (head_dim), but hard-code every other switch: the rest
  // (and diff2, which transformers has no class for) go with a modeling file of their own
  const native =
    HF_ATTENTIONS[model.attention] !== undefined && switchesOff(model).every((s) => s.startsWith('headDim='));
  const stored = readWeights(checkpoint);
  const weights = native ? hfWeights(model, stored) : remoteWeights(stored);
  const dir = resolve(out);
  // an earlier export is replaced whole; anything else (a run, a checkpoint, someone's folder) is left alone
  checkOutputDirectory(dir, 'export --out', ['export'], 'choose a new or empty directory, or an earlier export');
  recoverLeftovers(dirname(dir), basename(dir));
  const config = native ? hfConfig(checkpoint) : remoteHfConfig(checkpoint);
  const architecture = (config.architectures as string[])[0];
  const generation = {
    ...(config.eos_token_id !== undefined
      ? { bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id }
      : {}),
    max_length: model.seqLen,
  };
  const texts: Record<string, string> = {
    [EXPORT_FILES.config]: `${JSON.stringify(config, null, 2)}\n`,
    [EXPORT_FILES.generation]: `${JSON.stringify(generation, null, 2)}\n`,
    ...hfTokenizerFiles(checkpoint.config.tokenizer, model.seqLen),
    ...(native ? {} : remoteCodeFiles()),
    [EXPORT_FILES.card]: modelCard(checkpoint, { architecture, remoteCode: !native }),
  };
  writeDirectoryAtomically(dir, (temporary) => {
    writeSafetensors(exportFile(temporary, 'weights'), weights, { 'difft.source': checkpoint.dir });
    for (const [name, text] of Object.entries(texts)) writeFileDurably(join(temporary, name), text);
  });
  const files = [EXPORT_FILES.weights, ...Object.keys(texts)].map((name) => join(dir, name));
  return { dir, architecture, tensors: Object.keys(weights).length, files };
}

/** config.json of an export with its own modeling code: DifftConfig's keys, and the difft section. */
function remoteHfConfig(checkpoint: LoadedCheckpoint): Record<string, unknown> {
  const { model, tokenizer } = checkpoint.config;
  const endOfText = endOfTextId(tokenizer);
  return {
    ...remoteConfig(model),
    ...(endOfText !== undefined ? { bos_token_id: endOfText, eos_token_id: endOfText } : {}),
    difft: { attention: model.attention, ffnMultiple: model.ffnMultiple, tokenizer: describeTokenizer(checkpoint) },
  };
}
