import { type SchemaCheck, schemaCheck } from '../schema.js';
import { TOKENIZER_SPEC_SCHEMA } from '../data/tokenizer.js';
import { UserError } from '../errors.js';

/**
 * What a checkpoint's JSON files must hold, checked whole when they are read (they are data from
 * disk: a hand edit, a truncation or another program's file must end in one line, not in an
 * internal error three modules later). The model and run configs are checked by their own rules
 * (resolveModelConfig); here only that they are objects.
 */
const COUNT = { type: 'integer', minimum: 0 };
const SAMPLER = {
  type: 'object',
  required: ['seed', 'rng', 'batches'],
  properties: { seed: { type: 'integer' }, rng: { type: 'integer' }, batches: COUNT },
};

export const STATE_SCHEMA = {
  type: 'object',
  required: ['step', 'tokens', 'lr', 'optimizerStep', 'sampler', 'elapsedSeconds', 'engine'],
  properties: {
    step: COUNT,
    tokens: COUNT,
    lr: { type: 'number' },
    optimizerStep: COUNT,
    sampler: SAMPLER,
    shortSampler: SAMPLER,
    elapsedSeconds: { type: 'number', minimum: 0 },
    engine: { type: 'string' },
    lastValLoss: { type: 'number' },
    bestValLoss: { type: 'number' },
    bestStep: COUNT,
  },
} as const;

export const CONFIG_SCHEMA = {
  type: 'object',
  required: ['format', 'run', 'model', 'tokenizer', 'dataset'],
  properties: {
    difftVersion: { type: 'string' },
    format: { type: 'integer' },
    run: { type: 'object' },
    model: { type: 'object' },
    tokenizer: TOKENIZER_SPEC_SCHEMA,
    dataset: {
      type: 'object',
      required: ['dir', 'key'],
      properties: { dir: { type: 'string' }, key: { type: 'string' } },
    },
  },
} as const;

export const validateState = schemaCheck(STATE_SCHEMA);
export const validateConfig = schemaCheck(CONFIG_SCHEMA);

/** `value`, read from `path`, if `validate` accepts it; else one line naming the file and the first problem. */
export function checked<T>(path: string, value: unknown, validate: SchemaCheck): T {
  if (validate(value)) return value as T;
  const error = validate.errors![0];
  const where = error.instancePath.split('/').filter(Boolean).join('.') || 'the top level';
  throw new UserError(`${path}: ${where} ${error.message}: not a difft checkpoint file (use another checkpoint)`);
}
