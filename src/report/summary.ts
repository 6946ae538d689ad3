import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../checkpoint/checkpoint.js';
import { configFingerprint } from '../config/fingerprint.js';
import type { RunConfig } from '../config/schema.js';
import { taskLabel, taskOf } from '../config/task.js';
import { UserError } from '../errors.js';
import { ffnHiddenWidth } from '../config/model.js';
import { countParameters, nonEmbeddingParameters } from '../model/parameters.js';
import { readDivergence, type Divergence } from '../train/divergence.js';
import { readMetrics } from '../train/metrics.js';
import { COMPARISON_FILES, readPlan, sizeNames, type PlannedRun } from '../formats/comparison.js';
import { scalingSummary, type ScalingSummary } from './scaling.js';
import { gradNormSpikes } from './stability.js';
import { gapCurve, meanCurve, tokensToReach, zeroCrossings, type CurvePoint, type GapPoint } from './gap.js';
import type { Diff2LayerStats } from '../model/attention/diagnostics.js';
import { groupTasks, runTasks, type GroupTaskSummary, type RunTaskResult, type TaskCurvePoint } from './tasks.js';
import { pairedInterval, spread, verdictOf, welchInterval, type Interval, type Spread, type Verdict } from './stats.js';
import { runFile } from '../formats/run.js';
import { signed } from './numbers.js';

/**
 * The numbers of a comparison, recomputed from each run's metrics.jsonl and checkpoint: per run;
 * per group (a variant at one sweep setting) as mean ± sample standard deviation over seeds; each
 * variant's best setting; and per variant, at the best settings, the paired comparison with the
 * baseline (final and best loss, the gap over training, tokens to the baseline's final loss).
 */
export interface RunSummary {
  name: string;
  variant: string;
  setting: string;
  size?: string;
  seed: number;
  dir: string;
  attention: string;
  /** Of the configuration it was trained with (src/config/fingerprint.ts). */
  fingerprint: string;
  parameters: number;
  /** Without the token embedding and an untied LM head. */
  nonEmbedding: number;
  /** The SwiGLU hidden width it ran with (sized to the baseline's count under match: params). */
  ffnHidden: number;
  steps: number;
  /** The steps the run was set to train (it is finished when `steps` reaches them). */
  plannedSteps: number;
  /** The weight of its loss outside a task's answers (train.textWeight; 1: the plain loss). */
  textWeight: number;
  /**
   * The probe task whose answers its loss weighed above the text (textWeight < 1): its objective, on
   * which its verdict is given, since the validation loss then scores text it was not trained on.
   */
  objectiveTask?: string;
  tokens: number;
  /** Seconds spent in training steps (evaluation excluded). */
  wallSeconds: number;
  tokensPerSecond: number;
  finalValLoss: number;
  bestValLoss: number;
  finalBitsPerByte: number;
  bestBitsPerByte: number;
  /** Which tokens the evaluations scored (absent for runs written before fingerprints). */
  evalFingerprint?: string;
  evalTokens: number;
  curve: CurvePoint[];
  lambdas: { step: number; values: number[] }[];
  /** The global gradient norm (before clipping) at every logged step, and how many of them are spikes. */
  gradNorms: { step: number; value: number }[];
  spikes: number;
  /** Largest visible attention logit and residual magnitude per layer at every evaluation. */
  extremes: { step: number; maxLogit: number[]; maxActivation: number[] }[];
  /** Probe tasks at the final evaluation, their course over training, diff2's λ and gate statistics. */
  tasks: Record<string, RunTaskResult>;
  taskCurve: TaskCurvePoint[];
  diff2: { step: number; layers: Diff2LayerStats[] }[];
}

export interface GroupSummary {
  variant: string;
  setting: string;
  /** The model size's name; '' when the experiment lists no sizes. */
  size: string;
  attention: string;
  runs: RunSummary[];
  missingSeeds: number[];
  parameters: number;
  nonEmbedding: number;
  ffnHidden: number;
  parameterRatio: number;
  tokens: number;
  wallSeconds: Spread;
  tokensPerSecond: Spread;
  finalValLoss: Spread;
  bestValLoss: Spread;
  finalBitsPerByte: Spread;
  bestBitsPerByte: Spread;
  tasks: Record<string, GroupTaskSummary>;
}

