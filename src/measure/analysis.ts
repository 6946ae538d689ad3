import * as tf from '@tensorflow/tfjs';
import type { TaskExample } from '../data/tasks/generate.js';
import { probeInputs, type ProbeSet } from '../data/tasks/probes.js';
import { gateStats, type GateStats } from '../model/attention/diagnostics.js';
import { ATTENTION_VARIANTS } from '../model/attention/variants.js';
import type { Decoder, LayerCapture } from '../model/decoder.js';

/**
 * The instruments behind `difft analyze`: where attention goes when the model produces an answer
 * (attention allocation), how large its attention logits and activations get (outliers), and the
 * state of its λ (diff) or gates (diff2). All on a fixed probe set, so checkpoints are comparable.
 */

/** Where a key position sits, seen from one answer-producing query position. */
export const ROLES = ['answer', 'otherNeedles', 'distractors', 'query'] as const;
export type Role = (typeof ROLES)[number];
export type Allocation = Record<Role, number>;
export const ROLE_TITLES: Record<Role, string> = {
  answer: 'answer needle',
  otherNeedles: 'other needles',
  distractors: 'distractors',
  query: 'query region',
};

/**
 * Roles of the keys 0..keys−1 for rows producing an answer held by `needle`: its fact's tokens are
 * the answer needle, other facts' tokens other needles, everything from the first query on the
 * query region (queries and earlier answers), the rest distractor text.
 */
export function keyRoles(example: Omit<TaskExample, 'tokens'>, needle: number, keys: number): Uint8Array {
  const roles = new Uint8Array(keys).fill(ROLES.indexOf('distractors'));
  example.needles.forEach((span, index) => {
    for (let k = span.start; k < Math.min(span.end, keys); k++)
      roles[k] = index === needle ? ROLES.indexOf('answer') : ROLES.indexOf('otherNeedles');
  });
  for (let k = example.queryStart; k < keys; k++) roles[k] = ROLES.indexOf('query');
  return roles;
}

/**
 * Mean attention mass per role, per head: for each row of `rows` ([n, heads, keys], row-major) the
 * sum of its entries over the keys of each role, averaged over rows. A softmax row sums to 1, so
 * these are shares of its attention. A differential row (A1 − λ·A2) sums to 1 − λ and its entries can
 * be negative: its masses are reported as they are, so that the noise it cancels shows as mass near
 * zero (the roles' sum is the row total, 1 − λ); dividing by that total would blow up as λ nears 1.
 */
export function allocationOf(rows: Float32Array, heads: number, keys: number, roles: Uint8Array[]): Allocation[] {
  const sums = Array.from({ length: heads }, () => new Float64Array(ROLES.length));
  roles.forEach((rowRoles, row) => {
    for (let head = 0; head < heads; head++) {
      const offset = (row * heads + head) * keys;
      for (let k = 0; k < keys; k++) sums[head][rowRoles[k]] += rows[offset + k];
    }
  });
  return sums.map((sum) => Object.fromEntries(ROLES.map((role, r) => [role, sum[r] / roles.length])) as Allocation);
}

export function meanAllocation(allocations: Allocation[]): Allocation {
  return Object.fromEntries(
    ROLES.map((role) => [role, allocations.reduce((sum, a) => sum + a[role], 0) / allocations.length]),
  ) as Allocation;
}

/** Magnitudes of a set of values: largest, 10th largest, median, their ratio; kurtosis of the values. */
export interface MagnitudeStats {
  top1: number;
  top10: number;
  median: number;
  /** top1 / median */
  ratio: number;
  /** E[(x − μ)⁴] / σ⁴ (3 for a normal distribution; heavy tails raise it). */
  kurtosis: number;
}

export function magnitudeStats(values: ArrayLike<number>): MagnitudeStats {
  const n = values.length;
  const magnitudes = Float64Array.from(values, Math.abs).sort();
  const median = n % 2 ? magnitudes[(n - 1) / 2] : (magnitudes[n / 2 - 1] + magnitudes[n / 2]) / 2;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i] / n;
  let m2 = 0;
  let m4 = 0;
  for (let i = 0; i < n; i++) {
    const c = (values[i] - mean) ** 2;
    m2 += c / n;
    m4 += (c * c) / n;
  }
  const top1 = magnitudes[n - 1];
  return { top1, top10: magnitudes[Math.max(0, n - 10)], median, ratio: top1 / median, kurtosis: m4 / (m2 * m2) };
}

/** The entries of causal [.., T, T] blocks that a query may see (key ≤ query). */
export function visibleEntries(values: Float32Array, length: number): Float32Array {
  const blocks = values.length / (length * length);
  const out = new Float32Array((blocks * length * (length + 1)) / 2);
  let at = 0;
  for (let b = 0; b < blocks; b++) {
    for (let i = 0; i < length; i++) {
      const row = (b * length + i) * length;
      out.set(values.subarray(row, row + i + 1), at);
      at += i + 1;
    }
  }
  return out;
}

export interface LayerAnalysis {
  layer: number;
  /** Per map (attention; a1, a2 and differential for diff and diff2): the mean over heads, and each head. */
  allocation: Record<string, { mean: Allocation; heads: Allocation[] }>;
  /** Pre-softmax attention logits a query may see. */
  logits: MagnitudeStats;
  /** The residual stream after the block. */
  hidden: MagnitudeStats;
  /** diff: this layer's λ. */
  lambda?: number;
  /** diff2: the gate sigmoid(λ) over probe positions and heads. */
  gate?: GateStats;
}

/** One probe example's attention, head-mean, from its answer-producing rows to every key: for heat maps. */
export interface AttentionSnapshot {
  map: string;
  rows: number[];
  /** [layer][row][key] */
  weights: number[][][];
  example: Omit<TaskExample, 'tokens'>;
}

