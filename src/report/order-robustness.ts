import { parseTaskSpec, specKey, type TaskSpec } from '../config/task.js';
import { type Difference, difference } from './comparisons.js';
import { comparedGroups, type GroupSummary } from './groups.js';
import { pm, signed } from './numbers.js';
import type { Block } from './render.js';
import type { RunSummary } from './runs.js';
import { spread } from './stats.js';
import type { ComparisonSummary } from './summary.js';

/**
 * Order robustness (the paper's Figure 7): probe tasks in `eval.tasks` that differ only in
 * `permutation` hold the same demonstrations and queries in other orders. Per run, the mean accuracy
 * over the orders and the margin between its best and its worst order; per variant the mean ± std
 * over seeds of both, and each paired to the baseline by seed (a smaller margin is the robust one).
 */
export interface OrderSet {
  /** The spec every member shares, with its order kind (random, grouped by class). */
  spec: TaskSpec;
  /** The probe tasks' names, one per permutation. */
  tasks: string[];
}

/** The sets among `tasks` (names of probe tasks): at least two permutations of one icl spec. */
export function orderSets(tasks: string[]): OrderSet[] {
  const sets = new Map<string, OrderSet>();
  for (const task of tasks) {
    let spec: TaskSpec;
    try {
      spec = parseTaskSpec(task);
    } catch {
      continue; // a task dataset's own label, not a probe spec
    }
    if (spec.kind !== 'icl') continue;
    const key = specKey({ ...spec, permutation: 0 });
    const set = sets.get(key) ?? { spec: { ...spec, permutation: 0 }, tasks: [] };
    if (!set.tasks.includes(task)) set.tasks.push(task);
    sets.set(key, set);
  }
  return [...sets.values()].filter((set) => set.tasks.length > 1);
}

/** A run's accuracies over the set's orders; undefined unless it was scored on every one. */
function accuracies(run: RunSummary, set: OrderSet): number[] | undefined {
  const values = set.tasks.map((task) => run.tasks[task]?.accuracy);
  return values.every((value) => value !== undefined) ? (values as number[]) : undefined;
}

export const orderMean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
export const orderMargin = (values: number[]) => Math.max(...values) - Math.min(...values);

export function orderBlocks(summary: ComparisonSummary): Block[] {
  const groups = comparedGroups(summary);
  const sets = orderSets([...new Set(groups.flatMap((g) => Object.keys(g.tasks)))]);
  const baseline = groups.find((g) => g.variant === summary.baseline);
  if (sets.length === 0 || !baseline) return [];
  const rows = sets.flatMap((set) =>
    groups.map((group) => {
      const measure = (reduce: (values: number[]) => number) => (run: RunSummary) => {
        const values = accuracies(run, set);
        return values && reduce(values);
      };
      const cell = (reduce: (values: number[]) => number, better: 'lower' | 'higher') => {
        const values = group.runs.flatMap((run) => measure(reduce)(run) ?? []);
        if (values.length === 0) return '-';
        const text = pm(spread(values), 3);
        return group === baseline
          ? text
          : `${text} (${deltaText(difference(group, baseline, measure(reduce), better))})`;
      };
      return [
        group.variant,
        `${set.spec.order}, N = ${set.spec.needles}, ${set.tasks.length} orders`,
        cell(orderMean, 'higher'),
        cell(orderMargin, 'lower'),
        worstCell(group, set),
      ];
    }),
  );
  return [
    { kind: 'heading', text: 'Order robustness' },
    {
      kind: 'paragraph',
      text:
        'In-context classification with the same demonstrations and queries in several orders (random, and grouped ' +
        "by class as in the paper's Figure 7), on the final evaluation's probe examples. Per run: the mean accuracy " +
        'over the orders and the margin between its best and its worst order; mean ± std over seeds, each ' +
        `variant's paired Δ to ${summary.baseline} with its 95% t interval (a higher mean, a smaller margin is ` +
        'better).',
    },
    { kind: 'table', header: ['variant', 'orders', 'mean accuracy', 'best − worst', 'worst order'], rows },
  ];
}

const deltaText = (d: Difference) =>
  d.paired ? `Δ ${signed(d.paired.mean, 3)} [${signed(d.paired.low, 3)}, ${signed(d.paired.high, 3)}]` : 'Δ -';

/** The worst order's accuracy, mean over seeds. */
function worstCell(group: GroupSummary, set: OrderSet): string {
  const worst = group.runs.flatMap((run) => {
    const values = accuracies(run, set);
    return values ? [Math.min(...values)] : [];
  });
  return worst.length ? pm(spread(worst), 3) : '-';
}
