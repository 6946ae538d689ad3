import { Resvg } from '@resvg/resvg-js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ROLE_TITLES, ROLES, type Allocation } from '../measure/analysis.js';
import { comparedGroups, type GroupSummary } from './groups.js';
import type { RunSummary } from './runs.js';
import type { ComparisonSummary } from './summary.js';

/**
 * Plots of a comparison as vega-lite specs, rendered to SVG by vega and to PNG by resvg, with a
 * font that ships as an npm package so that the PNG looks the same on every machine.
 */
const FONT_FAMILY = 'DejaVu Sans';
const fontFile = join(
  dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')),
  'ttf',
  'DejaVuSans.ttf',
);

export const common = { width: 560, height: 300, config: { font: FONT_FAMILY, background: 'white' } };

/** The groups at the size the verdicts are given at (every group when there are no sizes). */
function atComparedSize(summary: ComparisonSummary): GroupSummary[] {
  return summary.groups.filter((group) => group.size === summary.comparedSize);
}

/** Where the plots of one size say which: in their titles. */
function sizeNote(summary: ComparisonSummary): string {
  return summary.sizes.length > 1 ? `, size ${summary.comparedSize}` : '';
}

function groupLabel(summary: ComparisonSummary, group: GroupSummary): string {
  return summary.settings.length > 1 ? `${group.variant} (${group.setting})` : group.variant;
}

