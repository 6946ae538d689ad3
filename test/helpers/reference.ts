/**
 * A second, independent formulation of the decoder: plain loops over float64 arrays, written from
 * docs/design.md's equations with no tfjs and none of the model's reshapes. Tests compare the tfjs model
 * with it; the two share only the weights.
 */
import type { ModelConfig } from '../../src/config/model.js';

export type Matrix = number[][];
export type Weights = Record<string, number[] | Matrix>;

const matrix = (weights: Weights, name: string) => weights[name] as Matrix;
const vector = (weights: Weights, name: string) => weights[name] as number[];

/** x [n, in] · w [in, out] */
function matmul(x: Matrix, w: Matrix): Matrix {
  return x.map((row) => w[0].map((_, j) => row.reduce((sum, value, k) => sum + value * w[k][j], 0)));
}

function rmsNormRow(row: number[], weight: number[], eps: number): number[] {
  const meanSquare = row.reduce((s, v) => s + v * v, 0) / row.length;
  const scale = 1 / Math.sqrt(meanSquare + eps);
  return row.map((v, i) => v * scale * weight[i]);
}

/** Rotates the adjacent pairs (2i, 2i+1) of one head vector at `position` by position·base^(−2i/d). */
export function ropeByHand(head: number[], position: number, base: number): number[] {
  const d = head.length;
  const out = head.slice();
  for (let i = 0; i < d / 2; i++) {
    const angle = position * base ** ((-2 * i) / d);
    const [a, b] = [head[2 * i], head[2 * i + 1]];
    out[2 * i] = a * Math.cos(angle) - b * Math.sin(angle);
    out[2 * i + 1] = a * Math.sin(angle) + b * Math.cos(angle);
  }
  return out;
}

/** Columns [head·width, (head+1)·width) of every row. */
function headSlice(x: Matrix, head: number, width: number): Matrix {
  return x.map((row) => row.slice(head * width, (head + 1) * width));
}

/** Causal softmax(q kᵀ / sqrt(d)) for one head: [T, T]. */
function causalMap(q: Matrix, k: Matrix): Matrix {
  const d = q[0].length;
  return q.map((qRow, t) => {
    const scores = k.slice(0, t + 1).map((kRow) => qRow.reduce((s, v, i) => s + v * kRow[i], 0) / Math.sqrt(d));
    const max = Math.max(...scores);
    const exps = scores.map((s) => Math.exp(s - max));
    const total = exps.reduce((a, b) => a + b, 0);
    return k.map((_, j) => (j <= t ? exps[j] / total : 0));
  });
}

function rotateHeads(x: Matrix, count: number, width: number, base: number): Matrix[] {
  return Array.from({ length: count }, (_, h) => headSlice(x, h, width).map((row, t) => ropeByHand(row, t, base)));
}

export interface ReferenceMaps {
  /** per layer, per head: the maps, e.g. { a1, a2, differential } or { attention } */
  maps: Record<string, Matrix>[][];
}

/** Whether head outputs are RMS-normalised: model.headNorm, where `auto` is the paper's choice (diff only). */
function normalisesHeads(config: ModelConfig): boolean {
  return config.headNorm === 'on' || ((config.headNorm ?? 'auto') === 'auto' && config.attention === 'diff');
}

