import { shownValue, UserError } from '../errors.js';

export const ATTENTIONS = ['standard', 'diff', 'diff2'] as const;
export type Attention = (typeof ATTENTIONS)[number];

/**
 * The ablation switches: each component of differential attention, to take a claim apart. Every
 * default is the paper's model, so that a config without them builds what it always built.
 */
export const LAMBDA_FORMS = ['reparam', 'scalar', 'fixed'] as const;
export const GATES = ['token', 'scalar', 'none', 'unbounded'] as const;
export const PAIRINGS = ['group', 'across'] as const;
export const HEAD_NORMS = ['auto', 'on', 'off'] as const;
export type LambdaForm = (typeof LAMBDA_FORMS)[number];
export type Gate = (typeof GATES)[number];
export type Pairing = (typeof PAIRINGS)[number];
export type HeadNorm = (typeof HEAD_NORMS)[number];

/**
 * What each attention asks of the head counts, checked with the config before any model exists
 * (everything else about an attention is its row in src/model/attention/variants.ts): diff pairs
 * the baseline's heads into differential heads of twice the width, so heads and kvHeads are even.
 */
const PAIRS_HEADS: Record<Attention, boolean> = { standard: false, diff: true, diff2: false };

/** Whether an attention, as its paper defines it, normalises each head's output (diff's "GroupNorm"). */
const OWN_HEAD_NORM: Record<Attention, boolean> = { standard: false, diff: true, diff2: false };

/** Whether `config`'s attention normalises each head's output: model.headNorm, or the attention's own. */
export function headNormOn(config: Pick<ModelConfig, 'attention' | 'headNorm'>): boolean {
  return config.headNorm === 'auto' || config.headNorm === undefined
    ? OWN_HEAD_NORM[config.attention]
    : config.headNorm === 'on';
}

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
  /** d, the width of each (sub-)head; 0: width / heads. Set it to change the head count alone. */
  headDim: number;
  /** diff: λ_init from the layer's depth, 0.8 − 0.6·exp(−0.3·l) (the paper's), or one constant for every layer. */
  lambdaInit: 'depth' | number;
  /**
   * diff: how λ is learned — reparam: exp(λq1·λk1) − exp(λq2·λk2) + λ_init (the paper's); scalar: one
   * learnable λ per differential head, starting at λ_init; fixed: λ = λ_init.
   */
  lambda: LambdaForm;
  /** diff: each head's output times (1 − λ_init), the paper's. */
  outputScale: boolean;
  /** The per-head RMSNorm of each head's output ("GroupNorm"): auto = the attention's own (diff: on; else off). */
  headNorm: HeadNorm;
  /**
   * diff2: the weight on A2 — token: σ(x·W_λ) per token and head (V2's); scalar: σ of a learnable
   * scalar per head; none: 1; unbounded: x·W_λ, without the sigmoid.
   */
  gate: Gate;
  /** Dropout in training (embeddings, attention probabilities, residual branches: nanoGPT's places); 0: none. */
  dropout: number;
  /** diff2: the query heads of one head's two maps — group: 2i and 2i+1, one kv group (V2's); across: i and H + i. */
  pairing: Pairing;
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
  headDim: 0,
  lambdaInit: 'depth',
  lambda: 'reparam',
  outputScale: true,
  headNorm: 'auto',
  gate: 'token',
  pairing: 'group',
  dropout: 0,
};

/**
 * The switches that only some attentions have: set off its default on another attention, a key
 * would change the run's fingerprint and nothing else, so it is refused.
 */
const SWITCHES: { key: keyof ModelConfig; attentions: Attention[] }[] = [
  { key: 'lambdaInit', attentions: ['diff'] },
  { key: 'lambda', attentions: ['diff'] },
  { key: 'outputScale', attentions: ['diff'] },
  { key: 'gate', attentions: ['diff2'] },
  { key: 'pairing', attentions: ['diff2'] },
];

