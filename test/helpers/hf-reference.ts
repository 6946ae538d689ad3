import type { NamedArray } from '../../src/checkpoint/safetensors.js';

/**
 * transformers' LlamaForCausalLM and DiffLlamaForCausalLM, written again in float64 from their
 * modeling files' equations (rotate_half RoPE; DiffLlama's heads chunked in halves, its value heads
 * concatenated from kv heads g and g + H_kv/2, a weightless RMSNorm per head): what an exported
 * directory must compute. Independent of difft's model code.
 */
export interface HfConfig {
  model_type: string;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  rms_norm_eps: number;
  rope_theta: number;
  tie_word_embeddings: boolean;
}

type Matrix = number[][];

/** x [T, in] · Wᵀ for a PyTorch weight W [out, in]. */
function project(x: Matrix, w: NamedArray): Matrix {
  const [outWidth, inWidth] = w.shape;
  return x.map((row) =>
    Array.from({ length: outWidth }, (_, o) => row.reduce((sum, value, i) => sum + value * w.data[o * inWidth + i], 0)),
  );
}

function rmsNorm(row: number[], eps: number, weight?: NamedArray): number[] {
  const scale = 1 / Math.sqrt(row.reduce((sum, v) => sum + v * v, 0) / row.length + eps);
  return row.map((v, i) => v * scale * (weight ? weight.data[i] : 1));
}

/** q·cos + rotate_half(q)·sin, with inv_freq_j = θ^(−2j/d) for j < d/2 and emb = cat(freqs, freqs). */
function rotateHalf(head: number[], position: number, theta: number): number[] {
  const d = head.length;
  return head.map((value, j) => {
    const angle = position * theta ** ((-2 * (j % (d / 2))) / d);
    const rotated = j < d / 2 ? -head[j + d / 2] : head[j - d / 2];
    return value * Math.cos(angle) + rotated * Math.sin(angle);
  });
}

/** Heads of width d from [T, n·d]: [n][T][d], rotated or not. */
function heads(x: Matrix, count: number, d: number, theta?: number): Matrix[] {
  return Array.from({ length: count }, (_, h) =>
    x.map((row, t) =>
      theta === undefined ? row.slice(h * d, (h + 1) * d) : rotateHalf(row.slice(h * d, (h + 1) * d), t, theta),
    ),
  );
}

function causalSoftmax(q: Matrix, k: Matrix): Matrix {
  const scale = 1 / Math.sqrt(q[0].length);
  return q.map((qRow, t) => {
    const scores = k.slice(0, t + 1).map((kRow) => qRow.reduce((sum, v, i) => sum + v * kRow[i], 0) * scale);
    const max = Math.max(...scores);
    const exps = scores.map((s) => Math.exp(s - max));
    const total = exps.reduce((a, b) => a + b, 0);
    return [...exps.map((e) => e / total), ...new Array(k.length - t - 1).fill(0)];
  });
}

const times = (a: Matrix, b: Matrix): Matrix =>
  a.map((row) => b[0].map((_, j) => row.reduce((sum, v, s) => sum + v * b[s][j], 0)));

function attention(config: HfConfig, w: (name: string) => NamedArray, layer: number, x: Matrix): Matrix {
  const { num_attention_heads: H, num_key_value_heads: Hkv, head_dim: d, rope_theta: theta } = config;
  const p = (name: string) => w(`model.layers.${layer}.self_attn.${name}`);
  const q = heads(project(x, p('q_proj.weight')), H, d, theta);
  const k = heads(project(x, p('k_proj.weight')), Hkv, d, theta);
  const v = heads(project(x, p('v_proj.weight')), Hkv, d);
  const groups = H / Hkv;
  const maps = q.map((qh, h) => causalSoftmax(qh, k[Math.floor(h / groups)]));
  const vRepeated = (h: number) => v[Math.floor(h / groups)];
  let perHead: Matrix[];
  if (config.model_type === 'llama') {
    perHead = maps.map((map, h) => times(map, vRepeated(h)));
  } else {
    const sum = (a: NamedArray, b: NamedArray) => a.data.reduce((s, value, i) => s + value * b.data[i], 0);
    const lambdaInit = 0.8 - 0.6 * Math.exp(-0.3 * layer);
    const lambda =
      Math.exp(sum(p('lambda_q1'), p('lambda_k1'))) - Math.exp(sum(p('lambda_q2'), p('lambda_k2'))) + lambdaInit;
    // value_states = cat(chunk(v, 2, heads), last axis), repeated twice over heads
    const valueHead = (j: number): Matrix => vRepeated(j).map((row, t) => [...row, ...vRepeated(j + H / 2)[t]]);
    const outputs = maps.map((map, h) => times(map, valueHead(h % (H / 2))));
    perHead = Array.from({ length: H / 2 }, (_, j) =>
      outputs[j].map((row, t) =>
        rmsNorm(
          row.map((value, c) => value - lambda * outputs[j + H / 2][t][c]),
          config.rms_norm_eps,
        ).map((value) => (1 - lambdaInit) * value),
      ),
    );
  }
  const merged = x.map((_, t) => perHead.flatMap((head) => head[t]));
  return project(merged, p('o_proj.weight'));
}

/** Logits [T, V] of one token sequence. */
export function hfForward(config: HfConfig, weights: Record<string, NamedArray>, tokens: number[]): Matrix {
  const w = (name: string) => {
    if (!weights[name]) throw new Error(`export lacks ${name}`);
    return weights[name];
  };
  const embed = w('model.embed_tokens.weight');
  const width = config.hidden_size;
  let x: Matrix = tokens.map((token) => Array.from(embed.data.subarray(token * width, (token + 1) * width)));
  const eps = config.rms_norm_eps;
  const silu = (z: number) => z / (1 + Math.exp(-z));
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    const p = (name: string) => w(`model.layers.${layer}.${name}`);
    const attended = attention(
      config,
      w,
      layer,
      x.map((row) => rmsNorm(row, eps, p('input_layernorm.weight'))),
    );
    x = x.map((row, t) => row.map((v, i) => v + attended[t][i]));
    const normed = x.map((row) => rmsNorm(row, eps, p('post_attention_layernorm.weight')));
    const gate = project(normed, p('mlp.gate_proj.weight'));
    const up = project(normed, p('mlp.up_proj.weight'));
    const mlp = project(
      gate.map((row, t) => row.map((g, i) => silu(g) * up[t][i])),
      p('mlp.down_proj.weight'),
    );
    x = x.map((row, t) => row.map((v, i) => v + mlp[t][i]));
  }
  const final = x.map((row) => rmsNorm(row, eps, w('model.norm.weight')));
  return project(final, config.tie_word_embeddings ? embed : w('lm_head.weight'));
}
