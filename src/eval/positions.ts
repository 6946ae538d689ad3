/**
 * Loss by position (the Differential Transformer paper's Figure 4 reads the same quantity
 * cumulatively): the mean loss of the targets at positions 1 … T of the evaluation windows, position p
 * being the p-th token predicted, from p tokens of context. Bins double in width — 1, 2–3, 4–7, … —
 * so that both the first tokens and the far end of a long context are visible in a dozen numbers.
 */
export interface PositionBin {
  /** First and last position of the bin, 1-based and inclusive. */
  from: number;
  to: number;
  /** Targets scored in it: its positions × the windows. */
  tokens: number;
  /** Their mean loss, nats. */
  loss: number;
}

/**
 * `sums[t]`: the loss at position t + 1 summed over the `counts[t]` windows that reach it (a short last
 * window reaches fewer positions than the others).
 */
export function positionBins(sums: ArrayLike<number>, counts: ArrayLike<number>): PositionBin[] {
  const bins: PositionBin[] = [];
  for (let from = 1; from <= sums.length; from *= 2) {
    const to = Math.min(2 * from - 1, sums.length);
    let [total, tokens] = [0, 0];
    for (let position = from; position <= to; position++) {
      total += sums[position - 1];
      tokens += counts[position - 1];
    }
    bins.push({ from, to, tokens, loss: total / tokens });
  }
  return bins;
}
