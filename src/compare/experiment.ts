import { schemaCheck } from '../schema.js';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { readConfigFile, resolveConfig, setConfigValue } from '../config/load.js';
import { anchorPath, anchorPaths, configDir, locateConfig } from '../config/locate.js';
import type { RunConfig } from '../config/schema.js';
import { UserError } from '../errors.js';
import { countParameters, ffnHiddenToMatch } from '../model/parameters.js';
import {
  type CheckpointEvalRequest,
  type ModelSize,
  type Plan,
  type PlannedRun,
  runName,
} from '../formats/comparison.js';
import { configFingerprint } from '../config/fingerprint.js';
import { modelOfRun } from '../data/run-model.js';
import { parseTaskSpec } from '../config/task.js';
import { LONGEST_EVAL_CONTEXT } from '../eval/evaluate.js';

export { runName, type ModelSize, type PlannedRun };

/**
 * An experiment file: a base config, variants (a name and dotted overrides each), an optional sweep
 * of config keys, and seeds. It expands to variant × setting × seed runs. Every run with a given seed
 * trains on the same token stream with the same steps, batch and schedule; only what its variant
 * and setting override differs. All runs are scored on one evaluation set (eval.seed is the
 * experiment's, never the run's).
 *
 *   name: compare-default
 *   base: default.yaml            # relative to this file
 *   config: { train.steps: 300 }  # overrides shared by all runs (optional)
 *   baseline: standard            # the variant the others are compared with (default: the first)
 *   references: [standard, diff]  # optional: a table of every variant against each of these (ablations)
 *   match: params                 # optional: size each variant's SwiGLU width to the baseline's parameter count
 *   variants:
 *     - { name: standard, set: { model.attention: standard } }
 *     - { name: diff,     set: { model.attention: diff } }
 *   sizes:                        # optional: model sizes, every variant at each (a size sweep)
 *     - { name: w64, set: { model.width: 64 } }
 *     - { name: w128, set: { model.width: 128 } }
 *   sweep:                        # optional: every combination, for every variant
 *     train.lr: [1.0e-3, 3.0e-3]
 *   seeds: [1, 2, 3]
 *   eval:                         # optional: measured on each run's final checkpoint (src/compare/evaluations.ts)
 *     byPosition: true            #   loss per position bin
 *     seqLen: [128, 256]          #   and by position at these contexts past the trained one
 *     attentionBits: [8, 6, 4]    #   loss (a task run: probe accuracy too) with low-bit attention logits
 *
 * A run's config is the base, then `config`, then its size's keys, its variant's, its setting's.
 */
const NAME = '^[A-Za-z0-9._-]+$';

/** A variant or a model size: a name and the config keys it sets. */
const NAMED_SET = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', pattern: NAME }, set: { type: 'object' } },
} as const;

const EXPERIMENT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'variants', 'seeds'],
  properties: {
    name: { type: 'string', pattern: NAME },
    base: { type: 'string' },
    config: { type: 'object' },
    baseline: { type: 'string' },
    references: { type: 'array', minItems: 1, items: { type: 'string' } },
    match: { enum: ['params', 'none'] },
    variants: { type: 'array', minItems: 1, items: NAMED_SET },
    sizes: { type: 'array', minItems: 1, items: NAMED_SET },
    sweep: {
      type: 'object',
      additionalProperties: { type: 'array', minItems: 1, items: { type: ['number', 'string', 'boolean'] } },
    },
    seeds: { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } },
    eval: {
      type: 'object',
      additionalProperties: false,
      properties: {
        byPosition: { type: 'boolean' },
        seqLen: { type: 'array', items: { type: 'integer', minimum: 2, maximum: LONGEST_EVAL_CONTEXT } },
        attentionBits: { type: 'array', items: { type: 'integer', minimum: 2, maximum: 24 } },
      },
    },
  },
} as const;

const ALLOWED_KEYS = Object.keys(EXPERIMENT_SCHEMA.properties).join(', ');