/** Variant − baseline on one measure: per-seed differences, the paired and the unpaired interval. */
export interface Difference {
  seeds: number[];
  deltas: number[];
  paired?: Interval;
  unpaired?: Interval;
  verdict: Verdict;
}

export interface VariantComparison {
  variant: string;
  /** The settings compared: each side's best. */
  setting: string;
  baselineSetting: string;
  parameterRatio: number;
  final: Difference;
  best: Difference;
  gap: GapPoint[];
  /** Tokens at which the mean gap changes sign. */
  gapCrossings: number[];
  /** Tokens the variant needs to reach the baseline's final loss (mean curves over the paired seeds). */
  tokensToTarget: {
    target: number;
    baselineTokens: number;
    tokens?: number;
    fraction?: number;
    atFirstEvaluation?: boolean;
  };
  /** Per probe task: accuracy (higher is better), answer loss, and the attention mass on the answer needle. */
  tasks: Record<
    string,
    { accuracy: Difference; answerLoss: Difference; answerMass: Difference; noiseMass: Difference }
  >;
  sentence: string;
  warnings: string[];
}

export interface ComparisonSummary {
  dir: string;
  name: string;
  baseline: string;
  seeds: number[];
  sweep: Record<string, unknown[]>;
  settings: string[];
  /** The model sizes' names in the experiment's order; `['']` when it lists none. */
  sizes: string[];
  /** The size the verdicts are given at: the one where the baseline has the most non-embedding parameters. */
  comparedSize: string;
  groups: GroupSummary[];
  /** Each variant's setting with the lowest mean final validation loss (at the compared size). */
  bestSettings: Record<string, string>;
  comparisons: VariantComparison[];
  /** Loss against parameters and params-to-target, when the experiment lists more than one size. */
  scaling?: ScalingSummary;
  /** The evaluation sets the runs were scored on: one, unless something is wrong. */
  evalSets: { fingerprint: string; tokens: number; runs: string[] }[];
  /** Runs of the plan without a finished, readable result. */
  missing: string[];
  /** Runs that diverged (src/train/divergence.ts): listed, and left out of every statistic. */
  diverged: ({ name: string; variant: string; setting: string; size: string } & Divergence)[];
  warnings: string[];
}

export function summarizeRun(dir: string, run: PlannedRun): RunSummary {
  const checkpoint = readCheckpoint(dir);
  const records = readMetrics(runFile(dir, 'metrics'));
  const trainRecords = records.flatMap((r) => (r.type === 'train' ? [r] : []));
  const evalRecords = records.flatMap((r) => (r.type === 'eval' ? [r] : []));
  if (trainRecords.length === 0 || evalRecords.length === 0)
    throw new UserError(`${runFile(dir, 'metrics')}: no training or evaluation records`);
  const last = trainRecords[trainRecords.length - 1];
  const finalEval = evalRecords.reduce((a, b) => (b.step >= a.step ? b : a));
  const bestEval = evalRecords.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
  return {
    ...run,
    dir,
    attention: checkpoint.config.model.attention,
    fingerprint: configFingerprint(checkpoint.config.run),
    parameters: countParameters(checkpoint.config.model).total,
    nonEmbedding: nonEmbeddingParameters(checkpoint.config.model),
    ffnHidden: ffnHiddenWidth(checkpoint.config.model),
    steps: last.step,
    plannedSteps: checkpoint.config.run.train.steps,
    textWeight: checkpoint.config.run.train.textWeight ?? 1,
    ...objectiveOf(checkpoint.config.run),
    tokens: last.tokens,
    wallSeconds: last.elapsedSeconds,
    tokensPerSecond: last.tokens / last.elapsedSeconds,
    finalValLoss: finalEval.valLoss,
    bestValLoss: bestEval.valLoss,
    finalBitsPerByte: finalEval.valBitsPerByte,
    bestBitsPerByte: bestEval.valBitsPerByte,
    evalFingerprint: finalEval.evalFingerprint,
    evalTokens: finalEval.evalTokens,
    curve: evalRecords.map((r) => ({ step: r.step, tokens: r.tokens, valLoss: r.valLoss })),
    lambdas: trainRecords.filter((r) => r.lambdas.length > 0).map((r) => ({ step: r.step, values: r.lambdas })),
    gradNorms: trainRecords.map((r) => ({ step: r.step, value: r.gradNorm })),
    spikes: gradNormSpikes(trainRecords.map((r) => r.gradNorm)).length,
    extremes: evalRecords.flatMap((r) => (r.extremes ? [{ step: r.step, ...r.extremes }] : [])),
    ...runTasks(evalRecords),
  };
}

