/**
 * What the attentions report of their learned state, for logs, `difft info` and analyses: numbers, never
 * part of training.
 */

export interface GateStats {
  mean: number;
  std: number;
  p05: number;
  p50: number;
  p95: number;
}

export function gateStats(values: ArrayLike<number>): GateStats {
  const sorted = Float64Array.from(values).sort();
  const quantile = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const std = Math.sqrt(sorted.reduce((sum, v) => sum + (v - mean) ** 2, 0) / sorted.length);
  return { mean, std, p05: quantile(0.05), p50: quantile(0.5), p95: quantile(0.95) };
}

/** diff2 per layer: λ = x·W_λ (mean, std) and the gate sigmoid(λ), over the positions and heads of a batch. */
export interface Diff2LayerStats {
  lambdaMean: number;
  lambdaStd: number;
  gate: GateStats;
}

/** What an attention tells of its learned state, per layer (absent where it has no such state). */
export interface AttentionDiagnostics {
  /** diff: λ of every layer, from the weights. */
  lambdas?: number[];
  /** diff2: λ = x·W_λ and the gate sigmoid(λ) per layer, over the positions of a captured batch. */
  gates?: Diff2LayerStats[];
}
