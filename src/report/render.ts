import type { Plot } from './plots.js';
import { degrees, signed } from './numbers.js';
import type { Difference } from './comparisons.js';

/** A report is a list of blocks, rendered once as Markdown and once as HTML. */
export type Block =
  | { kind: 'heading'; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; header: string[]; rows: string[][] }
  | { kind: 'plot'; plot: Plot };

/** One row of a paired-difference table: mean Δ, its standard error, the paired and the Welch interval, the verdict. */
export function differenceRow(variant: string, measure: string, d: Difference): string[] {
  const p = d.paired;
  const u = d.unpaired;
  return [
    variant,
    measure,
    String(d.seeds.length),
    p ? signed(p.mean) : signed(d.deltas[0]),
    p ? p.standardError.toFixed(4) : '-',
    p ? `[${signed(p.low)}, ${signed(p.high)}] (t(${p.df}) = ${p.critical.toFixed(3)})` : '-',
    u ? `${signed(u.mean)} [${signed(u.low)}, ${signed(u.high)}] (Welch df ${degrees(u.df)})` : '-',
    d.verdict,
  ];
}

export function markdown(content: Block[]): string {
  const lines: string[] = [];
  let first = true;
  for (const block of content) {
    if (block.kind === 'heading') lines.push(`${first ? '#' : '##'} ${block.text}`, '');
    else if (block.kind === 'paragraph') lines.push(block.text, '');
    else if (block.kind === 'list') lines.push(...block.items.map((item) => `- ${item}`), '');
    else if (block.kind === 'table') {
      const row = (cells: string[]) => `| ${cells.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
      lines.push(row(block.header), `|${block.header.map(() => '---').join('|')}|`, ...block.rows.map(row), '');
    } else lines.push(`![${block.plot.title}](${block.plot.name}.png)`, '');
    first = false;
  }
  return lines.join('\n');
}

/** The report page's style: sans-serif, tables with right-aligned numbers and left-aligned labels. */
const STYLE = [
  "body{font-family:'DejaVu Sans',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}",
  'table{border-collapse:collapse}',
  'td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}',
  'td:first-child,th:first-child{text-align:left}',
].join('');

export function html(content: Block[]): string {
  const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const inline = (s: string) => escapeHtml(s).replace(/\*\*(.+?)\*\*/g, '<b>$1</b>');
  let first = true;
  const body = content.map((block) => {
    const tag = first ? 'h1' : 'h2';
    first = false;
    if (block.kind === 'heading') return `<${tag}>${escapeHtml(block.text)}</${tag}>`;
    if (block.kind === 'paragraph') return `<p>${inline(block.text)}</p>`;
    if (block.kind === 'list') return `<ul>${block.items.map((item) => `<li>${inline(item)}</li>`).join('')}</ul>`;
    if (block.kind === 'table') {
      const head = `<tr>${block.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
      const rows = block.rows.map((row) => `<tr>${row.map((cell) => `<td>${inline(cell)}</td>`).join('')}</tr>`);
      return `<table><thead>${head}</thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
    }
    return block.plot.svg;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>difft comparison</title>
<style>${STYLE}</style>
</head><body>
${body.join('\n')}
</body></html>
`;
}
