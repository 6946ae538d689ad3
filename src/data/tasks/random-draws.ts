/** Draws from a seeded uniform stream (src/random.ts) that the task generators share. */

/** An integer in [0, below). */
export function randomInt(uniform: () => number, below: number): number {
  return Math.floor(uniform() * below);
}

/** `wanted` distinct indices of 0..n−1 in random order (partial Fisher–Yates). */
export function pick(n: number, wanted: number, uniform: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < wanted; i++) {
    const j = i + randomInt(uniform, n - i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, wanted);
}

/** The items in a random order (a new array). */
export function shuffled<T>(items: T[], uniform: () => number): T[] {
  return pick(items.length, items.length, uniform).map((i) => items[i]);
}