/** One sequence's attention output [T, D] for layer `layer` of the given config. */
export function referenceAttention(
  config: ModelConfig,
  weights: Weights,
  layer: number,
  x: Matrix,
  maps?: Record<string, Matrix>[],
): Matrix {
  const p = (name: string) => `layers.${layer}.attn.${name}`;
  const d = config.headDim > 0 ? config.headDim : config.width / config.heads;
  const base = config.ropeBase;
  const q = matmul(x, matrix(weights, p('q_proj.weight')));
  const k = matmul(x, matrix(weights, p('k_proj.weight')));
  const v = matmul(x, matrix(weights, p('v_proj.weight')));
  const length = x.length;
  const headOutputs: Matrix[] = [];
  const headNorm = (out: Matrix, scale: number) =>
    normalisesHeads(config)
      ? out.map((row) =>
          rmsNormRow(row, vector(weights, p('subln.weight')), config.normEps).map((value) => value * scale),
        )
      : out.map((row) => row.map((value) => value * scale));

  if (config.attention === 'standard') {
    const groupSize = config.heads / config.kvHeads;
    const qs = rotateHeads(q, config.heads, d, base);
    const ks = rotateHeads(k, config.kvHeads, d, base);
    for (let head = 0; head < config.heads; head++) {
      const group = Math.floor(head / groupSize);
      const map = causalMap(qs[head], ks[group]);
      maps?.push({ attention: map });
      headOutputs.push(headNorm(matmul(map, headSlice(v, group, d)), 1));
    }
  } else if (config.attention === 'diff') {
    const h = config.heads / 2;
    const hKv = config.kvHeads / 2;
    const groupSize = h / hKv;
    const dot = (a: number[], b: number[]) => a.reduce((s, value, i) => s + value * b[i], 0);
    const lambdaInit = config.lambdaInit === 'depth' ? 0.8 - 0.6 * Math.exp(-0.3 * layer) : config.lambdaInit;
    const lambdaOf = (head: number) =>
      config.lambda === 'fixed'
        ? lambdaInit
        : config.lambda === 'scalar'
          ? vector(weights, p('lambda'))[head]
          : Math.exp(dot(vector(weights, p('lambda_q1')), vector(weights, p('lambda_k1')))) -
            Math.exp(dot(vector(weights, p('lambda_q2')), vector(weights, p('lambda_k2')))) +
            lambdaInit;
    const qs = rotateHeads(q, 2 * h, d, base);
    const ks = rotateHeads(k, 2 * hKv, d, base);
    for (let head = 0; head < h; head++) {
      const group = Math.floor(head / groupSize);
      const lambda = lambdaOf(head);
      const a1 = causalMap(qs[2 * head], ks[2 * group]);
      const a2 = causalMap(qs[2 * head + 1], ks[2 * group + 1]);
      const differential = a1.map((row, t) => row.map((value, j) => value - lambda * a2[t][j]));
      maps?.push({ a1, a2, differential });
      const out = matmul(differential, headSlice(v, group, 2 * d));
      headOutputs.push(headNorm(out, config.outputScale === false ? 1 : 1 - lambdaInit));
    }
  } else {
    const qs = rotateHeads(q, 2 * config.heads, d, base);
    const ks = rotateHeads(k, config.kvHeads, d, base);
    // query head j of the 2H reads kv group floor(j / (2H/Hkv)), as grouped-query attention would
    const groupOf = (queryHead: number) => Math.floor(queryHead / ((2 * config.heads) / config.kvHeads));
    const gated = config.gate === 'token' || config.gate === 'unbounded' || config.gate === undefined;
    const lambdas = gated ? matmul(x, matrix(weights, p('lambda_proj.weight'))) : []; // [T, H]
    for (let head = 0; head < config.heads; head++) {
      // group: query heads 2i and 2i+1 (one kv group); across: i and H + i
      const [first, second] = config.pairing === 'across' ? [head, config.heads + head] : [2 * head, 2 * head + 1];
      const [a1, a2] = [causalMap(qs[first], ks[groupOf(first)]), causalMap(qs[second], ks[groupOf(second)])];
      const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
      const gate = (t: number) =>
        config.gate === 'none'
          ? 1
          : config.gate === 'scalar'
            ? sigmoid(vector(weights, p('lambda'))[head])
            : config.gate === 'unbounded'
              ? lambdas[t][head]
              : sigmoid(lambdas[t][head]);
      const firstOut = matmul(a1, headSlice(v, groupOf(first), d));
      const secondOut = matmul(a2, headSlice(v, groupOf(second), d));
      maps?.push({ a1, a2, differential: a1.map((row, t) => row.map((value, j) => value - gate(t) * a2[t][j])) });
      headOutputs.push(
        headNorm(
          firstOut.map((row, t) => row.map((value, i) => value - gate(t) * secondOut[t][i])),
          1,
        ),
      );
    }
  }
  const merged = Array.from({ length }, (_, t) => headOutputs.flatMap((out) => out[t]));
  return matmul(merged, matrix(weights, p('out_proj.weight')));
}

const silu = (z: number) => z / (1 + Math.exp(-z));

/** Logits [T, V] of one token sequence. */
export function referenceForward(
  config: ModelConfig,
  weights: Weights,
  tokens: number[],
  maps?: Record<string, Matrix>[][],
): Matrix {
  const embedding = matrix(weights, 'embed.weight');
  let x: Matrix = tokens.map((token) => embedding[token].slice());
  for (let layer = 0; layer < config.layers; layer++) {
    const w = (name: string) => `layers.${layer}.${name}`;
    const layerMaps: Record<string, Matrix>[] = [];
    maps?.push(layerMaps);
    const attnIn = x.map((row) => rmsNormRow(row, vector(weights, w('attn_norm.weight')), config.normEps));
    const attended = referenceAttention(config, weights, layer, attnIn, layerMaps);
    x = x.map((row, t) => row.map((value, i) => value + attended[t][i]));
    const ffnIn = x.map((row) => rmsNormRow(row, vector(weights, w('ffn_norm.weight')), config.normEps));
    const gate = matmul(ffnIn, matrix(weights, w('ffn.gate_proj.weight')));
    const up = matmul(ffnIn, matrix(weights, w('ffn.up_proj.weight')));
    const hidden = gate.map((row, t) => row.map((value, j) => silu(value) * up[t][j]));
    const down = matmul(hidden, matrix(weights, w('ffn.down_proj.weight')));
    x = x.map((row, t) => row.map((value, i) => value + down[t][i]));
  }
  const final = x.map((row) => rmsNormRow(row, vector(weights, 'norm.weight'), config.normEps));
  if (config.tieEmbeddings)
    return final.map((row) => embedding.map((e) => row.reduce((s, value, i) => s + value * e[i], 0)));
  return matmul(final, matrix(weights, 'lm_head.weight'));
}
