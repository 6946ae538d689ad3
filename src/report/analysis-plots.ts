import type { TopLevelSpec } from 'vega-lite';
import type { CheckpointAnalysis } from '../inspect/analyze.js';
import { allocationBars, common, render, type Plot } from './plots.js';

/**
 * Plots of `difft analyze`: attention allocation per layer, outlier magnitudes per layer, and one
 * probe example's attention from its answer-producing positions, per layer.
 */

/** A short, unique label per checkpoint: its attention and step, and its position when those repeat. */
export function analysisLabels(analyses: CheckpointAnalysis[]): string[] {
  const base = analyses.map((a) => `${a.attention} @${a.step}`);
  return base.map((label, i) => (base.filter((b) => b === label).length > 1 ? `${label} #${i + 1}` : label));
}

function allocationSpec(analyses: CheckpointAnalysis[], labels: string[]): TopLevelSpec {
  const columns = analyses.map((analysis, i) => {
    const map = Object.keys(analysis.layers[0].allocation)[0];
    return { label: `${labels[i]} (${map})`, layers: analysis.layers.map((layer) => layer.allocation[map].mean) };
  });
  return allocationBars(columns, 'Attention mass from answer-producing positions per layer (mean over heads)');
}

function outlierSpec(analyses: CheckpointAnalysis[], labels: string[]): TopLevelSpec {
  const values = analyses.flatMap((analysis, i) =>
    analysis.layers.flatMap((layer) => [
      { checkpoint: labels[i], layer: layer.layer, measure: 'largest attention logit', value: layer.logits.top1 },
      { checkpoint: labels[i], layer: layer.layer, measure: 'largest activation', value: layer.hidden.top1 },
      { checkpoint: labels[i], layer: layer.layer, measure: 'activation kurtosis', value: layer.hidden.kurtosis },
    ]),
  );
  return {
    ...common,
    width: 220,
    height: 220,
    title: 'Outliers per layer',
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      column: { field: 'measure', type: 'nominal', title: null },
      x: { field: 'layer', type: 'ordinal', title: 'layer' },
      y: { field: 'value', type: 'quantitative', title: 'magnitude', scale: { type: 'log' } },
      color: { field: 'checkpoint', type: 'nominal' },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

function heatmapSpec(analysis: CheckpointAnalysis, label: string): TopLevelSpec {
  const { snapshot } = analysis;
  const values = snapshot.weights.flatMap((rows, layer) =>
    rows.flatMap((row, r) =>
      row.map((weight, key) => ({
        layer: `layer ${layer}`,
        row: `pos ${snapshot.rows[r]}`,
        key,
        keyEnd: key + 1,
        weight,
      })),
    ),
  );
  const spans = snapshot.example.needles.map((needle, index) => ({
    start: needle.start,
    end: needle.end,
    kind: snapshot.example.answers.some((a) => a.needle === index) ? 'fact asked about' : 'fact not asked about',
  }));
  return {
    ...common,
    title:
      `${label}: ${snapshot.map === 'attention' ? 'attention' : `${snapshot.map} map`} of one probe ` +
      `example from its answer-producing positions (mean over heads); boxes: facts`,
    vconcat: snapshot.weights.map((_, layer) => ({
      width: 640,
      height: 24 + 14 * snapshot.rows.length,
      title: `layer ${layer}`,
      layer: [
        {
          data: { values: values.filter((v) => v.layer === `layer ${layer}`) },
          mark: 'rect',
          encoding: {
            x: {
              field: 'key',
              type: 'quantitative',
              title: 'key position',
              scale: { domain: [0, snapshot.weights[0][0].length] },
            },
            x2: { field: 'keyEnd' },
            y: { field: 'row', type: 'ordinal', title: null, sort: null },
            color: {
              field: 'weight',
              type: 'quantitative',
              scale: { scheme: 'blueorange', domainMid: 0 },
              title: 'weight',
            },
          },
        },
        {
          data: { values: spans },
          mark: { type: 'rect', fillOpacity: 0, strokeWidth: 1.5 },
          encoding: {
            x: { field: 'start', type: 'quantitative' },
            x2: { field: 'end' },
            stroke: { field: 'kind', type: 'nominal', scale: { range: ['#d62728', '#7f7f7f'] }, title: null },
          },
        },
      ],
    })),
  } as TopLevelSpec;
}

export async function analysisPlots(analyses: CheckpointAnalysis[]): Promise<Plot[]> {
  const labels = analysisLabels(analyses);
  const specs = [
    { name: 'allocation', title: 'Attention allocation per layer', spec: allocationSpec(analyses, labels) },
    { name: 'outliers', title: 'Outlier magnitudes per layer', spec: outlierSpec(analyses, labels) },
    ...analyses.map((analysis, i) => ({
      name: `attention-${i + 1}-${analysis.attention}`,
      title: `Attention of one probe example: ${labels[i]}`,
      spec: heatmapSpec(analysis, labels[i]),
    })),
  ];
  const plots: Plot[] = [];
  for (const { name, title, spec } of specs) plots.push({ name, title, ...(await render(spec)) });
  return plots;
}
