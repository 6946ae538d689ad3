import { evaluationBlocks } from './evaluation-section.js';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic.js';
import { integer, pm, signed } from './numbers.js';
import { type Block, differenceRow, html, markdown } from './render.js';
import { comparisonPlots, type Plot } from './plots.js';
import { taskBlocks } from './retrieval-section.js';
import { SPIKE_FACTOR, SPIKE_WINDOW } from './stability.js';
import { spread } from './stats.js';
import type { ScalingTarget } from './scaling.js';
import type { Difference, VariantComparison } from './comparisons.js';
import { findGroup, type GroupSummary, sameGroup } from './groups.js';
import { type ComparisonSummary, summarizeComparison } from './summary.js';
import { COMPARISON_FILES } from '../formats/comparison.js';

/**
 * The comparison report: report.md, report.html (plots inline), report.json (every number, for
 * scripts and tests) and each plot as SVG and PNG. `difft report DIR` writes it again at any time,
 * from whatever runs have finished. Both documents are rendered from one list of blocks.
 */
export interface Report {
  summary: ComparisonSummary;
  files: string[];
}

const SUMMARY_HEADER = [
  'variant',
  'setting',
  'size',
  'attention',
  'parameters (× baseline)',
  'non-embedding',
  'FFN width',
  'seeds',
  'tokens',
  'train time s',
  'tokens/s',
  'final val loss',
  'best val loss',
  'final bits/byte',
  'best bits/byte',
];

function summaryRows(groups: GroupSummary[]): string[][] {
  return groups.map((g) => [
    g.variant,
    g.setting || '-',
    g.size || '-',
    g.attention,
    `${integer(g.parameters)} (${Number.isFinite(g.parameterRatio) ? g.parameterRatio.toFixed(3) : '-'}×)`,
    integer(g.nonEmbedding),
    integer(g.ffnHidden),
    `${g.runs.length}${g.missingSeeds.length ? ` (missing seeds ${g.missingSeeds.join(', ')})` : ''}`,
    integer(g.tokens),
    pm(g.wallSeconds, 1),
    pm(g.tokensPerSecond, 0),
    pm(g.finalValLoss),
    pm(g.bestValLoss),
    pm(g.finalBitsPerByte),
    pm(g.bestBitsPerByte),
  ]);
}

/** A table whose setting and size columns are shown only when the experiment has more than one of them. */
function tableOf(summary: ComparisonSummary, header: string[], rows: string[][]): Block {
  const hidden = new Set([
    ...(summary.settings.length > 1 ? [] : [header.indexOf('setting')]),
    ...(summary.sizes.length > 1 ? [] : [header.indexOf('size')]),
  ]);
  const keep = (_: string, column: number) => !hidden.has(column);
  return { kind: 'table', header: header.filter(keep), rows: rows.map((row) => row.filter(keep)) };
}

function runsTable(summary: ComparisonSummary): Block {
  return tableOf(summary, SUMMARY_HEADER, summaryRows(summary.groups));
}

/**
 * Per variant and setting: gradient-norm spikes per run, and the largest attention logit and residual
 * activation seen at any evaluation (any layer), mean over seeds; diverged runs counted apart.
 */
function stabilityBlocks(summary: ComparisonSummary): Block[] {
  const largest = (run: GroupSummary['runs'][number], pick: 'maxLogit' | 'maxActivation') =>
    Math.max(...run.extremes.flatMap((e) => e[pick]));
  const rows = summary.groups.map((g) => {
    const diverged = summary.diverged.filter((d) => sameGroup(d, g)).length;
    return [
      g.variant,
      g.setting || '-',
      g.size || '-',
      g.runs.map((run) => String(run.spikes)).join(', ') || '-',
      pm(spread(g.runs.filter((r) => r.extremes.length).map((r) => largest(r, 'maxLogit'))), 2),
      pm(spread(g.runs.filter((r) => r.extremes.length).map((r) => largest(r, 'maxActivation'))), 2),
      String(diverged),
    ];
  });
  return [
    { kind: 'heading', text: 'Stability' },
    {
      kind: 'paragraph',
      text:
        `A spike is a logged gradient norm (before clipping) above ${SPIKE_FACTOR}× the median of the ` +
        `${SPIKE_WINDOW} ` +
        'logged before it. Largest logit and activation: over every evaluation and layer, on the first evaluation ' +
        'batch; mean ± std over seeds. Plots: grad-norm.png, max-logit.png, max-activation.png.',
    },
    tableOf(
      summary,
      ['variant', 'setting', 'size', 'spikes per run', 'largest attention logit', 'largest |activation|', 'diverged'],
      rows,
    ),
  ];
}