function objectiveOf(config: RunConfig): { objectiveTask?: string } {
  const task = taskOf(config.data.task);
  return task && (config.train.textWeight ?? 1) < 1 ? { objectiveTask: taskLabel(task) } : {};
}

/** The group of one variant at one setting and size. */
export function findGroup(summary: ComparisonSummary, variant: string, setting: string, size: string): GroupSummary {
  return summary.groups.find((g) => g.variant === variant && g.setting === setting && g.size === size)!;
}

/** The groups the verdicts are about: each variant at its best setting, at the compared size. */
export function comparedGroups(summary: ComparisonSummary): GroupSummary[] {
  return Object.entries(summary.bestSettings).map(([variant, setting]) =>
    findGroup(summary, variant, setting, summary.comparedSize),
  );
}

function summarizeGroup(
  variant: string,
  setting: string,
  size: string,
  seeds: number[],
  results: RunSummary[],
): GroupSummary {
  const runs = seeds.flatMap(
    (seed) =>
      results.find(
        (r) => r.variant === variant && r.setting === setting && (r.size ?? '') === size && r.seed === seed,
      ) ?? [],
  );
  const over = (pick: (run: RunSummary) => number) => spread(runs.map(pick));
  return {
    variant,
    setting,
    size,
    attention: runs[0]?.attention ?? '?',
    runs,
    missingSeeds: seeds.filter((seed) => !runs.some((run) => run.seed === seed)),
    parameters: runs[0]?.parameters ?? NaN,
    nonEmbedding: runs[0]?.nonEmbedding ?? NaN,
    ffnHidden: runs[0]?.ffnHidden ?? NaN,
    parameterRatio: NaN,
    tokens: runs[0]?.tokens ?? 0,
    wallSeconds: over((r) => r.wallSeconds),
    tokensPerSecond: over((r) => r.tokensPerSecond),
    finalValLoss: over((r) => r.finalValLoss),
    bestValLoss: over((r) => r.bestValLoss),
    finalBitsPerByte: over((r) => r.finalBitsPerByte),
    bestBitsPerByte: over((r) => r.bestBitsPerByte),
    tasks: groupTasks(runs),
  };
}

/** Per-seed differences on one measure, over the seeds both groups finished (runs without the measure left out). */
function difference(
  variant: GroupSummary,
  baseline: GroupSummary,
  pick: (run: RunSummary) => number | undefined,
  better: 'lower' | 'higher' = 'lower',
): Difference {
  const measured = (runs: RunSummary[]) => runs.filter((run) => pick(run) !== undefined);
  const pairs = measured(variant.runs).flatMap((run) => {
    const partner = measured(baseline.runs).find((b) => b.seed === run.seed);
    return partner ? [{ seed: run.seed, delta: pick(run)! - pick(partner)! }] : [];
  });
  const paired = pairedInterval(pairs.map((p) => p.delta));
  return {
    seeds: pairs.map((p) => p.seed),
    deltas: pairs.map((p) => p.delta),
    paired,
    unpaired: welchInterval(
      measured(variant.runs).map((run) => pick(run)!),
      measured(baseline.runs).map((run) => pick(run)!),
    ),
    verdict: verdictOf(paired, better),
  };
}

function compareTasks(variant: GroupSummary, baseline: GroupSummary): VariantComparison['tasks'] {
  const names = Object.keys(variant.tasks).filter((name) => name in baseline.tasks);
  return Object.fromEntries(
    names.map((name) => [
      name,
      {
        accuracy: difference(variant, baseline, (run) => run.tasks[name]?.accuracy, 'higher'),
        answerLoss: difference(variant, baseline, (run) => run.tasks[name]?.answerLoss),
        answerMass: difference(variant, baseline, (run) => run.tasks[name]?.answerMass, 'higher'),
        noiseMass: difference(variant, baseline, (run) => run.tasks[name]?.noiseMass),
      },
    ]),
  );
}

