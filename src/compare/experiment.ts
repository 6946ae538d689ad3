import { Ajv } from 'ajv';
import { dirname, resolve } from 'node:path';
import { readConfigFile, resolveConfig, setConfigValue } from '../config/load.js';
import type { RunConfig } from '../config/schema.js';
import { UserError } from '../errors.js';

/**
 * An experiment file: a base config, variants (a name and dotted overrides each) and seeds.
 * Every variant × seed trains on the same token stream for a given seed, with the same steps,
 * batch and schedule; only what a variant overrides differs.
 *
 *   name: compare-default
 *   base: default.yaml            # relative to this file
 *   config: { train.steps: 300 }  # overrides shared by all variants (optional)
 *   baseline: standard            # the variant the others are compared with (default: the first)
 *   variants:
 *     - { name: standard, set: { model.attention: standard } }
 *     - { name: diff,     set: { model.attention: diff } }
 *   seeds: [1, 2, 3]
 */
const EXPERIMENT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'variants', 'seeds'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' },
    base: { type: 'string' },
    config: { type: 'object' },
    baseline: { type: 'string' },
    variants: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: { name: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' }, set: { type: 'object' } },
      },
    },
    seeds: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } },
  },
} as const;

const validate = new Ajv({ strict: false }).compile(EXPERIMENT_SCHEMA);

export interface Variant {
  name: string;
  set: Record<string, unknown>;
}

export interface Experiment {
  name: string;
  file: string;
  baseline: string;
  variants: Variant[];
  seeds: number[];
  /** The resolved config of one run. */
  runConfig(variant: string, seed: number): RunConfig;
}

export function runName(variant: string, seed: number): string {
  return `${variant}-seed${seed}`;
}

export function loadExperiment(file: string): Experiment {
  const raw = readConfigFile(file);
  if (!validate(raw)) {
    const error = validate.errors![0];
    const where = error.instancePath.split('/').filter(Boolean).join('.') || '(top level)';
    throw new UserError(`${file}: experiment key ${where}: ${error.message}${error.keyword === 'additionalProperties' ? ` (${(error.params as { additionalProperty: string }).additionalProperty}); allowed: name, base, config, baseline, variants, seeds` : ''}`);
  }
  const spec = raw as { name: string; base?: string; config?: Record<string, unknown>; baseline?: string; variants: Variant[]; seeds: number[] };
  const names = spec.variants.map((variant) => variant.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate) throw new UserError(`${file}: variant name ${duplicate} is used twice`);
  const baseline = spec.baseline ?? names[0];
  if (!names.includes(baseline)) throw new UserError(`${file}: baseline ${baseline} is not one of the variants: ${names.join(', ')}`);
  const base = spec.base ? readConfigFile(resolve(dirname(file), spec.base)) : {};

  const runConfig = (variantName: string, seed: number): RunConfig => {
    const variant = spec.variants.find((v) => v.name === variantName)!;
    const config = structuredClone(base) as Record<string, unknown>;
    const where = `${file}: ${variant.name}`;
    for (const [key, value] of Object.entries(spec.config ?? {})) setConfigValue(config, key, value, `${file}: config ${key}`);
    for (const [key, value] of Object.entries(variant.set ?? {})) setConfigValue(config, key, value, `${where}: ${key}`);
    setConfigValue(config, 'train.seed', seed);
    setConfigValue(config, 'name', runName(variant.name, seed));
    return resolveConfig(config, where);
  };
  // check every run's config now, not an hour into the experiment
  for (const variant of spec.variants) runConfig(variant.name, spec.seeds[0]);
  return { name: spec.name, file, baseline, variants: spec.variants.map((v) => ({ name: v.name, set: v.set ?? {} })), seeds: spec.seeds, runConfig };
}
