import { join } from 'node:path';

/** The output of `difft analyze --out DIR`: `analysis.json` with every number, and its plots beside it. */
export const ANALYSIS_FILE = 'analysis.json';

export function analysisFile(dir: string): string {
  return join(dir, ANALYSIS_FILE);
}

/** Recognises an analysis directory from its entries. */
export function looksLikeAnalysis(names: string[]): boolean {
  return names.includes(ANALYSIS_FILE);
}