/** Keys that choose which tokens are scored: set once for the whole experiment, never per run. */
const MEASUREMENT_KEYS = ['eval.seed', 'eval.maxTokens'];

const validate = schemaCheck<ExperimentSpec>(EXPERIMENT_SCHEMA);

export interface Variant {
  name: string;
  set: Record<string, unknown>;
}

/**
 * One point of the sweep: its overrides, a label for reports and a slug for directory names ('' when nothing is swept).
 */
export interface Setting {
  label: string;
  slug: string;
  set: Record<string, unknown>;
}

/**
 * A loaded experiment: its plan — what every shard writes to experiment.yaml and `difft report`
 * reads back (src/formats/comparison.ts) — and how each of its runs is configured.
 */
export interface Experiment extends Plan {
  match: 'params' | 'none';
  /** The model sizes; empty when the experiment lists none. */
  sizes: ModelSize[];
  /** The sweep's points with their overrides and directory slugs (the plan keeps their labels). */
  sweepSettings: Setting[];
  /** Each run's configuration fingerprint (src/config/fingerprint.ts). */
  configFingerprints: Record<string, string>;
  /** The resolved config of one run. */
  runConfig(run: PlannedRun): RunConfig;
}

/**
 * Every combination of the swept values, first key outermost. Labels name keys in full
 * (`train.lr=0.003,train.warmupSteps=10`); slugs by their last part (`lr0.003_warmupSteps10`),
 * in full where two keys share a last part.
 */
export function sweepSettings(sweep: Record<string, unknown[]>): Setting[] {
  const keys = Object.keys(sweep);
  const last = (key: string) => key.slice(key.lastIndexOf('.') + 1);
  const short = (key: string) => (keys.filter((k) => last(k) === last(key)).length > 1 ? key : last(key));
  let settings: Setting[] = [{ label: '', slug: '', set: {} }];
  for (const key of keys) {
    settings = settings.flatMap((setting) =>
      sweep[key].map((value) => ({
        label: [setting.label, `${key}=${String(value)}`].filter(Boolean).join(','),
        slug: [setting.slug, `${short(key)}${String(value).replace(/\+/g, '')}`].filter(Boolean).join('_'),
        set: { ...setting.set, [key]: value },
      })),
    );
  }
  return settings;
}

/** The base config: a path relative to the experiment file, else a preset name; its own paths anchored at it. */
function readBase(experimentFile: string, base: string): Record<string, unknown> {
  const beside = resolve(dirname(experimentFile), base);
  const file = existsSync(beside) ? beside : locateConfig(base, `${experimentFile}: base config`);
  return anchorPaths(readConfigFile(file), configDir(file));
}

/** An experiment file as written: validated against the schema, nothing filled in yet. */
interface ExperimentSpec {
  name: string;
  base?: string;
  config?: Record<string, unknown>;
  baseline?: string;
  references?: string[];
  match?: 'params' | 'none';
  variants: Variant[];
  sizes?: ModelSize[];
  sweep?: Record<string, unknown[]>;
  seeds: number[];
  eval?: Partial<CheckpointEvalRequest>;
}

function readSpec(file: string): ExperimentSpec {
  const raw = readConfigFile(file);
  if (!validate(raw)) {
    const error = validate.errors![0];
    const where = error.instancePath.split('/').filter(Boolean).join('.') || '(top level)';
    const extra =
      error.keyword === 'additionalProperties'
        ? ` (${(error.params as { additionalProperty: string }).additionalProperty}); allowed: ${ALLOWED_KEYS}`
        : '';
    throw new UserError(`${file}: experiment key ${where}: ${error.message}${extra}`);
  }
  return raw as ExperimentSpec;
}

