import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CHECKPOINT_FORMAT,
  DIFFT_VERSION,
  modelFromStored,
  saveCheckpoint,
  zeroMoments,
} from '../checkpoint/checkpoint.js';
import { type NamedArray, readSafetensors } from '../checkpoint/safetensors.js';
import { resolveConfig } from '../config/load.js';
import {
  ATTENTIONS,
  type Attention,
  ffnHiddenWidth,
  headNormOn,
  resolveModelConfig,
  type ModelConfig,
} from '../config/model.js';
import { TIKTOKEN_NAMES, type TiktokenName } from '../config/tokenizers.js';
import { checkTokenizerName, createTokenizer, tokenizerName, type TokenizerSpec } from '../data/tokenizer.js';
import { UserError } from '../errors.js';
import { checkOutputDirectory } from '../formats/directory-kind.js';
import { lockDirectory } from '../lock.js';
import { availableMemory, describeEstimate, estimateImportMemory, gibibytes } from '../train/memory.js';
import { difftWeights } from './hf.js';
import { tokenizerFromHfFile } from '../data/tokenizer-json.js';
import { EXPORT_FILES, exportFile } from '../formats/export.js';
import { stepDirName } from '../formats/run.js';
import { attentionOfArchitecture } from './hf-attentions.js';
import { REMOTE_ARCHITECTURE } from './hf-remote.js';

/**
 * `difft import DIR`: a transformers Llama or DiffLlama directory (config.json + model.safetensors,
 * float32) as a difft checkpoint, so that it can be evaluated, analysed, sampled or trained further.
 * The inverse of `difft export`: the same mappings read backwards; diff's subln weight is 1 (its scale
 * is already in o_proj). What difft cannot hold is refused, naming the config key.
 */
export interface ImportOptions {
  /** The tokenizer, when the directory was not written by difft (which records its own). */
  tokenizer?: string;
  /**
   * Context length, when max_position_embeddings is larger than wanted (RoPE tables and the mask grow with its square).
   */
  seqLen?: number;
  /** Import even when the memory estimate exceeds what the machine has. */
  skipMemoryCheck?: boolean;
}

interface HfConfigFile {
  architectures?: string[];
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  hidden_act?: string;
  max_position_embeddings: number;
  rms_norm_eps: number;
  rope_theta?: number;
  rope_scaling?: unknown;
  attention_bias?: boolean;
  mlp_bias?: boolean;
  tie_word_embeddings?: boolean;
  initializer_range?: number;
  difft?: { ffnMultiple?: number; tokenizer?: { kind: string; encoding?: string; symbols?: string[] } };
  // an export with its own modeling code (src/export/hf-remote.ts): the attention and its switches
  attention?: Attention;
  head_norm?: boolean;
  lambda_init?: ModelConfig['lambdaInit'];
  lambda_mode?: ModelConfig['lambda'];
  output_scale?: boolean;
  gate?: ModelConfig['gate'];
  pairing?: ModelConfig['pairing'];
}

/** The attention and switches of an export with its own modeling code, as difft's model keys. */
function remoteSwitches(dir: string, hf: HfConfigFile): Partial<ModelConfig> {
  const attention = hf.attention;
  if (!attention || !ATTENTIONS.includes(attention))
    refuse(dir, `attention ${JSON.stringify(attention)}: a ${REMOTE_ARCHITECTURE} is standard, diff or diff2`);
  const ownNorm = headNormOn({ attention, headNorm: 'auto' });
  return {
    attention,
    headNorm: hf.head_norm === undefined || hf.head_norm === ownNorm ? 'auto' : hf.head_norm ? 'on' : 'off',
    ...(hf.lambda_init !== undefined ? { lambdaInit: hf.lambda_init } : {}),
    ...(hf.lambda_mode !== undefined ? { lambda: hf.lambda_mode } : {}),
    ...(hf.output_scale !== undefined ? { outputScale: hf.output_scale } : {}),
    ...(hf.gate !== undefined ? { gate: hf.gate } : {}),
    ...(hf.pairing !== undefined ? { pairing: hf.pairing } : {}),
  };
}

const LARGEST_CONTEXT = 16384;

function refuse(dir: string, why: string): never {
  throw new UserError(`${exportFile(dir, 'config')}: ${why}`);
}

