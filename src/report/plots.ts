import { Resvg } from '@resvg/resvg-js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ComparisonSummary } from './summary.js';

/**
 * Plots of a comparison as vega-lite specs, rendered to SVG by vega and to PNG by resvg, with a
 * font that ships as an npm package so that the PNG looks the same on every machine.
 */
const FONT_FAMILY = 'DejaVu Sans';
const fontFile = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf', 'DejaVuSans.ttf');

const common = { width: 560, height: 300, config: { font: FONT_FAMILY, background: 'white' } };

function lossSpec(summary: ComparisonSummary, x: 'step' | 'tokens'): TopLevelSpec {
  const values = summary.variants.flatMap((variant) => variant.runs.flatMap((run) => run.curve.map((point) => ({ variant: variant.name, seed: run.seed, ...point }))));
  const xTitle = x === 'step' ? 'optimizer step' : 'tokens seen';
  return {
    ...common,
    title: `Validation loss against ${x === 'step' ? 'step' : 'tokens'} (mean over seeds, band: ±1 std)`,
    data: { values },
    encoding: {
      x: { field: x, type: 'quantitative', title: xTitle },
      color: { field: 'variant', type: 'nominal', title: 'variant' },
    },
    layer: [
      { mark: { type: 'errorband', extent: 'stdev', opacity: 0.25 }, encoding: { y: { field: 'valLoss', type: 'quantitative', title: 'validation loss (nats/token)', scale: { zero: false } } } },
      { mark: { type: 'line', point: true }, encoding: { y: { aggregate: 'mean', field: 'valLoss', type: 'quantitative' } } },
    ],
  } as TopLevelSpec;
}

function lambdaSpec(summary: ComparisonSummary): TopLevelSpec | undefined {
  const values = summary.variants.flatMap((variant) =>
    variant.runs.flatMap((run) => run.lambdas.flatMap(({ step, values: lambdas }) => lambdas.map((lambda, layer) => ({ variant: variant.name, layer: `layer ${layer}`, step, lambda })))),
  );
  if (values.length === 0) return undefined;
  return {
    ...common,
    title: 'λ per layer during training (diff variants, mean over seeds)',
    data: { values },
    mark: 'line',
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'optimizer step' },
      y: { aggregate: 'mean', field: 'lambda', type: 'quantitative', title: 'λ', scale: { zero: false } },
      color: { field: 'layer', type: 'nominal', title: 'layer' },
      strokeDash: { field: 'variant', type: 'nominal', title: 'variant' },
    },
  } as TopLevelSpec;
}

export interface Plot {
  name: string;
  title: string;
  svg: string;
  png: Buffer;
}

async function render(spec: TopLevelSpec): Promise<{ svg: string; png: Buffer }> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    const png = new Resvg(svg, {
      background: 'white',
      fitTo: { mode: 'zoom', value: 2 },
      font: { fontFiles: [fontFile], loadSystemFonts: false, defaultFontFamily: FONT_FAMILY },
    }).render().asPng();
    return { svg, png };
  } finally {
    view.finalize();
  }
}

export async function comparisonPlots(summary: ComparisonSummary): Promise<Plot[]> {
  const specs: { name: string; title: string; spec?: TopLevelSpec }[] = [
    { name: 'loss-vs-step', title: 'Validation loss against step', spec: lossSpec(summary, 'step') },
    { name: 'loss-vs-tokens', title: 'Validation loss against tokens', spec: lossSpec(summary, 'tokens') },
    { name: 'lambda', title: 'λ per layer over training', spec: lambdaSpec(summary) },
  ];
  const plots: Plot[] = [];
  for (const { name, title, spec } of specs) if (spec) plots.push({ name, title, ...(await render(spec)) });
  return plots;
}
