import { readPlan, sizeNames } from '../formats/comparison.js';
import { compareWithBaseline, type Difference, difference, type VariantComparison } from './comparisons.js';
import { findGroup, type GroupSummary, groupRuns } from './groups.js';
import { comparisonProse, summaryWarnings } from './prose.js';
import { type DivergedRun, readRuns, type RunSummary } from './runs.js';
import { type ScalingSummary, scalingSummary } from './scaling.js';

/**
 * The numbers of a comparison, recomputed from each run's metrics.jsonl and checkpoint, in stages:
 * read the runs (runs.ts); group them by variant, setting and size, as mean ± sample standard
 * deviation over seeds, with each variant's best setting (groups.ts); compare each variant with the
 * baseline at the best settings (comparisons.ts: final and best loss, the gap over training, tokens
 * to the baseline's final loss); write the sentences (prose.ts).
 */
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
  /**
   * When the experiment lists references: every variant's final loss against each reference's, paired by
   * seed, at the best settings and the compared size (an ablation table: each row against the full model
   * and against the baseline).
   */
  references?: { names: string[]; rows: { variant: string; against: Record<string, Difference> }[] };
  /** Loss against parameters and params-to-target, when the experiment lists more than one size. */
  scaling?: ScalingSummary;
  /** The evaluation sets the runs were scored on: one, unless something is wrong. */
  evalSets: { fingerprint: string; tokens: number; runs: string[] }[];
  /** Runs of the plan without a finished, readable result. */
  missing: string[];
  /** Runs that diverged (src/train/divergence.ts): listed, and left out of every statistic. */
  diverged: DivergedRun[];
  warnings: string[];
}

export function summarizeComparison(dir: string): ComparisonSummary {
  const plan = readPlan(dir);
  const { finished, missing, diverged } = readRuns(dir, plan);
  const { groups, comparedSize, bestSettings } = groupRuns(plan, finished);
  const sizes = sizeNames(plan);
  const groupOf = (variant: string, size = comparedSize) =>
    findGroup({ groups }, { variant, setting: bestSettings[variant], size });
  const scaling =
    sizes.length > 1
      ? scalingSummary(
          plan.variants.flatMap(({ name }) => sizes.map((size) => groupOf(name, size))),
          plan.baseline,
        )
      : undefined;
  const baseline = groupOf(plan.baseline);
  const comparisons = plan.variants
    .filter(({ name }) => name !== plan.baseline)
    .map(({ name }): VariantComparison => {
      const variant = groupOf(name);
      const numbers = compareWithBaseline(variant, baseline);
      return { ...numbers, ...comparisonProse(numbers, variant, baseline, plan) };
    });
  const references = plan.references && {
    names: plan.references,
    rows: plan.variants.map(({ name }) => ({
      variant: name,
      against: Object.fromEntries(
        plan.references!.map((reference) => [
          reference,
          difference(groupOf(name), groupOf(reference), (run) => run.finalValLoss),
        ]),
      ),
    })),
  };
  const evalSets = evalSetsOf(finished);
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
    ...(references ? { references } : {}),
    ...(scaling ? { scaling } : {}),
    evalSets,
    missing,
    diverged,
    warnings: summaryWarnings(plan, finished, evalSets.length, scaling?.warnings ?? []),
  };
}

/** The evaluation sets the runs were scored on, by fingerprint, with the runs of each. */
function evalSetsOf(runs: RunSummary[]): ComparisonSummary['evalSets'] {
  const evalSets = new Map<string, { fingerprint: string; tokens: number; runs: string[] }>();
  for (const run of runs) {
    const fingerprint = run.evalFingerprint ?? 'unknown';
    const entry = evalSets.get(fingerprint) ?? { fingerprint, tokens: run.evalTokens, runs: [] };
    entry.runs.push(run.name);
    evalSets.set(fingerprint, entry);
  }
  return [...evalSets.values()];
}