export interface ModelAnalysis {
  layers: LayerAnalysis[];
  snapshot: AttentionSnapshot;
}

/** Answer-producing rows of a batch: (example, position, needle) for each answer token. */
function answerRows(examples: TaskExample[]): { example: number; position: number; needle: number }[] {
  return examples.flatMap((example, index) =>
    example.answers.flatMap((answer) =>
      Array.from({ length: answer.end - answer.start }, (_, k) => ({
        example: index,
        position: answer.start + k - 1,
        needle: answer.needle,
      })),
    ),
  );
}

/** Rows [n, heads, keys] of a map [B, heads, Tq, Tk] at the given (example, position) pairs. */
function gatherRows(map: tf.Tensor, rows: { example: number; position: number }[]): Float32Array {
  const [batch, heads, length, keys] = map.shape;
  return tf.tidy(() => {
    const flat = map.transpose([0, 2, 1, 3]).reshape([batch * length, heads, keys]);
    return tf
      .gather(
        flat,
        tf.tensor1d(
          rows.map((r) => r.example * length + r.position),
          'int32',
        ),
      )
      .dataSync() as Float32Array;
  });
}

interface Accumulator {
  allocation: Record<string, { rows: number; sums: Allocation[] }>;
  logits: Float32Array[];
  hidden: Float32Array[];
  gates: Float32Array[];
}

function concat(chunks: Float32Array[]): Float32Array {
  const out = new Float32Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Runs the probe set through the model with captures on, `batchSize` examples at a time.
 * Outlier statistics use the first `outlierExamples` examples (all their visible logits and
 * activations); allocation uses every example.
 */
export function analyzeModel(
  model: Decoder,
  probes: ProbeSet,
  options: { batchSize: number; outlierExamples?: number },
): ModelAnalysis {
  const { config } = model;
  const mapNames = ATTENTION_VARIANTS[config.attention].allocationMaps;
  const outlierExamples = options.outlierExamples ?? 16;
  const inputLength = probes.length - 1;
  const perLayer: Accumulator[] = Array.from({ length: config.layers }, () => ({
    allocation: {},
    logits: [],
    hidden: [],
    gates: [],
  }));
  let snapshot: AttentionSnapshot | undefined;
  for (let from = 0; from < probes.examples.length; from += options.batchSize) {
    const examples = probes.examples.slice(from, from + options.batchSize);
    const rows = answerRows(examples);
    const roles = rows.map((row) => keyRoles(examples[row.example], row.needle, inputLength));
    tf.tidy(() => {
      const inputs = probeInputs(examples, probes.length);
      const captures = model.forward(tf.tensor2d(inputs, [examples.length, inputLength], 'int32'), { capture: true })
        .captures!;
      captures.forEach((capture, layer) => {
        const acc = perLayer[layer];
        for (const name of mapNames) {
          const map = capture.maps[name];
          const allocations = allocationOf(gatherRows(map, rows), map.shape[1]!, inputLength, roles);
          acc.allocation[name] ??= {
            rows: 0,
            sums: allocations.map(() => Object.fromEntries(ROLES.map((r) => [r, 0])) as Allocation),
          };
          const entry = acc.allocation[name];
          allocations.forEach((allocation, head) => {
            for (const role of ROLES) entry.sums[head][role] += allocation[role] * rows.length;
          });
          entry.rows += rows.length;
        }
        collectOutliers(acc, capture, from, outlierExamples, inputLength);
      });
      if (!snapshot) snapshot = snapshotOf(captures, mapNames[0], examples[0]);
    });
  }
  const { lambdas } = model.diagnostics();
  const layers = perLayer.map((acc, layer) => ({
    layer,
    allocation: Object.fromEntries(
      Object.entries(acc.allocation).map(([name, { rows, sums }]) => {
        const heads = sums.map((sum) => Object.fromEntries(ROLES.map((r) => [r, sum[r] / rows])) as Allocation);
        return [name, { mean: meanAllocation(heads), heads }];
      }),
    ),
    logits: magnitudeStats(concat(acc.logits)),
    hidden: magnitudeStats(concat(acc.hidden)),
    ...(lambdas ? { lambda: lambdas[layer] } : {}),
    // diff2's gates, where its forward captured them
    ...(acc.gates.length ? { gate: gateStats(concat(acc.gates)) } : {}),
  }));
  return { layers, snapshot: snapshot! };
}

function collectOutliers(
  acc: Accumulator,
  capture: LayerCapture,
  from: number,
  outlierExamples: number,
  length: number,
): void {
  const keep = Math.min(capture.hidden.shape[0]!, outlierExamples - from);
  if (keep <= 0) return;
  const first = (t: tf.Tensor) => (keep === t.shape[0] ? t : t.slice(0, keep));
  acc.logits.push(visibleEntries(first(capture.maps.logits).dataSync() as Float32Array, length));
  acc.hidden.push(first(capture.hidden).dataSync() as Float32Array);
  if (capture.maps.gate) acc.gates.push(first(capture.maps.gate).dataSync() as Float32Array);
}

function snapshotOf(captures: LayerCapture[], map: string, example: TaskExample): AttentionSnapshot {
  const { tokens: _tokens, ...where } = example;
  const rows = answerRows([example]).map((r) => r.position);
  const weights = captures.map((capture) =>
    tf.tidy(() => {
      const firstRow = capture.maps[map].slice([0, 0, 0, 0], [1, -1, -1, -1]);
      const headMean = firstRow.mean(1).squeeze([0]) as tf.Tensor2D; // [Tq, Tk]
      return tf.gather(headMean, tf.tensor1d(rows, 'int32')).arraySync() as number[][];
    }),
  );
  return { map, rows, weights, example: where };
}