function gapRow(summary: ComparisonSummary, c: VariantComparison): string[] {
  const first = c.gap[0];
  const last = c.gap.at(-1);
  const t = c.tokensToTarget;
  const reached =
    t.tokens === undefined
      ? 'not reached'
      : `${integer(t.tokens)} (${(100 * t.fraction!).toFixed(0)}% of ` +
        `${integer(t.baselineTokens)})${t.atFirstEvaluation ? ', at or before the first evaluation' : ''}`;
  return [
    c.variant,
    first ? `${signed(first.mean)} at ${integer(first.tokens)}` : '-',
    last ? `${signed(last.mean)} [${signed(last.low)}, ${signed(last.high)}]` : '-',
    c.gapCrossings.length ? c.gapCrossings.map(integer).join(', ') : 'never',
    `${t.target.toFixed(4)} (${summary.baseline})`,
    reached,
  ];
}

function targetCell(t: ScalingTarget): string {
  if (t.pastTurn)
    return `none: ${t.size} is past the turn of the baseline's curve (its loss is no lower than a smaller size's)`;
  if (t.fraction === undefined) {
    const below = t.belowAtSmallest;
    const why =
      below === t.seeds
        ? ': already below it at the smallest size'
        : below === 0
          ? ': still above it at the largest size'
          : ` (${below} of ${t.seeds} seeds already below it at the smallest size)`;
    return `not reached within the sizes run${why}`;
  }
  const interval =
    t.low !== undefined ? ` [${(100 * t.low).toFixed(0)}%, ${(100 * t.high!).toFixed(0)}%]` : ' (no interval)';
  return `${integer(t.fraction * t.baselineParameters)} = ${(100 * t.fraction).toFixed(0)}%${interval}`;
}

/** Loss per size and variant, and params-to-target: the paper's "same loss with a fraction of the parameters". */
function scalingBlocks(summary: ComparisonSummary): Block[] {
  if (!summary.scaling) return [];
  const { points, targets } = summary.scaling;
  const variants = [...new Set(summary.groups.map((g) => g.variant))];
  const cell = (variant: string, size: string) => {
    const p = points.find((x) => x.variant === variant && x.size === size);
    if (!p) return 'not run yet';
    const band = p.low !== undefined ? ` [${p.low.toFixed(4)}, ${p.high!.toFixed(4)}]` : '';
    return `${p.mean.toFixed(4)}${band} (N = ${integer(p.nonEmbedding)}, n=${p.seeds})`;
  };
  return [
    { kind: 'heading', text: 'Scaling' },
    {
      kind: 'paragraph',
      text:
        'Final validation loss per model size, mean over seeds with its 95% t interval, and N = non-embedding ' +
        'parameters (each variant at its best setting). Params-to-target: for each size of ' +
        `${summary.baseline}, the non-embedding parameters at which a variant's curve reaches ${summary.baseline}'s ` +
        'loss there, interpolated linearly in log N between the sizes run, per seed (paired), as a fraction of ' +
        `${summary.baseline}'s N: exp(mean log fraction) with the 95% t interval of the mean log fraction. Below ` +
        '100% the variant needs fewer parameters. A target outside the range of a variant’s curve gives no number.',
    },
    {
      kind: 'table',
      header: ['size', ...variants],
      rows: summary.sizes.map((size) => [size, ...variants.map((variant) => cell(variant, size))]),
    },
    {
      kind: 'table',
      header: [
        'variant',
        `${summary.baseline} size`,
        `${summary.baseline} N`,
        'target loss',
        'N to reach it',
        'seeds reached',
      ],
      rows: targets.map((t) => [
        t.variant,
        t.size,
        integer(t.baselineParameters),
        t.target.toFixed(4),
        targetCell(t),
        t.pastTurn ? '-' : `${t.reached} of ${t.seeds}`,
      ]),
    },
  ];
}