/** The attention with its switches off their defaults, as tables and reports name it: `diff (headNorm=off)`. */
export function attentionLabel(config: ModelConfig): string {
  const switches = switchesOff(config);
  return switches.length > 0 ? `${config.attention} (${switches.join(', ')})` : config.attention;
}

/**
 * The ablation keys of `config` that build another model than the paper's, as `key=value` (for info,
 * analyze and reports): a head width other than width / heads, a per-head norm other than the
 * attention's own, any other switch off its default.
 */
export function switchesOff(config: ModelConfig): string[] {
  const off: string[] = [];
  if (config.headDim > 0 && config.headDim !== config.width / config.heads) off.push(`headDim=${config.headDim}`);
  if (headNormOn(config) !== OWN_HEAD_NORM[config.attention]) off.push(`headNorm=${config.headNorm}`);
  for (const { key } of SWITCHES)
    if (config[key] !== undefined && config[key] !== MODEL_DEFAULTS[key]) off.push(`${key}=${config[key]}`);
  return off;
}

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
  checkSwitches(config, fail);
  if (config.headDim === 0 && config.width % config.heads !== 0)
    fail('width', `must be divisible by model.heads (${config.heads}), or set model.headDim`);
  if (config.heads % config.kvHeads !== 0) fail('kvHeads', `must divide model.heads (${config.heads})`);
  if (config.headDim === 0 && (config.width / config.heads) % 2 !== 0) {
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

function checkSwitches(config: ModelConfig, fail: (key: keyof ModelConfig, why: string) => never): void {
  const { headDim: d, lambdaInit: init } = config;
  if (!Number.isInteger(d) || d < 0 || d % 2 !== 0)
    fail('headDim', 'must be 0 (width / heads) or an even positive integer (rotary embedding pairs its entries)');
  if (init !== 'depth' && !(typeof init === 'number' && init >= 0 && init < 1))
    fail('lambdaInit', 'must be depth (0.8 − 0.6·exp(−0.3·l)) or a number in [0, 1)');
  const choices: [keyof ModelConfig, readonly unknown[]][] = [
    ['lambda', LAMBDA_FORMS],
    ['gate', GATES],
    ['pairing', PAIRINGS],
    ['headNorm', HEAD_NORMS],
  ];
  for (const [key, allowed] of choices)
    if (!allowed.includes(config[key])) fail(key, `must be one of ${allowed.join(', ')}`);
  if (typeof config.outputScale !== 'boolean') fail('outputScale', 'must be true or false');
  if (!(typeof config.dropout === 'number' && config.dropout >= 0 && config.dropout < 1))
    fail('dropout', 'must be a probability in [0, 1)');
  for (const { key, attentions } of SWITCHES)
    if (config[key] !== MODEL_DEFAULTS[key] && !attentions.includes(config.attention))
      fail(key, `applies to ${attentions.join(', ')} attention only (model.attention is ${config.attention})`);
  if (config.pairing === 'across' && config.kvHeads < 2)
    fail('pairing', `across pairs query heads from two kv groups: needs model.kvHeads ≥ 2 (it is ${config.kvHeads})`);
}

/** Derived sizes every part of the model agrees on. */
export function headDim(config: ModelConfig): number {
  return config.headDim > 0 ? config.headDim : config.width / config.heads;
}

/** λ_init of the 0-based layer `layer`: from its depth, 0.8 − 0.6·exp(−0.3·l), or the config's constant. */
export function lambdaInit(config: Pick<ModelConfig, 'lambdaInit'>, layer: number): number {
  return config.lambdaInit === 'depth' ? 0.8 - 0.6 * Math.exp(-0.3 * layer) : config.lambdaInit;
}

export function ffnHiddenWidth(config: ModelConfig): number {
  if (config.ffnHidden > 0) return config.ffnHidden; // (absent in configs written before the key: undefined)
  const target = Math.ceil((8 * config.width) / 3);
  return Math.ceil(target / config.ffnMultiple) * config.ffnMultiple;
}