/** Names used once each, and a baseline and references that are variants. */
function checkNames(file: string, spec: ExperimentSpec): void {
  const twice = <T>(items: T[]) => items.find((item, i) => items.indexOf(item) !== i);
  const names = spec.variants.map((variant) => variant.name);
  const variant = twice(names);
  if (variant) throw new UserError(`${file}: variant name ${variant} is used twice`);
  const size = twice((spec.sizes ?? []).map((s) => s.name));
  if (size) throw new UserError(`${file}: size name ${size} is used twice`);
  const seed = twice(spec.seeds);
  if (seed !== undefined) throw new UserError(`${file}: seed ${seed} is listed twice`);
  const dots = [spec.name, ...names, ...(spec.sizes ?? []).map((s) => s.name)].find((name) => /^\.+$/.test(name));
  if (dots) throw new UserError(`${file}: name ${dots} would name a directory above the runs: use a word`);
  const baseline = spec.baseline ?? names[0];
  for (const [key, name] of [['baseline', baseline], ...(spec.references ?? []).map((r) => ['references', r])])
    if (!names.includes(name))
      throw new UserError(`${file}: ${key} ${name} is not one of the variants: ${names.join(', ')}`);
}

/**
 * Run names are directory names, joined from a variant's, a size's and a setting's: two runs of one
 * name (variant `a` at size `w1-x`, variant `a-w1` at size `x`) would share a directory, the second
 * overwriting the first.
 */
function checkRunNames(file: string, runs: PlannedRun[]): void {
  const describe = (run: PlannedRun) =>
    [
      `variant ${run.variant}`,
      run.size && `size ${run.size}`,
      run.setting && `setting ${run.setting}`,
      `seed ${run.seed}`,
    ]
      .filter(Boolean)
      .join(', ');
  const seen = new Map<string, PlannedRun>();
  for (const run of runs) {
    const other = seen.get(run.name);
    if (other)
      throw new UserError(
        `${file}: ${describe(other)} and ${describe(run)} would both be run ${run.name}: rename a variant or size`,
      );
    seen.set(run.name, run);
  }
}

/** An experiment file, or a shipped experiment preset by name (`compare-default`). */
export function loadExperiment(nameOrPath: string): Experiment {
  const file = locateConfig(nameOrPath, 'experiment');
  const spec = readSpec(file);
  checkNames(file, spec);
  const sizes = (spec.sizes ?? []).map((size) => ({ name: size.name, set: size.set ?? {} }));
  const sweep = spec.sweep ?? {};
  checkKeyOwners(file, sizes, spec.variants, sweep);
  checkSweep(file, sweep);
  const variants = spec.variants.map((v) => ({ name: v.name, set: v.set ?? {} }));
  const settings = sweepSettings(sweep);
  const runs = spec.seeds.flatMap((seed) =>
    (sizes.length ? sizes : [undefined]).flatMap((size) =>
      settings.flatMap((setting) =>
        variants.map((variant) => ({
          name: runName(variant.name, setting.slug, seed, size?.name),
          variant: variant.name,
          setting: setting.label,
          ...(size ? { size: size.name } : {}),
          seed,
        })),
      ),
    ),
  );
  checkRunNames(file, runs);
  const experiment = {
    name: spec.name,
    source: file,
    baseline: spec.baseline ?? variants[0].name,
    ...(spec.references ? { references: spec.references } : {}),
    match: spec.match ?? 'none',
    variants,
    sizes,
    sweep,
    settings: settings.map((setting) => setting.label),
    sweepSettings: settings,
    seeds: spec.seeds,
    runs,
    ...(spec.eval ? { eval: evalRequest(spec.eval) } : {}),
  };
  // every run's config, resolved (and checked) now, not an hour into the experiment
  const configs = resolveRunConfigs(spec, experiment);
  const runConfig = (run: PlannedRun): RunConfig => {
    const config = configs.get(run.name);
    if (!config) throw new Error(`${run.name} is not a run of ${file}`);
    return structuredClone(config);
  };
  const configFingerprints = Object.fromEntries(
    [...configs].map(([name, config]) => [name, configFingerprint(config)]),
  );
  if (experiment.eval) checkEvalRequest(file, experiment.eval, [...configs.values()]);
  checkProbeTasks(file, [...configs.values()]);
  return { ...experiment, configFingerprints, runConfig };
}