function sweepGrid(summary: ComparisonSummary): Block {
  const variants = [...new Set(summary.groups.map((g) => g.variant))];
  const rows = summary.settings.map((setting) => [
    setting,
    ...variants.map((variant) => {
      const g = findGroup(summary, { variant, setting, size: summary.comparedSize });
      const cell = g.runs.length ? `${pm(g.finalValLoss)} (n=${g.runs.length})` : 'not run yet';
      return summary.bestSettings[variant] === setting && g.runs.length ? `**${cell}**` : cell;
    }),
  ]);
  return { kind: 'table', header: ['setting', ...variants], rows };
}

/** The report, section by section, in the order a reader wants them. */
function reportContent(summary: ComparisonSummary, plots: Plot[]): Block[] {
  return [
    ...introduction(summary),
    ...verdictSection(summary),
    ...referenceSection(summary),
    ...gapSection(summary),
    ...scalingBlocks(summary),
    ...taskBlocks(summary),
    ...evaluationBlocks(summary),
    ...runsSection(summary),
    ...stabilityBlocks(summary),
    ...sweepSection(summary),
    ...plots.flatMap((plot): Block[] => [
      { kind: 'heading', text: plot.title },
      { kind: 'plot', plot },
    ]),
  ];
}

/** The title, what was compared and on what, and what is missing, diverged or suspicious. */
function introduction(summary: ComparisonSummary): Block[] {
  const variantNames = [...new Set(summary.groups.map((g) => g.variant))];
  const evalSet = summary.evalSets.length === 1 ? summary.evalSets[0] : undefined;
  const sweep = Object.entries(summary.sweep)
    .map(([key, values]) => `${key} ∈ {${values.join(', ')}}`)
    .join('; ');
  const out: Block[] = [
    { kind: 'heading', text: `Comparison ${summary.name}: ${variantNames.join(' vs ')}` },
    {
      kind: 'paragraph',
      text: [
        `Baseline: ${summary.baseline}. Seeds: ${summary.seeds.join(', ')}.`,
        summary.sizes.length > 1
          ? `Sizes: ${summary.sizes.join(', ')}; the verdicts are given at the largest, ${summary.comparedSize}.`
          : '',
        summary.settings.length > 1 ? `Sweep: ${sweep} (${summary.settings.length} settings per variant).` : '',
        evalSet
          ? `Every run was scored on the same ${integer(evalSet.tokens)} validation tokens (fingerprint ` +
            `${evalSet.fingerprint}).`
          : '',
        'Losses are in nats per token.',
      ]
        .filter(Boolean)
        .join(' '),
    },
  ];
  if (summary.missing.length)
    out.push({
      kind: 'paragraph',
      text:
        `Not finished yet (${summary.missing.length}): ${summary.missing.join(', ')}. The numbers below use ` +
        `the finished runs only.`,
    });
  if (summary.diverged.length)
    out.push({
      kind: 'paragraph',
      text:
        `Diverged (${summary.diverged.length}), left out of every statistic below: ` +
        `${summary.diverged.map((d) => `${d.name} at step ${d.step} (${d.reason})`).join('; ')}.`,
    });
  const warnings = [...summary.warnings, ...summary.comparisons.flatMap((c) => c.warnings)];
  if (warnings.length) out.push({ kind: 'heading', text: 'Warnings' }, { kind: 'list', items: warnings });
  return out;
}

/** One sentence per variant, how it is reached, and the paired differences behind it. */
function verdictSection(summary: ComparisonSummary): Block[] {
  return [
    { kind: 'heading', text: 'Verdict' },
    { kind: 'list', items: summary.comparisons.map((c) => c.sentence) },
    {
      kind: 'paragraph',
      text:
        'Runs with the same seed share the data order and the initial values of their shared parameters, so each ' +
        'seed gives one difference Δ = variant − baseline. The verdict is the 95% Student t interval of the mean ' +
        'Δ with n − 1 degrees of freedom: entirely below zero, better; entirely above, worse; otherwise no ' +
        'difference ' +
        'is detectable at this budget (more seeds or steps narrow it). The unpaired (Welch) interval ignores the ' +
        'pairing and is shown for comparison.',
    },
    {
      kind: 'table',
      header: ['variant', 'loss', 'seeds', 'mean Δ', 'SE', '95% CI (paired)', 'unpaired Δ, 95% CI', 'verdict'],
      rows: summary.comparisons.flatMap((c) => [
        differenceRow(c.variant, 'final', c.final),
        differenceRow(c.variant, 'best', c.best),
      ]),
    },
  ];
}