const signedPercent = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}%`;

/** Unmatched variants further apart than this have their parameter difference named in the verdict. */
const UNMATCHED_TOLERANCE = 0.01;

function sentenceFor(
  comparison: Omit<VariantComparison, 'sentence' | 'warnings'>,
  baseline: string,
  sweeping: boolean,
  matched: boolean,
  size: string,
  /** The task whose answers were every run's objective, if any: the verdict is then on its accuracy. */
  objectiveTask?: string,
): string {
  const { final } = comparison;
  const at = (setting: string) => (sweeping && setting ? ` (at ${setting})` : '');
  const atSize = size ? ` at size ${size}` : '';
  const who = `${comparison.variant}${at(comparison.setting)} vs ${baseline}${at(comparison.baselineSetting)}${atSize}`;
  const ratio = comparison.parameterRatio;
  const confounded = !matched && Math.abs(ratio - 1) > UNMATCHED_TOLERANCE;
  const parameters =
    ratio === 1
      ? `same parameter count${matched ? ' (parameter-matched)' : ''}`
      : `${ratio.toFixed(3)}× the parameters${matched ? ' (parameter-matched)' : ''}${
          confounded
            ? ` — not parameter-matched: the attention and the ${signedPercent(ratio - 1)} parameters are ` +
              `confounded (match: params separates them)`
            : ''
        }`;
  const accuracy = objectiveTask ? comparison.tasks[objectiveTask]?.accuracy : undefined;
  if (objectiveTask && accuracy)
    return `${who}: ${objectiveVerdict(objectiveTask, accuracy, baseline)}; ${parameters}.`;
  if (!final.paired) return `${who}: ${noVerdict(final, LOSS)} — ${parameters}.`;
  return `${who}: ${verdictWords(final, baseline)} — ${pairedDelta(final.paired, LOSS)}; ${parameters}.`;
}

/** How a difference is written: its name, its unit and how a value of it is printed. */
interface Measure {
  name: string;
  unit: string;
  format: (x: number) => string;
}

const LOSS: Measure = { name: 'final validation loss', unit: 'nats', format: (x) => signed(x) };
const ACCURACY: Measure = {
  name: 'accuracy',
  unit: 'points',
  format: (x) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}`,
};

/** A difference measured on fewer than two seeds: its one Δ, and why there is no verdict. */
function noVerdict(difference: Difference, measure: Measure): string {
  const delta = difference.deltas.length
    ? `Δ ${measure.name} ${measure.format(difference.deltas[0])} ${measure.unit} on one seed`
    : 'no seed finished by both';
  return `${delta}; the seed-to-seed spread is unknown, so no verdict (run at least 3 seeds)`;
}

function verdictWords(difference: Difference, baseline: string): string {
  return difference.verdict === 'no difference detectable'
    ? 'no difference detectable at this budget'
    : `${difference.verdict} than ${baseline}`;
}

/** The mean paired Δ with its 95% interval. */
function pairedDelta(p: Interval, measure: Measure): string {
  const f = measure.format;
  return (
    `Δ ${measure.name} ${f(p.mean)} ${measure.unit}, 95% CI [${f(p.low)}, ${f(p.high)}] ` +
    `(paired over ${p.n} seeds, t(${p.df}) = ${p.critical.toFixed(3)})`
  );
}

/** The verdict on the accuracy of the task a run was trained to answer, in percentage points. */
function objectiveVerdict(task: string, accuracy: Difference, baseline: string): string {
  const what = `on its objective, the answers of ${task} (the validation loss scores text it was not trained on)`;
  if (!accuracy.paired) return `${what}: ${noVerdict(accuracy, ACCURACY)}`;
  return `${verdictWords(accuracy, baseline)} ${what} — ${pairedDelta(accuracy.paired, ACCURACY)}`;
}

/** The objective task every run shares, when all of them were trained on a task's answers. */
function sharedObjective(runs: RunSummary[]): string | undefined {
  const tasks = new Set(runs.map((run) => run.objectiveTask));
  return tasks.size === 1 ? [...tasks][0] : undefined;
}

