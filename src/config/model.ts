import { shownValue, UserError } from '../errors.js';

export const ATTENTIONS = ['standard', 'diff', 'diff2'] as const;
export type Attention = (typeof ATTENTIONS)[number];

/**
 * What each attention asks of the head counts, checked with the config before any model exists
 * (everything else about an attention is its row in src/model/attention/variants.ts): diff pairs
 * the baseline's heads into differential heads of twice the width, so heads and kvHeads are even.
 */
const PAIRS_HEADS: Record<Attention, boolean> = { standard: false, diff: true, diff2: false };

/**
 * The shape of a decoder. Head counts are always the *baseline's*: `diff` turns `heads` into
 * `heads / 2` differential heads of twice the width (so its projections keep the baseline's shapes),
 * and `diff2` into `2 · heads` query heads. A comparison therefore changes only `attention`.
 */
export interface ModelConfig {
  /** standard (baseline softmax attention) | diff (Differential Transformer V1) | diff2 (V2). */
  attention: Attention;
  vocabSize: number;
  /** L: number of decoder blocks. */
  layers: number;
  /** D: model width. */
  width: number;
  /** H: baseline attention heads; head width d = width / heads. */
  heads: number;
  /** H_kv: key/value heads (grouped-query attention); equal to `heads` for plain multi-head attention. */
  kvHeads: number;
  /** T: the longest context the model is trained on. */
  seqLen: number;
  /** SwiGLU hidden width is 8/3 · width rounded up to a multiple of this (unless `ffnHidden` is set). */
  ffnMultiple: number;
  /** SwiGLU hidden width F itself; 0: from `ffnMultiple` (a parameter-matched comparison sets it). */
  ffnHidden: number;
  /** The LM head reuses the token embedding matrix. */
  tieEmbeddings: boolean;
  ropeBase: number;
  normEps: number;
  /** Standard deviation of the normal initialisation of every matrix. */
  initStd: number;
}

export const MODEL_DEFAULTS: ModelConfig = {
  attention: 'diff',
  vocabSize: 256,
  layers: 4,
  width: 128,
  heads: 4,
  kvHeads: 4,
  seqLen: 64,
  ffnMultiple: 32,
  ffnHidden: 0,
  tieEmbeddings: true,
  ropeBase: 10000,
  normEps: 1e-5,
  initStd: 0.02,
};

/** Fills defaults (kvHeads defaults to heads) and checks every constraint, naming the key that breaks it. */
export function resolveModelConfig(partial: Partial<ModelConfig>, keyPrefix = 'model.'): ModelConfig {
  const config: ModelConfig = { ...MODEL_DEFAULTS, kvHeads: partial.heads ?? MODEL_DEFAULTS.kvHeads, ...partial };
  const fail = (key: keyof ModelConfig, why: string): never => {
    throw new UserError(`${keyPrefix}${key} = ${shownValue(config[key])}: ${why}`);
  };
  if (!ATTENTIONS.includes(config.attention)) fail('attention', `must be one of ${ATTENTIONS.join(', ')}`);
  const positiveIntegers: (keyof ModelConfig)[] = [
    'vocabSize',
    'layers',
    'width',
    'heads',
    'kvHeads',
    'seqLen',
    'ffnMultiple',
  ];
  for (const key of positiveIntegers) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) fail(key, 'must be a positive integer');
  }
  if (!Number.isInteger(config.ffnHidden) || config.ffnHidden < 0)
    fail('ffnHidden', 'must be 0 (from model.ffnMultiple) or a positive integer');
  if (config.width % config.heads !== 0) fail('width', `must be divisible by model.heads (${config.heads})`);
  if (config.heads % config.kvHeads !== 0) fail('kvHeads', `must divide model.heads (${config.heads})`);
  if ((config.width / config.heads) % 2 !== 0) {
    fail('heads', `head width width/heads = ${config.width / config.heads} must be even for rotary embedding`);
  }
  if (PAIRS_HEADS[config.attention] && config.heads % 2 !== 0) {
    fail(
      'heads',
      `must be even for ${config.attention} attention (it uses heads/2 differential heads of twice the width)`,
    );
  }
  if (PAIRS_HEADS[config.attention] && config.kvHeads % 2 !== 0) {
    fail(
      'kvHeads',
      `must be even for ${config.attention} attention (it pairs heads into differential heads: heads/2, kvHeads/2)`,
    );
  }
  if (!(config.ropeBase > 1)) fail('ropeBase', 'must be a number greater than 1');
  if (!(config.normEps > 0)) fail('normEps', 'must be a positive number');
  if (!(config.initStd > 0)) fail('initStd', 'must be a positive number');
  if (typeof config.tieEmbeddings !== 'boolean') fail('tieEmbeddings', 'must be true or false');
  return config;
}

/** Derived sizes every part of the model agrees on. */
export function headDim(config: ModelConfig): number {
  return config.width / config.heads;
}

export function ffnHiddenWidth(config: ModelConfig): number {
  if (config.ffnHidden > 0) return config.ffnHidden; // (absent in configs written before the key: undefined)
  const target = Math.ceil((8 * config.width) / 3);
  return Math.ceil(target / config.ffnMultiple) * config.ffnMultiple;
}
