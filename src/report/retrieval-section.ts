import { pm, signed } from './numbers.js';
import { type Block, differenceRow } from './render.js';
import { cellAt, retrievalGrids, type RetrievalGrid } from './retrieval-grid.js';
import type { Spread } from './stats.js';
import { comparedGroups, type GroupSummary } from './groups.js';
import type { ComparisonSummary } from './summary.js';
import { WRONG_ANSWERS } from '../measure/task-metrics.js';
import { orderBlocks, orderSets } from './order-robustness.js';

/**
 * The report's Retrieval section: per probe task, accuracy and where attention goes, per variant with
 * the paired differences; tasks that form a grid over the number of facts and the length (the
 * paper's Table 2) as grids.
 */
/** Task accuracy and attention allocation per variant, with the paired differences used for loss. */
export function taskBlocks(summary: ComparisonSummary): Block[] {
  const groups = comparedGroups(summary);
  const names = [...new Set(groups.flatMap((g) => Object.keys(g.tasks)))];
  if (names.length === 0) return [];
  const grids = retrievalGrids(names);
  const gridded = new Set(grids.flatMap((grid) => grid.cells.map((cell) => cell.task)));
  // the orders of one set of demonstrations are read together, in the order-robustness section
  const ordered = new Set(orderSets(names).flatMap((set) => set.tasks));
  return [
    { kind: 'heading', text: 'Retrieval' },
    {
      kind: 'paragraph',
      text:
        'At the final evaluation, on the probe examples (held out): accuracy = every answer token is the top ' +
        'prediction ' +
        'under teacher forcing; exact match = greedy decoding reproduces the answer text; answer loss in nats per ' +
        'answer token. Allocation: the mean attention mass from the answer-producing positions on the needle that ' +
        'holds the answer and on noise (the other needles and the distractor text), averaged over heads and layers ' +
        '— on the differential map for diff and diff2 (A1 − λ·A2, whose rows sum to 1 − λ, so masses there are ' +
        'smaller ' +
        'by that factor; what matters is how answer and noise compare). Mean ± std over seeds; Δ paired by seed as ' +
        'for the loss (accuracy and answer mass: higher is better).',
    },
    ...grids.flatMap((grid) => gridBlocks(summary, grid)),
    ...names
      .filter((task) => !gridded.has(task) && !ordered.has(task))
      .flatMap((task) => oneTaskBlocks(summary, groups, task)),
    ...orderBlocks(summary),
  ];
}

/** One task outside any grid: its scores per variant, the paired differences, allocation per layer, chance. */
function oneTaskBlocks(summary: ComparisonSummary, groups: GroupSummary[], name: string): Block[] {
  const out: Block[] = [scoresTable(groups, name), taskDifferencesTable(summary, name), allocationTable(groups, name)];
  const chance = groups.flatMap((g) => g.runs).find((run) => run.tasks[name]);
  if (chance) {
    const { digits, randomFact } = chance.tasks[name].chance;
    out.push({
      kind: 'paragraph',
      text:
        `Chance on ${name}: ${(100 * digits).toFixed(1)}% guessing the digits, ${(100 * randomFact).toFixed(1)}% ` +
        `copying the value of a random fact of the example.`,
    });
  }
  return out;
}

function scoresTable(groups: GroupSummary[], name: string): Block {
  const mass = (s: Spread) => (s.n ? `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}` : '-');
  return {
    kind: 'table',
    header: [
      `${name}: variant`,
      'accuracy',
      'exact match',
      'answer loss',
      'wrong: other fact / absent / malformed',
      'answer mass',
      'noise mass',
      'map',
    ],
    rows: groups.map((g) => {
      const t = g.tasks[name];
      return t
        ? [
            g.variant,
            pm(t.accuracy, 3),
            pm(t.exactMatch, 3),
            pm(t.answerLoss, 3),
            wrongAnswers(g, name),
            mass(t.answerMass),
            mass(t.noiseMass),
            t.map,
          ]
        : [g.variant, '-', '-', '-', '-', '-', '-', '-'];
    }),
  };
}

function taskDifferencesTable(summary: ComparisonSummary, name: string): Block {
  return {
    kind: 'table',
    header: ['variant', 'measure', 'seeds', 'mean Δ', 'SE', '95% CI (paired)', 'unpaired Δ, 95% CI', 'verdict'],
    rows: summary.comparisons.flatMap((c) => {
      const t = c.tasks[name];
      return t
        ? [
            differenceRow(c.variant, 'accuracy', t.accuracy),
            differenceRow(c.variant, 'answer loss', t.answerLoss),
            differenceRow(c.variant, 'answer mass', t.answerMass),
            differenceRow(c.variant, 'noise mass', t.noiseMass),
          ]
        : [];
    }),
  };
}