/** Every run's probe tasks parse now, not when its first evaluation comes. */
function checkProbeTasks(file: string, configs: RunConfig[]): void {
  for (const config of configs)
    for (const task of config.eval.tasks) {
      try {
        parseTaskSpec(task);
      } catch (error) {
        throw new UserError(`${file}: run ${config.name}: eval.tasks: ${(error as Error).message}`);
      }
    }
}

function evalRequest(raw: Partial<CheckpointEvalRequest>): CheckpointEvalRequest {
  return { byPosition: raw.byPosition ?? false, seqLen: raw.seqLen ?? [], attentionBits: raw.attentionBits ?? [] };
}

/** Contexts past the trained one, on runs whose windows are plain text (a task's examples are scored whole). */
function checkEvalRequest(file: string, request: CheckpointEvalRequest, configs: RunConfig[]): void {
  for (const config of configs) {
    const shorter = request.seqLen.find((seqLen) => seqLen <= config.model.seqLen);
    if (shorter !== undefined)
      throw new UserError(
        `${file}: eval.seqLen ${shorter} is not past run ${config.name}'s trained context (${config.model.seqLen}): ` +
          'list longer contexts only (the trained one is always scored)',
      );
    if (request.seqLen.length > 0 && config.data.task && config.data.task.kind !== 'none')
      throw new UserError(
        `${file}: eval.seqLen applies to runs trained on text; run ${config.name} trains on a task, whose ` +
          'examples are scored whole (probe longer ones with eval.tasks, e.g. needles:length=1025)',
      );
  }
}

/**
 * Every run's config: the base, then `config`, then its size's keys, its variant's and its
 * setting's, its seed and name; under `match: params`, the SwiGLU width that matches the baseline
 * run of the same seed, size and setting.
 */
function resolveRunConfigs(
  spec: ExperimentSpec,
  experiment: Omit<Experiment, 'runConfig' | 'configFingerprints'>,
): Map<string, RunConfig> {
  const { source: file, runs, baseline } = experiment;
  const base = spec.base ? readBase(file, spec.base) : {};
  const here = dirname(resolve(file));
  const plainConfig = (run: PlannedRun): RunConfig => {
    const variant = experiment.variants.find((v) => v.name === run.variant)!;
    const setting = experiment.sweepSettings.find((s) => s.label === run.setting)!;
    const size = experiment.sizes.find((s) => s.name === run.size);
    const config = structuredClone(base) as Record<string, unknown>;
    // paths written in the experiment file are relative to it
    for (const [key, value] of Object.entries(spec.config ?? {}))
      setConfigValue(config, key, anchorPath(key, value, here), `${file}: config ${key}`);
    for (const [key, value] of Object.entries(size?.set ?? {}))
      setConfigValue(config, key, value, `${file}: size ${size!.name}: ${key}`);
    for (const [key, value] of Object.entries(variant.set))
      setConfigValue(config, key, anchorPath(key, value, here), `${file}: ${variant.name}: ${key}`);
    for (const [key, value] of Object.entries(setting.set))
      setConfigValue(config, key, anchorPath(key, value, here), `${file}: sweep ${key}`);
    setConfigValue(config, 'train.seed', run.seed);
    setConfigValue(config, 'name', run.name);
    return resolveConfig(config, `${file}: ${run.name}`);
  };
  const plain = new Map(runs.map((run) => [run.name, plainConfig(run)]));
  if (experiment.match !== 'params') return plain;
  const baselineOf = (run: PlannedRun) =>
    runs.find(
      (r) => r.variant === baseline && r.setting === run.setting && r.size === run.size && r.seed === run.seed,
    )!;
  return new Map(
    runs.map((run) => {
      const config = plain.get(run.name)!;
      if (run.variant === baseline) return [run.name, config];
      if ('model.ffnHidden' in experiment.variants.find((v) => v.name === run.variant)!.set)
        throw new UserError(`${file}: ${run.variant} sets model.ffnHidden, which match: params sizes itself`);
      return [run.name, matchParameters(config, plain.get(baselineOf(run).name)!, `${file}: ${run.name}`)];
    }),
  );
}

