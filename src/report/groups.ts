import type { Plan } from '../formats/comparison.js';
import { sizeNames } from '../formats/comparison.js';
import type { RunSummary } from './runs.js';
import { spread, type Spread } from './stats.js';
import { type GroupTaskSummary, groupTasks } from './tasks.js';

/**
 * The report's second stage: the runs grouped, once, by variant, sweep setting and model size (a
 * group's seeds are its runs), the size the verdicts are given at, and each variant's best setting.
 */
export interface GroupKey {
  variant: string;
  /** The sweep setting's label; '' when nothing is swept. */
  setting: string;
  /** The model size's name; '' when the experiment lists no sizes. */
  size: string;
}

export function sameGroup(a: GroupKey, b: GroupKey): boolean {
  return a.variant === b.variant && a.setting === b.setting && a.size === b.size;
}

export interface GroupSummary extends GroupKey {
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

/** A group's finished runs, before anything is measured on them. */
interface RunsOfGroup extends GroupKey {
  runs: RunSummary[];
}

/** Every group of the plan (variants × sizes × settings), each with its finished runs in seed order. */
function runsByGroup(plan: Plan, finished: RunSummary[]): RunsOfGroup[] {
  return plan.variants.flatMap(({ name: variant }) =>
    sizeNames(plan).flatMap((size) =>
      plan.settings.map((setting) => {
        const key = { variant, setting, size };
        const runs = plan.seeds.flatMap(
          (seed) => finished.find((r) => sameGroup({ ...r, size: r.size ?? '' }, key) && r.seed === seed) ?? [],
        );
        return { ...key, runs };
      }),
    ),
  );
}

/**
 * The size the verdicts are given at: where the baseline (any setting) has the most non-embedding
 * parameters among the sizes it finished; the last listed when none is finished yet.
 */
function comparedSizeOf(groups: RunsOfGroup[], plan: Plan): string {
  const finished = groups.filter((g) => g.variant === plan.baseline && g.runs.length > 0);
  if (finished.length === 0) return sizeNames(plan).at(-1)!;
  return finished.reduce((a, b) => (b.runs[0].nonEmbedding > a.runs[0].nonEmbedding ? b : a)).size;
}

/** Each variant's setting with the lowest mean final validation loss at the compared size. */
function bestSettingsOf(groups: RunsOfGroup[], plan: Plan, comparedSize: string): Record<string, string> {
  const meanLoss = (g: RunsOfGroup) => spread(g.runs.map((run) => run.finalValLoss)).mean;
  const bestSettings: Record<string, string> = {};
  for (const { name } of plan.variants) {
    const finished = groups.filter((g) => g.variant === name && g.size === comparedSize && g.runs.length > 0);
    const best = finished.reduce<RunsOfGroup | undefined>(
      (a, b) => (!a || meanLoss(b) < meanLoss(a) ? b : a),
      undefined,
    );
    bestSettings[name] = best?.setting ?? plan.settings[0];
  }
  return bestSettings;
}

export interface Groups {
  groups: GroupSummary[];
  comparedSize: string;
  bestSettings: Record<string, string>;
}

/** The groups of a plan's finished runs, measured; parameter ratios against the baseline at its best setting. */
export function groupRuns(plan: Plan, finished: RunSummary[]): Groups {
  const byGroup = runsByGroup(plan, finished);
  const comparedSize = comparedSizeOf(byGroup, plan);
  const bestSettings = bestSettingsOf(byGroup, plan, comparedSize);
  const baselineParameters = (size: string) => {
    const key = { variant: plan.baseline, setting: bestSettings[plan.baseline], size };
    return byGroup.find((g) => sameGroup(g, key))!.runs[0]?.parameters ?? NaN;
  };
  const groups = byGroup.map((g) => measureGroup(g, plan.seeds, baselineParameters(g.size)));
  return { groups, comparedSize, bestSettings };
}

function measureGroup(group: RunsOfGroup, seeds: number[], baselineParameters: number): GroupSummary {
  const { runs } = group;
  const over = (pick: (run: RunSummary) => number) => spread(runs.map(pick));
  const parameters = runs[0]?.parameters ?? NaN;
  return {
    variant: group.variant,
    setting: group.setting,
    size: group.size,
    attention: runs[0]?.attention ?? '?',
    runs,
    missingSeeds: seeds.filter((seed) => !runs.some((run) => run.seed === seed)),
    parameters,
    nonEmbedding: runs[0]?.nonEmbedding ?? NaN,
    ffnHidden: runs[0]?.ffnHidden ?? NaN,
    parameterRatio: parameters / baselineParameters,
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

/** The group of `key` in a summary's groups. */
export function findGroup(summary: { groups: GroupSummary[] }, key: GroupKey): GroupSummary {
  return summary.groups.find((g) => sameGroup(g, key))!;
}

/** The groups the verdicts are about: each variant at its best setting, at the compared size. */
export function comparedGroups(summary: Groups): GroupSummary[] {
  return Object.entries(summary.bestSettings).map(([variant, setting]) =>
    findGroup(summary, { variant, setting, size: summary.comparedSize }),
  );
}
