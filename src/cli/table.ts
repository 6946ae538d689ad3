/** A Markdown table, columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => (cell ?? '').padEnd(widths[i])).join(' | ')} |`;
  return `${[line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')}\n`;
}

/** 0.125 → "12.5%"; NaN (nothing measured) → "-". */
export const percent = (value: number): string => (Number.isNaN(value) ? '-' : `${(100 * value).toFixed(1)}%`);