/** difft's model config for a transformers config, or a one-line refusal naming what does not fit. */
export function modelConfigFromHf(dir: string, hf: HfConfigFile, seqLen?: number): ModelConfig {
  const architecture = hf.architectures?.[0];
  const remote = architecture === REMOTE_ARCHITECTURE;
  const attention = remote ? remoteSwitches(dir, hf).attention : attentionOfArchitecture(architecture);
  if (!attention)
    refuse(
      dir,
      `architectures ${JSON.stringify(hf.architectures)}: difft imports LlamaForCausalLM (standard), ` +
        `DiffLlamaForCausalLM (diff) and its own ${REMOTE_ARCHITECTURE}`,
    );
  if ((hf.hidden_act ?? 'silu') !== 'silu') refuse(dir, `hidden_act ${hf.hidden_act}: difft's FFN is SwiGLU (silu)`);
  if (hf.rope_scaling) refuse(dir, 'rope_scaling is set: difft has plain RoPE only');
  if (hf.attention_bias || hf.mlp_bias) refuse(dir, 'attention_bias / mlp_bias: difft has no biases');
  // a head width of its own is model.headDim; one that D / H gives is the default
  const headDim =
    hf.head_dim === undefined || hf.head_dim * hf.num_attention_heads === hf.hidden_size ? 0 : hf.head_dim;
  const ffnMultiple = hf.difft?.ffnMultiple ?? hf.intermediate_size;
  const context = seqLen ?? hf.max_position_embeddings;
  if (context > LARGEST_CONTEXT)
    refuse(
      dir,
      `max_position_embeddings ${hf.max_position_embeddings}: pass --seq-len N (at most ${LARGEST_CONTEXT}) for ` +
        `the context difft should hold`,
    );
  const config = resolveModelConfig({
    attention,
    vocabSize: hf.vocab_size,
    layers: hf.num_hidden_layers,
    width: hf.hidden_size,
    heads: hf.num_attention_heads,
    kvHeads: hf.num_key_value_heads ?? hf.num_attention_heads,
    seqLen: context,
    ffnMultiple,
    tieEmbeddings: hf.tie_word_embeddings ?? false,
    ropeBase: hf.rope_theta ?? 10000,
    normEps: hf.rms_norm_eps,
    initStd: hf.initializer_range ?? 0.02,
    headDim,
    ...(remote ? remoteSwitches(dir, hf) : {}),
  });
  // a SwiGLU width that 8/3·D rounded up to a multiple of ffnMultiple does not give is held as it is
  return ffnHiddenWidth(config) === hf.intermediate_size ? config : { ...config, ffnHidden: hf.intermediate_size };
}

/** The tokenizer its `tokenizer.json` expresses, when that is one difft can hold. */
function tokenizerFromFiles(dir: string): TokenizerSpec | undefined {
  const path = exportFile(dir, 'tokenizer');
  if (!existsSync(path)) return undefined;
  try {
    return tokenizerFromHfFile(JSON.parse(readFileSync(path, 'utf8')));
  } catch (error) {
    throw new UserError(`${path}: not a tokenizers file (${(error as Error).message.split('\n')[0]})`);
  }
}

function tokenizerFor(dir: string, hf: HfConfigFile, given?: string): TokenizerSpec {
  const recorded = hf.difft?.tokenizer;
  const fromFiles = given ? undefined : tokenizerFromFiles(dir);
  if (fromFiles) return fromFiles;
  const name = given ?? (recorded?.kind === 'tiktoken' ? recorded.encoding : recorded?.kind);
  if (!name)
    throw new UserError(
      `${dir}: its tokenizer is none difft holds (byte, char, or a tiktoken encoding: ${TIKTOKEN_NAMES.join(', ')}); ` +
        `name the one the model was trained with by --tokenizer`,
    );
  const checked = checkTokenizerName(name);
  if (checked === 'byte') return { kind: 'byte' };
  if (checked === 'char') {
    if (!recorded?.symbols)
      throw new UserError(`--tokenizer char needs the vocabulary of the model, which only a difft export carries`);
    return { kind: 'char', symbols: recorded.symbols };
  }
  if (!(TIKTOKEN_NAMES as readonly string[]).includes(checked))
    throw new UserError(
      `--tokenizer ${checked} needs the merges it was trained with, which only its ` +
        `${EXPORT_FILES.tokenizer} carries: import a directory that has one, or name one of byte, ` +
        `${TIKTOKEN_NAMES.join(', ')}`,
    );
  return { kind: 'tiktoken', name: checked as TiktokenName };
}

/** A tokenizer whose ids reach past the model's embedding would fail at the first such token. */
function checkVocabulary(dir: string, tokenizer: TokenizerSpec, model: ModelConfig): void {
  const { vocabSize } = createTokenizer(tokenizer);
  if (vocabSize > model.vocabSize)
    throw new UserError(
      `${dir}: tokenizer ${tokenizerName(tokenizer)} has ${vocabSize} tokens, more than the model's vocabulary ` +
        `of ${model.vocabSize}: name the tokenizer the model was trained with`,
    );
}

