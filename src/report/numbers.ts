import type { Spread } from './stats.js';

/** How numbers read in every part of a report: tables, verdicts and warnings alike. */
export const pm = (s: Spread, digits = 4) => (s.n ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : '-');
export const integer = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
export const signed = (x: number | undefined, digits = 4) =>
  x === undefined || !Number.isFinite(x) ? '-' : `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;
export const degrees = (df: number) => (Number.isInteger(df) ? String(df) : df.toFixed(1));