/** Matched comparisons hold the total within this fraction of the baseline's. */
export const MATCH_TOLERANCE = 0.005;

/**
 * `config` with the SwiGLU hidden width that brings its parameter count to `baseline`'s. The FFN is
 * the one knob that leaves the attention as the paper defines it (heads, head width, λ, norms).
 */
function matchParameters(config: RunConfig, baseline: RunConfig, where: string): RunConfig {
  const model = modelOfRun(config);
  const target = countParameters(modelOfRun({ ...config, model: baseline.model })).total;
  const ffnHidden = ffnHiddenToMatch(model, target);
  const total = countParameters({ ...model, ffnHidden }).total;
  if (Math.abs(total / target - 1) > MATCH_TOLERANCE)
    throw new UserError(
      `${where}: match: params cannot bring ${total.toLocaleString('en-US')} parameters within ` +
        `${MATCH_TOLERANCE * 100}% of the baseline's ${target.toLocaleString('en-US')} through the SwiGLU width alone`,
    );
  return { ...config, model: { ...config.model, ffnHidden } };
}

/** A part of an experiment file that sets config keys for some of its runs (`config` sets them for all). */
interface Part {
  kind: 'size' | 'variant' | 'sweep';
  name: string;
  keys: string[];
}

/**
 * Which part of an experiment file may set which config keys. `config` sets keys for every run and
 * may set any. The keys below have fixed owners; every other key has at most one owner among a run's
 * size, variant and sweep setting, so that a run's config does not depend on the order they are
 * applied in.
 */
const KEY_OWNERS: { keys: (key: string) => boolean; owners: Part['kind'][]; why: (key: string) => string }[] = [
  {
    keys: (key) => MEASUREMENT_KEYS.includes(key),
    owners: [],
    why: (key) =>
      `${key} chooses the tokens every run is scored on, so it cannot vary within an experiment; set it under config`,
  },
  {
    keys: (key) => key === 'train.seed' || key === 'name',
    owners: [],
    why: (key) => `${key} is each run's own: seeds are listed under seeds, and runs are named after them`,
  },
  {
    keys: (key) => !key.startsWith('model.'),
    owners: ['variant', 'sweep'],
    why: () =>
      'a size sets model keys only (model.width, model.layers, …); put other keys under config, a variant or the sweep',
  },
];

/** How a part is named in a refusal: `size w64`, `diff` (a variant), `the sweep`. */
function partLabel(part: Part): string {
  return part.kind === 'size' ? `size ${part.name}` : part.kind === 'variant' ? part.name : 'the sweep';
}

/** Refuses a key set by a part that does not own it, or by two of a run's parts, in one line. */
function checkKeyOwners(file: string, sizes: ModelSize[], variants: Variant[], sweep: Record<string, unknown[]>): void {
  const parts: Part[] = [
    ...sizes.map((size) => ({ kind: 'size' as const, name: size.name, keys: Object.keys(size.set) })),
    ...variants.map((variant) => ({
      kind: 'variant' as const,
      name: variant.name,
      keys: Object.keys(variant.set ?? {}),
    })),
    { kind: 'sweep', name: 'sweep', keys: Object.keys(sweep) },
  ];
  for (const part of parts) {
    for (const key of part.keys) {
      const rule = KEY_OWNERS.find((owner) => owner.keys(key) && !owner.owners.includes(part.kind));
      if (rule) {
        const where = part.kind === 'sweep' ? `sweep ${key}` : `${partLabel(part)} sets ${key}`;
        throw new UserError(`${file}: ${where}: ${rule.why(key)}`);
      }
      // sizes and variants each apply to every run: two of one kind never meet in a run
      const other = parts.find((p) => p.kind !== part.kind && p.keys.includes(key));
      if (other) throw new UserError(`${file}: ${bothSet(part, other, key)}: remove one of them`);
    }
  }
}