/**
 * The ablation table, when the experiment lists references: each variant's attention (with its
 * switches), size and final loss, and its paired Δ to each reference with the 95% interval and the
 * verdict — the shape of the Differential Transformer paper's Table 6, one column pair per reference.
 */
function referenceSection(summary: ComparisonSummary): Block[] {
  if (!summary.references) return [];
  const { names, rows } = summary.references;
  const cell = (d: Difference) =>
    d.paired ? `${signed(d.paired.mean)} [${signed(d.paired.low)}, ${signed(d.paired.high)}]` : signed(d.deltas[0]);
  const groupOf = (variant: string) =>
    findGroup(summary, { variant, setting: summary.bestSettings[variant], size: summary.comparedSize });
  return [
    { kind: 'heading', text: `Against ${names.join(' and ')}` },
    {
      kind: 'paragraph',
      text:
        `Every variant's final validation loss against ${names.join(' and against ')}: Δ = variant − reference ` +
        'per seed, the mean and its 95% paired Student t interval, and the verdict (lower loss is better; a ' +
        "reference against itself is 0). Attention: the variant's with its switches off their defaults.",
    },
    {
      kind: 'table',
      header: [
        'variant',
        'attention',
        'parameters',
        'final val loss',
        ...names.flatMap((name) => [`Δ vs ${name} [95% CI]`, `vs ${name}`]),
      ],
      rows: rows.map(({ variant, against }) => {
        const group = groupOf(variant);
        return [
          variant,
          group.attention,
          integer(group.parameters),
          pm(group.finalValLoss),
          ...names.flatMap((name) => (name === variant ? ['0', '-'] : [cell(against[name]), against[name].verdict])),
        ];
      }),
    },
  ];
}

function gapSection(summary: ComparisonSummary): Block[] {
  return [
    { kind: 'heading', text: 'The gap over training' },
    {
      kind: 'paragraph',
      text:
        `Δ at every evaluation, paired by seed (mean and 95% interval), and the tokens each variant needs to reach ` +
        `${summary.baseline}'s final loss on the mean curve over seeds, interpolated linearly between evaluations ` +
        `— the paper's "same loss with a fraction of the tokens".`,
    },
    {
      kind: 'table',
      header: [
        'variant',
        'Δ at first evaluation (tokens)',
        'Δ at the end [95% CI]',
        'mean Δ crosses zero at tokens',
        'target loss',
        'tokens to reach it',
      ],
      rows: summary.comparisons.map((c) => gapRow(summary, c)),
    },
  ];
}

function runsSection(summary: ComparisonSummary): Block[] {
  return [
    { kind: 'heading', text: 'Runs' },
    { kind: 'paragraph', text: 'Mean ± sample standard deviation over seeds; train time excludes evaluation.' },
    runsTable(summary),
  ];
}

function sweepSection(summary: ComparisonSummary): Block[] {
  if (summary.settings.length <= 1) return [];
  return [
    { kind: 'heading', text: 'Sweep' },
    {
      kind: 'paragraph',
      text:
        "Final validation loss per setting, mean ± std over seeds; bold: the variant's best setting, at " +
        'which its verdict is given.',
    },
    sweepGrid(summary),
  ];
}

export async function writeReport(dir: string): Promise<Report> {
  const summary = summarizeComparison(dir);
  const plots = await comparisonPlots(summary);
  const content = reportContent(summary, plots);
  const files: string[] = [];
  const write = (name: string, text: string | Buffer) => {
    writeFileAtomically(join(dir, name), text);
    files.push(join(dir, name));
  };
  for (const plot of plots) {
    write(`${plot.name}.svg`, plot.svg);
    write(`${plot.name}.png`, plot.png);
  }
  write(COMPARISON_FILES.reportJson, `${JSON.stringify(summary, null, 2)}\n`);
  write(COMPARISON_FILES.reportMarkdown, markdown(content));
  write(COMPARISON_FILES.reportHtml, html(content));
  return { summary, files };
}