function compareWithBaseline(
  variant: GroupSummary,
  baseline: GroupSummary,
  sweeping: boolean,
  matched: boolean,
): VariantComparison {
  const final = difference(variant, baseline, (run) => run.finalValLoss);
  const best = difference(variant, baseline, (run) => run.bestValLoss);
  const pairedSeeds = final.seeds;
  const curvesOf = (group: GroupSummary) =>
    pairedSeeds.map((seed) => group.runs.find((run) => run.seed === seed)!.curve);
  const gap = gapCurve(
    pairedSeeds.map((seed) => ({
      variant: variant.runs.find((r) => r.seed === seed)!.curve,
      baseline: baseline.runs.find((r) => r.seed === seed)!.curve,
    })),
  );
  const baselineRuns = baseline.runs.filter((run) => pairedSeeds.includes(run.seed));
  const target = spread(baselineRuns.map((run) => run.finalValLoss)).mean;
  const baselineTokens = spread(baselineRuns.map((run) => run.curve.at(-1)!.tokens)).mean;
  const reached = pairedSeeds.length ? tokensToReach(meanCurve(curvesOf(variant)), target) : undefined;
  const partial = {
    variant: variant.variant,
    setting: variant.setting,
    baselineSetting: baseline.setting,
    parameterRatio: variant.parameterRatio,
    final,
    best,
    tasks: compareTasks(variant, baseline),
    gap,
    gapCrossings: zeroCrossings(gap),
    tokensToTarget: reached
      ? {
          target,
          baselineTokens,
          tokens: reached.tokens,
          fraction: reached.tokens / baselineTokens,
          atFirstEvaluation: reached.atFirstEvaluation,
        }
      : { target, baselineTokens },
  };
  const warnings: string[] = [];
  if (pairedSeeds.length < 3)
    warnings.push(
      `only ${pairedSeeds.length} seed(s) finished by both ${variant.variant} and ${baseline.variant}: with fewer ` +
        `than 3 the interval is very wide (t(1) = 12.71) or missing; run more seeds`,
    );
  const fingerprints = new Set([...variant.runs, ...baseline.runs].map((run) => run.evalFingerprint ?? 'unknown'));
  if (fingerprints.size > 1)
    warnings.push(
      `${variant.variant} and ${baseline.variant} were scored on different evaluation tokens (fingerprints ` +
        `${[...fingerprints].join(', ')}): ` +
        `the differences mix model and sample`,
    );
  const objective = sharedObjective([...variant.runs, ...baseline.runs]);
  const sentence = sentenceFor(partial, baseline.variant, sweeping, matched, variant.size, objective);
  return { ...partial, sentence, warnings };
}

/**
 * The size the verdicts are given at: where the baseline (any setting) has the most non-embedding
 * parameters among the sizes it finished; the last listed when none is finished yet.
 */
function largestSize(groups: GroupSummary[], baseline: string, sizes: string[]): string {
  const finished = groups.filter((g) => g.variant === baseline && g.runs.length > 0);
  if (finished.length === 0) return sizes.at(-1)!;
  return finished.reduce((a, b) => (b.nonEmbedding > a.nonEmbedding ? b : a)).size;
}

