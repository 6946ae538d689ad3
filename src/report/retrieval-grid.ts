import { parseTaskSpec, specKey, type TaskSpec } from '../config/task.js';

/**
 * The paper's retrieval table (its Table 2): accuracy by number of needles N, one column per
 * context length and attention. Probe tasks named in `eval.tasks` that differ only in the number of
 * facts (and in the queries, which cannot exceed it) and in their length are cells of one grid;
 * every other task stays a table of its own.
 */
export interface GridCell {
  /** The probe task's name, as the runs' metrics record it. */
  task: string;
  needles: number;
  /** Tokens per example (0: the model's context + 1). */
  length: number;
}

export interface RetrievalGrid {
  /** What every cell shares, e.g. `needles, 2 queries, lookalike keys, text`. */
  title: string;
  /** What N counts: the facts of a retrieval task, the demonstrations (shots) of in-context classification. */
  counts: 'facts' | 'demonstrations';
  needles: number[];
  lengths: number[];
  cells: GridCell[];
}

/** What a cell's task shares with the rest of its grid: the spec without needles, queries and length. */
function sharedPart(spec: TaskSpec): string {
  const { needles: _n, needlesMin: _m, queries: _q, length: _l, ...rest } = spec;
  return specKey(rest);
}

function titleOf(spec: TaskSpec, queries: number[]): string {
  const asked = Math.max(...queries);
  if (spec.kind === 'icl')
    return [
      `icl, ${spec.classes} classes`,
      `up to ${asked} ${asked === 1 ? 'query' : 'queries'}`,
      `inputs of ${spec.keyLength} letters`,
      `${spec.answerLength}-digit labels`,
      `demonstrations in ${spec.order} order${spec.permutation ? ` (permutation ${spec.permutation})` : ''}`,
      `${spec.distractor} filler`,
    ].join(', ');
  return [
    spec.kind,
    `up to ${asked} ${asked === 1 ? 'query' : 'queries'}`,
    `${spec.keys} keys of ${spec.keyLength} letters`,
    `${spec.answerLength}-digit values`,
    `${spec.distractor} filler`,
  ].join(', ');
}

/** The grids among `tasks` (names of probe tasks): groups of at least two cells with one number of facts each. */
export function retrievalGrids(tasks: string[]): RetrievalGrid[] {
  const groups = new Map<string, { spec: TaskSpec; task: string }[]>();
  for (const task of tasks) {
    let spec: TaskSpec;
    try {
      spec = parseTaskSpec(task);
    } catch {
      continue; // a task dataset's own label (needles-4x1), not a probe spec
    }
    if (spec.needlesMin > 0 && spec.needlesMin < spec.needles) continue; // a range is no cell
    const key = sharedPart(spec);
    groups.set(key, [...(groups.get(key) ?? []), { spec, task }]);
  }
  return [...groups.values()]
    .filter((members) => members.length > 1)
    .map((members) => {
      const cells = members.map(({ spec, task }) => ({ task, needles: spec.needles, length: spec.length }));
      const sorted = (values: number[]) => [...new Set(values)].sort((a, b) => a - b);
      return {
        counts: members[0].spec.kind === 'icl' ? 'demonstrations' : 'facts',
        title: titleOf(
          members[0].spec,
          members.map((m) => m.spec.queries),
        ),
        needles: sorted(cells.map((c) => c.needles)),
        lengths: sorted(cells.map((c) => c.length)),
        cells,
      };
    });
}

/** The cell at N facts and a length, if the grid has it. */
export function cellAt(grid: RetrievalGrid, needles: number, length: number): GridCell | undefined {
  return grid.cells.find((cell) => cell.needles === needles && cell.length === length);
}