/** Two parts of a run that set one key: a size and a variant, or either and the sweep. */
function bothSet(a: Part, b: Part, key: string): string {
  const sweep = [a, b].find((part) => part.kind === 'sweep');
  if (sweep) return `${partLabel(a === sweep ? b : a)} sets ${key}, which the sweep also sets`;
  const [size, variant] = a.kind === 'size' ? [a, b] : [b, a];
  return `size ${size.name} and variant ${variant.name} both set ${key}`;
}

/** Sweep values name run directories: each one usable in a name, and listed once. */
function checkSweep(file: string, sweep: Record<string, unknown[]>): void {
  for (const [key, values] of Object.entries(sweep)) {
    for (const value of values) {
      if (!/^[A-Za-z0-9._+-]+$/.test(String(value)))
        throw new UserError(
          `${file}: sweep ${key}: value ${JSON.stringify(value)} cannot name a run directory (use letters, digits, ` +
            `. _ -)`,
        );
    }
    const distinct = new Set(values.map(String));
    if (distinct.size !== values.length) throw new UserError(`${file}: sweep ${key}: a value is listed twice`);
  }
}

/** `--shard i/n` or `--shard auto`: parses it, or says what is accepted. */
export function parseShard(text: string, env: NodeJS.ProcessEnv = process.env): { index: number; count: number } {
  if (text.trim() === 'auto') return schedulerShard(env);
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!(count >= 1 && index >= 1 && index <= count))
    throw new UserError(`--shard ${text}: expected i/n with 1 ≤ i ≤ n, e.g. --shard 1/4, or auto`);
  return { index, count };
}

/**
 * `--shard auto`: this task's share from the scheduler's environment.
 * - Slurm job arrays (`sbatch --array=A-B[:S]`): SLURM_ARRAY_TASK_ID, _MIN, _MAX and _STEP give the
 *   task's position among the array's tasks, whatever the first id and step.
 * - Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX (0-based) is set by Kubernetes; the number of
 *   completions is not, so the Job sets JOB_COMPLETIONS itself (README example).
 */
function schedulerShard(env: NodeJS.ProcessEnv): { index: number; count: number } {
  const whole = (name: string) => {
    const value = env[name];
    return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value) : undefined;
  };
  const task = whole('SLURM_ARRAY_TASK_ID');
  if (task !== undefined) {
    const min = whole('SLURM_ARRAY_TASK_MIN');
    const max = whole('SLURM_ARRAY_TASK_MAX');
    const step = whole('SLURM_ARRAY_TASK_STEP') ?? 1;
    if (min === undefined || max === undefined || step < 1 || (task - min) % step !== 0)
      throw new UserError(
        `--shard auto: SLURM_ARRAY_TASK_ID=${task} without a usable SLURM_ARRAY_TASK_MIN/MAX/STEP; give --shard i/n`,
      );
    return { index: (task - min) / step + 1, count: Math.floor((max - min) / step) + 1 };
  }
  const completion = whole('JOB_COMPLETION_INDEX');
  if (completion !== undefined) {
    const count = whole('JOB_COMPLETIONS');
    if (count === undefined || completion >= count)
      throw new UserError(
        `--shard auto: a Kubernetes Indexed Job (JOB_COMPLETION_INDEX=${completion}) needs JOB_COMPLETIONS set ` +
          `to its completions in the Job's env (see the README's example)`,
      );
    return { index: completion + 1, count };
  }
  throw new UserError(
    '--shard auto: no job array here (neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX is set); give --shard i/n',
  );
}

/** The runs of shard i of n: every n-th run, starting at the i-th — the same split on every machine. */
export function shardRuns(runs: PlannedRun[], shard: { index: number; count: number }): PlannedRun[] {
  return runs.filter((_, position) => position % shard.count === shard.index - 1);
}
