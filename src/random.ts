/**
 * Deterministic normal samples for parameter initialisation. Each parameter draws from its own
 * stream, seeded by (seed, parameter name), so a parameter that exists in two model variants
 * (embeddings, FFN, norms) starts identical in both, on every engine and machine.
 */

/** FNV-1a, 32 bit: a stable hash of a string. */
function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * mulberry32: a small, fast generator of uniform numbers in [0, 1). Its whole state is one uint32,
 * so a caller that must save its position (the batch sampler) can step it by hand.
 */
export function mulberry32(state: number): { value: number; next: number } {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: ((t ^ (t >>> 14)) >>> 0) / 4294967296, next };
}

export function uniformStream(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    const step = mulberry32(state);
    state = step.next;
    return step.value;
  };
}

export function streamFor(seed: number, name: string): () => number {
  return uniformStream(hashString(`${seed}:${name}`));
}

/** `count` samples of N(0, std²) by the Box–Muller transform. */
export function normalSamples(count: number, std: number, uniform: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = std * Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}
