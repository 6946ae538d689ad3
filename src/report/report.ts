import { writeFileAtomically } from '../atomic.js';
import { join } from 'node:path';
import { comparisonPlots, type Plot } from './plots.js';
import { summarizeComparison, type ComparisonSummary, type Spread } from './summary.js';

/**
 * The comparison report: report.md, report.html (plots inline), report.json (every number, for
 * scripts and tests) and each plot as SVG and PNG. `difft report DIR` writes it again at any time.
 */
export interface Report {
  summary: ComparisonSummary;
  files: string[];
}

const pm = (s: Spread, digits = 4) => (s.n ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : '-');
const integer = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');

export function summaryRows(summary: ComparisonSummary): string[][] {
  return summary.variants.map((v) => [
    v.name,
    v.attention,
    `${integer(v.parameters)} (${v.parameterRatio.toFixed(3)}×)`,
    `${v.runs.length}${v.missingSeeds.length ? ` (missing seeds ${v.missingSeeds.join(', ')})` : ''}`,
    integer(v.tokens),
    pm(v.wallSeconds, 1),
    pm(v.tokensPerSecond, 0),
    pm(v.finalValLoss),
    pm(v.bestValLoss),
    pm(v.finalBitsPerByte),
    pm(v.bestBitsPerByte),
  ]);
}

export const SUMMARY_HEADER = ['variant', 'attention', 'parameters (× baseline)', 'seeds', 'tokens', 'train time s', 'tokens/s', 'final val loss', 'best val loss', 'final bits/byte', 'best bits/byte'];

function markdown(summary: ComparisonSummary, plots: Plot[]): string {
  const rows = summaryRows(summary);
  const table = [`| ${SUMMARY_HEADER.join(' | ')} |`, `|${SUMMARY_HEADER.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
  return [
    `# Comparison: ${summary.variants.map((v) => v.name).join(' vs ')}`,
    '',
    `Baseline: **${summary.baseline}**. Seeds: ${summary.seeds.join(', ')}. Values are mean ± sample standard deviation over seeds; losses in nats per token on the validation split; train time excludes evaluation.`,
    '',
    table,
    '',
    '## Verdict',
    '',
    ...summary.variants.filter((v) => v.name !== summary.baseline).map((v) => `- ${v.verdict}`),
    '',
    'A difference counts as larger than the seed spread when it exceeds twice its standard error, sqrt(s_variant²/n + s_baseline²/n). Small models are noisy: more seeds narrow the spread.',
    '',
    ...plots.flatMap((plot) => [`## ${plot.title}`, '', `![${plot.title}](${plot.name}.png)`, '']),
  ].join('\n');
}

function html(summary: ComparisonSummary, plots: Plot[]): string {
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const rows = summaryRows(summary).map((row) => `<tr>${row.map((cell) => `<td>${escape(cell)}</td>`).join('')}</tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>difft comparison</title>
<style>body{font-family:'DejaVu Sans',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}</style>
</head><body>
<h1>Comparison: ${escape(summary.variants.map((v) => v.name).join(' vs '))}</h1>
<p>Baseline: <b>${escape(summary.baseline)}</b>. Seeds: ${summary.seeds.join(', ')}. Mean ± sample standard deviation over seeds; losses in nats per token.</p>
<table><thead><tr>${SUMMARY_HEADER.map((h) => `<th>${escape(h)}</th>`).join('')}</tr></thead><tbody>
${rows}
</tbody></table>
<h2>Verdict</h2><ul>${summary.variants.filter((v) => v.name !== summary.baseline).map((v) => `<li>${escape(v.verdict)}</li>`).join('')}</ul>
${plots.map((plot) => `<h2>${escape(plot.title)}</h2>\n${plot.svg}`).join('\n')}
</body></html>
`;
}

export async function writeReport(dir: string): Promise<Report> {
  const summary = summarizeComparison(dir);
  const plots = await comparisonPlots(summary);
  const files: string[] = [];
  const write = (name: string, content: string | Buffer) => {
    writeFileAtomically(join(dir, name), content);
    files.push(join(dir, name));
  };
  for (const plot of plots) {
    write(`${plot.name}.svg`, plot.svg);
    write(`${plot.name}.png`, plot.png);
  }
  write('report.json', `${JSON.stringify(summary, null, 2)}\n`);
  write('report.md', markdown(summary, plots));
  write('report.html', html(summary, plots));
  return { summary, files };
}
