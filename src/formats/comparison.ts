import { schemaCheck } from '../schema.js';
import { existsSync, readFileSync } from 'node:fs';
import { filesIn } from './paths.js';
import YAML from 'yaml';
import { writeFileAtomically } from '../atomic.js';
import { UserError } from '../errors.js';

/**
 * A comparison's results directory, shared by the writer (`difft compare`, every shard alike) and
 * the reader (`difft report`): `experiment.yaml` holds the plan — every run that belongs to the
 * experiment — each run trains in a directory named after it, and the report is written beside them.
 */
export const COMPARISON_FILES = {
  plan: 'experiment.yaml',
  reportMarkdown: 'report.md',
  reportHtml: 'report.html',
  reportJson: 'report.json',
} as const;

/** The path of one of a comparison directory's files. */
export const comparisonFile = filesIn(COMPARISON_FILES);

/** Recognises a comparison directory from its entries. */
export function looksLikeComparison(names: string[]): boolean {
  return names.includes(COMPARISON_FILES.plan);
}

export interface PlannedRun {
  name: string;
  variant: string;
  /** The sweep setting's label, e.g. `train.lr=0.003`; '' when nothing is swept. */
  setting: string;
  /** The model size's name when the experiment lists sizes. */
  size?: string;
  seed: number;
}

/** A named set of model keys (`{ name: w96, set: { model.width: 96 } }`): one point of a size sweep. */
export interface ModelSize {
  name: string;
  set: Record<string, unknown>;
}

/**
 * What a comparison measures on each run's final checkpoint once it has trained (the experiment's `eval` key; the
 * results: src/eval/run-evaluation.ts).
 */
export interface CheckpointEvalRequest {
  /** The mean loss per position bin, at the trained context and at each of `seqLen`. */
  byPosition: boolean;
  /** Contexts past the trained one, each scored by position. */
  seqLen: number[];
  /** Attention bit widths: the loss (and on a task run its probe accuracy) at each, at the trained context. */
  attentionBits: number[];
}

export interface Plan {
  name: string;
  source: string;
  baseline: string;
  /** Variants every variant is also compared with, in a table of its own (an ablation study's); absent: none. */
  references?: string[];
  /** `params`: the variants' SwiGLU widths were sized to the baseline's parameter count. */
  match?: 'params' | 'none';
  variants: { name: string; set: Record<string, unknown> }[];
  sweep: Record<string, unknown[]>;
  settings: string[];
  /** The model sizes, in the experiment's order; absent when it lists none. */
  sizes?: ModelSize[];
  seeds: number[];
  runs: PlannedRun[];
  /** Each run's configuration fingerprint (src/config/fingerprint.ts); absent in plans written before it. */
  configFingerprints?: Record<string, string>;
  /**
   * What is measured on each run's final checkpoint (the experiment's `eval` key: loss by position, past the
   * trained context, low-bit attention); absent: nothing.
   */
  eval?: CheckpointEvalRequest;
  /** Fingerprints of an earlier scheme (every key, defaults included), which later keys invalidate: not checked. */
  fingerprints?: Record<string, string>;
}

/**
 * A run's directory: `diff-seed1`; with a model size `diff-w96-seed1`; with a sweep setting's slug
 * `diff-lr0.003-seed1`; with both `diff-w96-lr0.003-seed1`.
 */
export function runName(variant: string, settingSlug: string, seed: number, size = ''): string {
  return [variant, size, settingSlug, `seed${seed}`].filter(Boolean).join('-');
}

/** The size names of a plan, `['']` when it lists none. */
export function sizeNames(plan: Pick<Plan, 'sizes'>): string[] {
  return plan.sizes?.length ? plan.sizes.map((size) => size.name) : [''];
}

export function writePlan(dir: string, plan: Plan): void {
  writeFileAtomically(comparisonFile(dir, 'plan'), YAML.stringify(plan));
}

/** A name that is a directory's in the results directory: no separators, not `.` or `..`. */
const DIRECTORY_NAME = { type: 'string', pattern: '^(?!\\.+$)[^/\\\\]+$' };
const NAMED = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string' }, set: { type: 'object' } },
};
const STRING_MAP = { type: 'object', additionalProperties: { type: 'string' } };

/** What a plan must hold, checked whole before any of it is used (the file is data from disk). */
const PLAN_SCHEMA = {
  type: 'object',
  required: ['baseline', 'variants', 'seeds'],
  properties: {
    name: { type: 'string' },
    source: { type: 'string' },
    baseline: { type: 'string' },
    references: { type: 'array', items: { type: 'string' } },
    match: { enum: ['params', 'none'] },
    variants: { type: 'array', minItems: 1, items: NAMED },
    sweep: { type: 'object', additionalProperties: { type: 'array' } },
    settings: { type: 'array', items: { type: 'string' } },
    sizes: { type: 'array', items: NAMED },
    seeds: { type: 'array', minItems: 1, items: { type: 'integer' } },
    runs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'variant', 'setting', 'seed'],
        properties: {
          name: DIRECTORY_NAME,
          variant: { type: 'string' },
          setting: { type: 'string' },
          size: { type: 'string' },
          seed: { type: 'integer' },
        },
      },
    },
    configFingerprints: STRING_MAP,
    fingerprints: STRING_MAP,
    eval: {
      type: 'object',
      required: ['byPosition', 'seqLen', 'attentionBits'],
      properties: {
        byPosition: { type: 'boolean' },
        seqLen: { type: 'array', items: { type: 'integer' } },
        attentionBits: { type: 'array', items: { type: 'integer' } },
      },
    },
  },
} as const;

const validatePlan = schemaCheck(PLAN_SCHEMA);

/** The plan of a results directory. Directories written before sweeps list no runs: they are derived. */
export function readPlan(dir: string): Plan {
  const file = comparisonFile(dir, 'plan');
  if (!existsSync(file))
    throw new UserError(`${dir} is not a comparison directory (no experiment.yaml): run difft compare first`);
  let raw: unknown;
  try {
    raw = YAML.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UserError(`${file}: not valid YAML (${(error as Error).message.split('\n')[0]})`);
  }
  if (!validatePlan(raw)) {
    const error = validatePlan.errors![0];
    const where = error.instancePath.split('/').filter(Boolean).join('.') || 'the top level';
    throw new UserError(`${file}: not a difft experiment plan (${where} ${error.message})`);
  }
  const plan = raw as Partial<Plan> & Pick<Plan, 'variants' | 'seeds' | 'baseline'>;
  const { variants, seeds } = plan;
  const unknown = [plan.baseline, ...(plan.references ?? [])].find((name) => !variants.some((v) => v.name === name));
  if (unknown !== undefined) throw new UserError(`${file}: not a difft experiment plan (${unknown} is not a variant)`);
  // written before sweeps: no setting, runs named variant-seedN
  const runs =
    plan.runs ??
    seeds.flatMap((seed) =>
      variants.map(({ name }) => ({ name: runName(name, '', seed), variant: name, setting: '', seed })),
    );
  return {
    name: plan.name ?? dir,
    source: plan.source ?? '',
    baseline: plan.baseline,
    ...(plan.references?.length ? { references: plan.references } : {}),
    match: plan.match ?? 'none',
    variants,
    sweep: plan.sweep ?? {},
    settings: plan.settings ?? [''],
    ...(plan.sizes?.length ? { sizes: plan.sizes } : {}),
    seeds,
    runs,
    configFingerprints: plan.configFingerprints,
    fingerprints: plan.fingerprints,
    ...(plan.eval ? { eval: plan.eval } : {}),
  };
}