function allocationTable(groups: GroupSummary[], name: string): Block {
  const layers = Math.max(...groups.map((g) => g.tasks[name]?.allocation.length ?? 0));
  return {
    kind: 'table',
    header: ['layer', ...groups.map((g) => `${g.variant}: answer / other needles / distractors / query`)],
    rows: Array.from({ length: layers }, (_, layer) => [
      String(layer),
      ...groups.map((g) => {
        const a = g.tasks[name]?.allocation[layer];
        return a
          ? `${a.answer.mean.toFixed(3)} / ${a.otherNeedles.mean.toFixed(3)} / ${a.distractors.mean.toFixed(3)} ` +
              `/ ${a.query.mean.toFixed(3)}`
          : '-';
      }),
    ]),
  };
}

/** The kinds of wrong greedy answers as shares of all answers (mean over seeds): other fact / absent / malformed. */
function wrongAnswers(group: GroupSummary, task: string): string {
  const wrong = group.tasks[task]?.wrong;
  if (!wrong || wrong.otherFact.n === 0) return '-';
  return WRONG_ANSWERS.map((kind) => wrong[kind].mean.toFixed(3)).join(' / ');
}

const lengthLabel = (length: number) => (length ? `${length} tokens` : 'context + 1');

/** Mean over layers of one role's mass (each layer: mean over seeds). */
function layerMean(group: GroupSummary, task: string, role: 'answer' | 'otherNeedles' | 'distractors'): number {
  const layers = group.tasks[task]?.allocation ?? [];
  return layers.reduce((sum, layer) => sum + layer[role].mean, 0) / layers.length;
}

/**
 * One grid: accuracy per N (rows) and length × variant (columns), each non-baseline cell with its
 * paired Δ and 95% interval; chance per N; then the attention masses per cell.
 */
function gridBlocks(summary: ComparisonSummary, grid: RetrievalGrid): Block[] {
  const groups = comparedGroups(summary);
  const columns = grid.lengths.flatMap((length) => groups.map((group) => ({ length, group })));
  const header = (what: string) => [
    'N',
    ...columns.map(({ length, group }) => `${group.variant}, ${lengthLabel(length)}${what}`),
  ];
  const accuracy = (group: GroupSummary, task: string) => {
    const result = group.tasks[task];
    if (!result) return '-';
    const paired = summary.comparisons.find((c) => c.variant === group.variant)?.tasks[task]?.accuracy.paired;
    const delta = paired ? ` (Δ ${signed(paired.mean, 3)} [${signed(paired.low, 3)}, ${signed(paired.high, 3)}])` : '';
    return `${pm(result.accuracy, 3)}${delta}`;
  };
  const chance = (needles: number) => {
    const cell = grid.cells.find((c) => c.needles === needles)!;
    const run = groups.flatMap((g) => g.runs).find((r) => r.tasks[cell.task]);
    return run ? `${(100 * run.tasks[cell.task].chance.randomFact).toFixed(1)}%` : '-';
  };
  const rows = (cellText: (group: GroupSummary, task: string) => string) =>
    grid.needles.map((needles) => [
      String(needles),
      ...columns.map(({ length, group }) => {
        const cell = cellAt(grid, needles, length);
        return cell ? cellText(group, cell.task) : '-';
      }),
    ]);
  const masses = (group: GroupSummary, task: string) =>
    group.tasks[task]
      ? (['answer', 'otherNeedles', 'distractors'] as const)
          .map((role) => layerMean(group, task, role).toFixed(3))
          .join(' / ')
      : '-';
  return [
    {
      kind: 'paragraph',
      text:
        `Grid: ${grid.title}. Accuracy per number of ${grid.counts} N (mean ± std over seeds; for each variant its ` +
        `paired Δ to ${summary.baseline} with the 95% t interval). Chance of ` +
        `${grid.counts === 'facts' ? "copying a random fact's value" : 'guessing among the labels shown'}: ` +
        `${grid.needles.map((n) => `N = ${n}: ${chance(n)}`).join(', ')}.`,
    },
    { kind: 'table', header: header(' accuracy'), rows: rows(accuracy) },
    {
      kind: 'paragraph',
      text:
        'Attention mass from the answer-producing positions on the answer needle / the other needles / the filler ' +
        "text, mean over layers, heads and seeds (the paper's attention-mass table).",
    },
    { kind: 'table', header: header(' answer / needles / filler'), rows: rows(masses) },
    {
      kind: 'paragraph',
      text:
        'Wrong greedy answers by kind, as shares of all answers (mean over seeds): the value of another fact of ' +
        "the example / a well-formed value that is no fact's value (made up) / not a value at all " +
        "(the paper's contextual hallucination).",
    },
    { kind: 'table', header: header(' other fact / absent / malformed'), rows: rows(wrongAnswers) },
  ];
}