function lossSpec(summary: ComparisonSummary, x: 'step' | 'tokens'): TopLevelSpec {
  const values = comparedGroups(summary).flatMap((group) =>
    group.runs.flatMap((run) =>
      run.curve.map((point) => ({ variant: groupLabel(summary, group), seed: run.seed, ...point })),
    ),
  );
  const xTitle = x === 'step' ? 'optimizer step' : 'tokens seen';
  return {
    ...common,
    title:
      `Validation loss against ${x === 'step' ? 'step' : 'tokens'} (mean over seeds, band: ±1 ` +
      `std${sizeNote(summary)})`,
    data: { values },
    encoding: {
      x: { field: x, type: 'quantitative', title: xTitle },
      color: { field: 'variant', type: 'nominal', title: 'variant' },
    },
    layer: [
      {
        mark: { type: 'errorband', extent: 'stdev', opacity: 0.25 },
        encoding: {
          y: { field: 'valLoss', type: 'quantitative', title: 'validation loss (nats/token)', scale: { zero: false } },
        },
      },
      {
        mark: { type: 'line', point: true },
        encoding: { y: { aggregate: 'mean', field: 'valLoss', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/**
 * Loss per position bin on the final checkpoints (the experiment's `eval` key), one panel per context,
 * x at each bin's first position on a log scale; the trained context marked in the panels past it.
 */
function positionSpec(summary: ComparisonSummary): TopLevelSpec | undefined {
  const values = comparedGroups(summary).flatMap((group) =>
    group.runs.flatMap((run) =>
      (run.evaluation?.contexts ?? []).flatMap((context) =>
        (context.byPosition ?? []).map((bin) => ({
          variant: groupLabel(summary, group),
          context: `context ${context.seqLen}${context.seqLen > context.trainedSeqLen ? ' (past the trained)' : ''}`,
          position: bin.from,
          loss: bin.loss,
        })),
      ),
    ),
  );
  if (values.length === 0) return undefined;
  return {
    ...common,
    title: `Loss by position on the final checkpoints (mean over seeds, band: ±1 std${sizeNote(summary)})`,
    data: { values },
    facet: { column: { field: 'context', type: 'nominal', title: null } },
    spec: {
      width: 300,
      height: 240,
      encoding: {
        x: { field: 'position', type: 'quantitative', title: 'position (first of its bin)', scale: { type: 'log' } },
        color: { field: 'variant', type: 'nominal', title: 'variant' },
      },
      layer: [
        {
          mark: { type: 'errorband', extent: 'stdev', opacity: 0.25 },
          encoding: { y: { field: 'loss', type: 'quantitative', title: 'loss (nats/token)', scale: { zero: false } } },
        },
        {
          mark: { type: 'line', point: true },
          encoding: { y: { aggregate: 'mean', field: 'loss', type: 'quantitative' } },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** Δ = variant − baseline over training with its 95% paired band; below zero the variant is ahead. */
function gapSpec(summary: ComparisonSummary): TopLevelSpec | undefined {
  const values = summary.comparisons.flatMap((comparison) =>
    comparison.gap.map((point) => ({
      variant: comparison.variant,
      tokens: point.tokens,
      mean: point.mean,
      low: point.low ?? point.mean,
      high: point.high ?? point.mean,
    })),
  );
  if (values.length === 0) return undefined;
  return {
    ...common,
    title: `Validation loss gap to ${summary.baseline} (variant − baseline, paired by seed; band: 95% CI)`,
    layer: [
      {
        data: { values },
        encoding: {
          x: { field: 'tokens', type: 'quantitative', title: 'tokens seen' },
          color: { field: 'variant', type: 'nominal', title: 'variant' },
        },
        layer: [
          {
            mark: { type: 'area', opacity: 0.2 },
            encoding: {
              y: { field: 'low', type: 'quantitative', title: 'Δ validation loss (nats/token)' },
              y2: { field: 'high' },
            },
          },
          { mark: { type: 'line', point: true }, encoding: { y: { field: 'mean', type: 'quantitative' } } },
        ],
      },
      {
        data: { values: [{ zero: 0 }] },
        mark: { type: 'rule', color: 'black', strokeDash: [4, 4] },
        encoding: { y: { field: 'zero', type: 'quantitative' } },
      },
    ],
  } as TopLevelSpec;
}

/** Final validation loss of every variant at every setting of the sweep (one swept key: against its value). */
function sweepSpec(summary: ComparisonSummary): TopLevelSpec | undefined {
  const keys = Object.keys(summary.sweep);
  if (keys.length !== 1) return undefined;
  const [key] = keys;
  const values = atComparedSize(summary).flatMap((group) =>
    group.runs.map((run) => ({
      variant: group.variant,
      value: summary.sweep[key][summary.settings.indexOf(group.setting)],
      loss: run.finalValLoss,
    })),
  );
  const numeric = values.every((v) => typeof v.value === 'number' && v.value > 0);
  return {
    ...common,
    title: `Final validation loss across the sweep of ${key} (mean over seeds; dots: seeds${sizeNote(summary)})`,
    data: { values },
    encoding: {
      x: {
        field: 'value',
        type: numeric ? 'quantitative' : 'ordinal',
        title: key,
        ...(numeric ? { scale: { type: 'log' } } : {}),
      },
      color: { field: 'variant', type: 'nominal', title: 'variant' },
    },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: {
          y: {
            aggregate: 'mean',
            field: 'loss',
            type: 'quantitative',
            title: 'final validation loss (nats/token)',
            scale: { zero: false },
          },
        },
      },
      { mark: { type: 'point', opacity: 0.4 }, encoding: { y: { field: 'loss', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

/**
 * Final validation loss against non-embedding parameters (log axis) per variant: the mean over seeds
 * at each size with its 95% Student-t band — the paper's scaling figure.
 */
function scalingSpec(summary: ComparisonSummary): TopLevelSpec | undefined {
  const values = (summary.scaling?.points ?? []).map((point) => ({
    ...point,
    low: point.low ?? point.mean,
    high: point.high ?? point.mean,
  }));
  if (values.length === 0) return undefined;
  return {
    ...common,
    title: 'Final validation loss against parameters (mean over seeds; band: 95% CI of the mean)',
    data: { values },
    encoding: {
      x: {
        field: 'nonEmbedding',
        type: 'quantitative',
        title: 'non-embedding parameters (log scale)',
        scale: { type: 'log', nice: false },
      },
      // full-strength swatches: the bands' opacity would make them too pale to tell the lines apart
      color: { field: 'variant', type: 'nominal', title: 'variant', legend: { symbolOpacity: 1 } },
    },
    layer: [
      {
        mark: { type: 'area', opacity: 0.2 },
        encoding: {
          y: {
            field: 'low',
            type: 'quantitative',
            title: 'final validation loss (nats/token)',
            scale: { zero: false },
          },
          y2: { field: 'high' },
        },
      },
      {
        mark: { type: 'line', point: true },
        encoding: {
          y: { field: 'mean', type: 'quantitative' },
        },
      },
    ],
  } as TopLevelSpec;
}

/** A per-layer quantity logged during training (diff's λ, diff2's gate), mean over seeds. */
function perLayerSpec(
  summary: ComparisonSummary,
  series: (run: RunSummary) => { step: number; values: number[] }[],
  title: string,
  yTitle: string,
): TopLevelSpec | undefined {
  const values = comparedGroups(summary).flatMap((group) =>
    group.runs.flatMap((run) =>
      series(run).flatMap(({ step, values: perLayer }) =>
        perLayer.map((value, layer) => ({ variant: groupLabel(summary, group), layer: `layer ${layer}`, step, value })),
      ),
    ),
  );
  if (values.length === 0) return undefined;
  return {
    ...common,
    title,
    data: { values },
    mark: 'line',
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'optimizer step' },
      y: { aggregate: 'mean', field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false } },
      color: { field: 'layer', type: 'nominal', title: 'layer' },
      strokeDash: { field: 'variant', type: 'nominal', title: 'variant' },
    },
  } as TopLevelSpec;
}

/**
 * The global gradient norm before clipping, per variant (mean over seeds), on a log axis where spikes
 * stand out; one panel per setting when something is swept (a learning-rate sweep is where they come).
 */
function gradNormSpec(summary: ComparisonSummary): TopLevelSpec | undefined {
  const values = atComparedSize(summary).flatMap((group) =>
    group.runs.flatMap((run) =>
      run.gradNorms.map((point) => ({ variant: group.variant, setting: group.setting || 'all', ...point })),
    ),
  );
  if (values.length === 0) return undefined;
  const panels = summary.settings.length > 1;
  return {
    ...(panels ? { config: common.config } : common),
    title: `Gradient norm before clipping (mean over seeds${sizeNote(summary)})`,
    data: { values },
    ...(panels ? { facet: { field: 'setting', type: 'nominal', title: null }, columns: 2 } : {}),
    spec: undefined,
    ...(panels
      ? {
          spec: {
            width: 360,
            height: 200,
            mark: { type: 'line', strokeWidth: 1 },
            encoding: gradNormEncoding(),
          },
        }
      : { mark: { type: 'line', strokeWidth: 1 }, encoding: gradNormEncoding() }),
  } as TopLevelSpec;
}

function gradNormEncoding() {
  return {
    x: { field: 'step', type: 'quantitative', title: 'optimizer step' },
    y: {
      aggregate: 'mean',
      field: 'value',
      type: 'quantitative',
      title: 'global gradient norm',
      scale: { type: 'log' },
    },
    color: { field: 'variant', type: 'nominal', title: 'variant' },
  };
}

/** Task accuracy (and the answer mass of attention) at every evaluation, mean over seeds. */
function taskSpec(summary: ComparisonSummary): TopLevelSpec | undefined {
  const values = comparedGroups(summary).flatMap((group) =>
    group.runs.flatMap((run) =>
      run.taskCurve.flatMap((point) => [
        {
          variant: groupLabel(summary, group),
          task: point.task,
          tokens: point.tokens,
          measure: 'accuracy',
          value: point.accuracy,
        },
        {
          variant: groupLabel(summary, group),
          task: point.task,
          tokens: point.tokens,
          measure: 'attention mass on the answer needle',
          value: point.answerMass,
        },
      ]),
    ),
  );
  if (values.length === 0) return undefined;
  return {
    ...common,
    width: 320,
    title: 'Retrieval over training (probe examples; mean over seeds, band: ±1 std)',
    data: { values },
    facet: {
      column: { field: 'measure', type: 'nominal', title: null },
      // task specs are long: each above its row, not rotated beside it where neighbours overlap
      row: {
        field: 'task',
        type: 'nominal',
        title: null,
        header: { labelAngle: 0, labelOrient: 'top', labelAlign: 'left', labelAnchor: 'start', labelFontSize: 11 },
      },
    },
    spec: {
      width: 320,
      height: 220,
      encoding: {
        x: { field: 'tokens', type: 'quantitative', title: 'tokens seen' },
        color: { field: 'variant', type: 'nominal' },
      },
      layer: [
        {
          mark: { type: 'errorband', extent: 'stdev', opacity: 0.25 },
          encoding: { y: { field: 'value', type: 'quantitative', title: null } },
        },
        {
          mark: { type: 'line', point: true },
          encoding: { y: { aggregate: 'mean', field: 'value', type: 'quantitative' } },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** Stacked bars of attention mass per role, one column of layers per entry. */
export function allocationBars(columns: { label: string; layers: Allocation[] }[], title: string): TopLevelSpec {
  const values = columns.flatMap(({ label, layers }) =>
    layers.flatMap((allocation, layer) =>
      ROLES.map((role, order) => ({
        column: label,
        layer: `layer ${layer}`,
        role: ROLE_TITLES[role],
        order,
        mass: allocation[role],
      })),
    ),
  );
  return {
    ...common,
    width: 130,
    height: 220,
    title,
    data: { values },
    mark: 'bar',
    encoding: {
      column: { field: 'column', type: 'nominal', title: null },
      x: { field: 'layer', type: 'ordinal', title: null },
      y: { field: 'mass', type: 'quantitative', title: 'attention mass', stack: 'zero' },
      color: { field: 'role', type: 'nominal', title: 'keys', sort: ROLES.map((role) => ROLE_TITLES[role]) },
      order: { field: 'order', type: 'quantitative' },
    },
  } as TopLevelSpec;
}

/** Where attention goes at the end, per layer and variant (mean over seeds). */
function allocationSpec(summary: ComparisonSummary): TopLevelSpec | undefined {
  const columns = comparedGroups(summary).flatMap((group) =>
    Object.entries(group.tasks).map(([task, t]) => ({
      label: `${groupLabel(summary, group)} · ${task}`,
      layers: t.allocation.map(
        (layer) => Object.fromEntries(ROLES.map((role) => [role, layer[role].mean])) as Allocation,
      ),
    })),
  );
  return columns.length
    ? allocationBars(
        columns,
        'Attention mass from answer-producing positions at the end of training (mean over heads and seeds)',
      )
    : undefined;
}

export interface Plot {
  name: string;
  title: string;
  svg: string;
  png: Buffer;
}

export async function render(spec: TopLevelSpec): Promise<{ svg: string; png: Buffer }> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      background: 'white',
      fitTo: { mode: 'zoom', value: 2 },
      font: { fontFiles: [fontFile], loadSystemFonts: false, defaultFontFamily: FONT_FAMILY },
    })
      .render()
      .asPng();
    return { svg, png };
  } finally {
    view.finalize();
  }
}

export async function comparisonPlots(summary: ComparisonSummary): Promise<Plot[]> {
  const specs: { name: string; title: string; spec?: TopLevelSpec }[] = [
    { name: 'loss-vs-step', title: 'Validation loss against step', spec: lossSpec(summary, 'step') },
    { name: 'loss-vs-tokens', title: 'Validation loss against tokens', spec: lossSpec(summary, 'tokens') },
    { name: 'gap-vs-tokens', title: 'Gap to the baseline against tokens', spec: gapSpec(summary) },
    { name: 'sweep', title: 'Final loss across the sweep', spec: sweepSpec(summary) },
    { name: 'loss-vs-params', title: 'Final loss against model size', spec: scalingSpec(summary) },
    {
      name: 'lambda',
      title: 'λ per layer over training',
      spec: perLayerSpec(
        summary,
        (run) => run.lambdas,
        'λ per layer during training (diff variants, mean over seeds)',
        'λ',
      ),
    },
    {
      name: 'diff2-gate',
      title: "diff2's gate per layer over training",
      spec: perLayerSpec(
        summary,
        (run) => run.diff2.map(({ step, layers }) => ({ step, values: layers.map((stats) => stats.gate.mean) })),
        'diff2: mean gate sigmoid(λ) per layer during training (on the first evaluation batch; mean over seeds)',
        'mean sigmoid(λ)',
      ),
    },
    { name: 'grad-norm', title: 'Gradient norm over training', spec: gradNormSpec(summary) },
    {
      name: 'max-logit',
      title: 'Largest attention logit per layer over training',
      spec: perLayerSpec(
        summary,
        (run) => run.extremes.map(({ step, maxLogit }) => ({ step, values: maxLogit })),
        'Largest visible attention logit per layer (first evaluation batch; mean over seeds)',
        'max attention logit',
      ),
    },
    {
      name: 'max-activation',
      title: 'Largest residual activation per layer over training',
      spec: perLayerSpec(
        summary,
        (run) => run.extremes.map(({ step, maxActivation }) => ({ step, values: maxActivation })),
        'Largest |residual-stream activation| per layer (first evaluation batch; mean over seeds)',
        'max |activation|',
      ),
    },
    { name: 'retrieval', title: 'Retrieval over training', spec: taskSpec(summary) },
    { name: 'allocation', title: 'Attention allocation at the end of training', spec: allocationSpec(summary) },
    { name: 'loss-by-position', title: 'Loss by position', spec: positionSpec(summary) },
  ];
  const plots: Plot[] = [];
  for (const { name, title, spec } of specs) if (spec) plots.push({ name, title, ...(await render(spec)) });
  return plots;
}