export function summarizeComparison(dir: string): ComparisonSummary {
  const plan = readPlan(dir);
  const results = new Map<string, RunSummary>();
  const missing: string[] = [];
  const mismatched: string[] = [];
  const diverged: ComparisonSummary['diverged'] = [];
  for (const run of plan.runs) {
    const runDir = join(dir, run.name);
    const divergence = readDivergence(runDir);
    if (divergence) {
      diverged.push({ ...run, size: run.size ?? '', ...divergence });
      continue;
    }
    try {
      if (!existsSync(runFile(runDir, 'metrics'))) throw new Error('not started');
      const summary = summarizeRun(runDir, run);
      if (summary.steps < summary.plannedSteps) throw new Error('unfinished');
      const planned = plan.configFingerprints?.[run.name];
      if (planned !== undefined && planned !== summary.fingerprint) mismatched.push(run.name);
      results.set(run.name, summary);
    } catch {
      missing.push(run.name); // not started, unfinished or damaged
    }
  }
  if (mismatched.length > 0)
    throw new UserError(
      `${dir}: ${mismatched.length} run(s) were trained under another configuration than the experiment plans: ` +
        `${mismatched.join(', ')}; run difft compare on ${plan.source || 'the experiment'} to see which keys ` +
        `changed (--retrain-changed trains them again)`,
    );

  const sizes = sizeNames(plan);
  const groups = plan.variants.flatMap(({ name }) =>
    sizes.flatMap((size) =>
      plan.settings.map((setting) => summarizeGroup(name, setting, size, plan.seeds, [...results.values()])),
    ),
  );
  const comparedSize = largestSize(groups, plan.baseline, sizes);
  const bestSettings: Record<string, string> = {};
  for (const { name } of plan.variants) {
    const finished = groups.filter((g) => g.variant === name && g.size === comparedSize && g.runs.length > 0);
    const best = finished.reduce<GroupSummary | undefined>(
      (a, b) => (!a || b.finalValLoss.mean < a.finalValLoss.mean ? b : a),
      undefined,
    );
    bestSettings[name] = best?.setting ?? plan.settings[0];
  }
  const groupOf = (variant: string, size = comparedSize) =>
    groups.find((g) => g.variant === variant && g.setting === bestSettings[variant] && g.size === size)!;
  const baseline = groupOf(plan.baseline);
  for (const group of groups) group.parameterRatio = group.parameters / groupOf(plan.baseline, group.size).parameters;
  const scaling =
    sizes.length > 1
      ? scalingSummary(
          plan.variants.flatMap(({ name }) => sizes.map((size) => groupOf(name, size))),
          plan.baseline,
        )
      : undefined;

  const sweeping = plan.settings.length > 1;
  const comparisons = plan.variants
    .filter(({ name }) => name !== plan.baseline)
    .map(({ name }) => compareWithBaseline(groupOf(name), baseline, sweeping, plan.match === 'params'));

  const evalSets = new Map<string, { fingerprint: string; tokens: number; runs: string[] }>();
  for (const run of results.values()) {
    const fingerprint = run.evalFingerprint ?? 'unknown';
    const entry = evalSets.get(fingerprint) ?? { fingerprint, tokens: run.evalTokens, runs: [] };
    entry.runs.push(run.name);
    evalSets.set(fingerprint, entry);
  }
  const warnings: string[] = [];
  if (evalSets.size > 1)
    warnings.push(
      `the runs were scored on ${evalSets.size} different evaluation sets (see evalSets): their losses are not ` +
        `measured on the same tokens`,
    );
  if (scaling) warnings.push(...scaling.warnings);
  const textWeights = [...new Set([...results.values()].map((run) => run.textWeight))].filter((w) => w < 1);
  if (textWeights.length)
    warnings.push(
      `the runs trained with train.textWeight = ${textWeights.join(', ')}: their objective weighed the text outside ` +
        `the answers at that, while the validation loss below is the plain loss over every token — at 0 it measures ` +
        `text the runs were not trained on: the verdicts are on the accuracy of the task they were trained to ` +
        `answer, and the Retrieval section has the rest`,
    );
  if (plan.fingerprints && !plan.configFingerprints)
    warnings.push(
      `${COMPARISON_FILES.plan} was written by an earlier difft, whose configuration fingerprints later ` +
        `versions cannot ` +
        `reproduce: the runs were not checked against the plan (difft compare on ${plan.source || 'the experiment'} ` +
        `checks them key by key and records new ones)`,
    );
  if (sweeping) {
    warnings.push(
      'each variant is compared at its best setting, chosen on the same validation tokens that score it: the ' +
        'selection flatters every variant alike, but slightly',
    );
  }
  return {
    dir,
    name: plan.name,
    baseline: plan.baseline,
    seeds: plan.seeds,
    sweep: plan.sweep,
    settings: plan.settings,
    sizes,
    comparedSize,
    groups,
    bestSettings,
    comparisons,
    ...(scaling ? { scaling } : {}),
    evalSets: [...evalSets.values()],
    missing,
    diverged,
    warnings,
  };
}
