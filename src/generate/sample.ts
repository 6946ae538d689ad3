/**
 * Picks the next token from logits: greedy at temperature 0, else softmax(logits / temperature)
 * restricted to the `topK` most likely tokens and to the smallest set whose probability reaches `topP`.
 */
export interface SamplingOptions {
  temperature: number;
  topK?: number;
  topP?: number;
}

export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, uniform: () => number): number {
  const count = logits.length;
  if (options.temperature <= 0) {
    let best = 0;
    for (let i = 1; i < count; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  let order = Array.from({ length: count }, (_, i) => i).sort((a, b) => logits[b] - logits[a]);
  if (options.topK && options.topK > 0) order = order.slice(0, options.topK);
  const max = logits[order[0]];
  let weights = order.map((i) => Math.exp((logits[i] - max) / options.temperature));
  let total = weights.reduce((a, b) => a + b, 0);
  if (options.topP !== undefined && options.topP < 1) {
    let kept = 0;
    let mass = 0;
    // the most likely token always stays: p = 0 is greedy, not an empty set
    do mass += weights[kept++];
    while (kept < weights.length && mass < options.topP * total);
    order = order.slice(0, kept);
    weights = weights.slice(0, kept);
    total = mass;
  }
  let draw = uniform() * total;
  for (let i = 0; i < order.length; i++) {
    draw -= weights[i];
    if (draw <= 0) return order[i];
  }
  return order[order.length - 1];
}