export function importHf(
  dir: string,
  out: string,
  options: ImportOptions = {},
): { checkpoint: string; attention: string } {
  const configPath = exportFile(dir, 'config');
  const weightsPath = exportFile(dir, 'weights');
  for (const path of [configPath, weightsPath])
    if (!existsSync(path))
      throw new UserError(
        `${path} not found: difft imports a transformers directory with ${EXPORT_FILES.config} and ` +
          `${EXPORT_FILES.weights} (float32)`,
      );
  const hf = readHfConfig(configPath);
  const model = modelConfigFromHf(dir, hf, options.seqLen);
  const tokenizer = tokenizerFor(dir, hf, options.tokenizer);
  checkVocabulary(dir, tokenizer, model);
  checkImportMemory(dir, model, options.skipMemoryCheck ?? false);
  const runDir = resolve(out);
  checkOutputDirectory(runDir, 'import --out', [], 'an import goes into a new or empty directory');
  const lock = lockDirectory(runDir, 'importing');
  try {
    return writeImport(runDir, model, tokenizer, weightsPath, hf.architectures?.[0] === REMOTE_ARCHITECTURE);
  } finally {
    lock.release();
  }
}

function readHfConfig(path: string): HfConfigFile {
  try {
    const config = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (!config || typeof config !== 'object' || Array.isArray(config)) throw new Error('not a JSON object');
    return config as HfConfigFile;
  } catch (error) {
    throw new UserError(`${path}: not a transformers config (${(error as Error).message.split('\n')[0]})`);
  }
}

/** Refuses, before the weights are read, an import the machine cannot hold (as training does). */
function checkImportMemory(dir: string, model: ModelConfig, skip: boolean): void {
  const estimate = estimateImportMemory(model, tf.getBackend());
  const available = availableMemory();
  if (estimate.bytes > available && !skip)
    throw new UserError(
      `importing ${dir} needs ${describeEstimate(estimate)}, more than the ${gibibytes(available)} this machine ` +
        `has; pass --skip-memory-check to try anyway`,
    );
}

function unprefixed(tensors: Record<string, NamedArray>): Record<string, NamedArray> {
  return Object.fromEntries(Object.entries(tensors).map(([name, array]) => [name.replace(/^model\./, ''), array]));
}

function writeImport(
  runDir: string,
  model: ModelConfig,
  tokenizer: TokenizerSpec,
  weightsPath: string,
  remote: boolean,
): { checkpoint: string; attention: string } {
  const tensors = readSafetensors(weightsPath).tensors;
  // an export with its own modeling code keeps difft's names under `model.`; Llama's and DiffLlama's map back
  const stored = remote ? unprefixed(tensors) : difftWeights(model, tensors, weightsPath);
  const decoder = modelFromStored(model, stored, weightsPath);
  const moments = zeroMoments(model); // optimizer state is not carried by an export
  const checkpoint = join(runDir, stepDirName(0));
  try {
    const run = resolveConfig({
      name: 'imported',
      model: {
        attention: model.attention,
        layers: model.layers,
        width: model.width,
        heads: model.heads,
        kvHeads: model.kvHeads,
        seqLen: model.seqLen,
        ffnMultiple: model.ffnMultiple,
        ffnHidden: model.ffnHidden,
        tieEmbeddings: model.tieEmbeddings,
        ropeBase: model.ropeBase,
        normEps: model.normEps,
        initStd: model.initStd,
        headDim: model.headDim,
        headNorm: model.headNorm,
        lambdaInit: model.lambdaInit,
        lambda: model.lambda,
        outputScale: model.outputScale,
        gate: model.gate,
        pairing: model.pairing,
      },
      data: { tokenizer: tokenizerName(tokenizer) },
    });
    saveCheckpoint(
      checkpoint,
      decoder,
      moments,
      { difftVersion: DIFFT_VERSION, format: CHECKPOINT_FORMAT, run, model, tokenizer, dataset: { dir: '', key: '' } },
      {
        step: 0,
        tokens: 0,
        lr: 0,
        optimizerStep: 0,
        sampler: { seed: run.train.seed, rng: run.train.seed, batches: 0 },
        elapsedSeconds: 0,
        engine: tf.getBackend(),
      },
    );
  } finally {
    tf.dispose(moments);
    decoder.dispose();
  }
  return { checkpoint, attention: model.attention };
}
