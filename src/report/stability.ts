/**
 * Gradient-norm spikes, as reproduction threads of the paper count them: a logged global gradient
 * norm (before clipping) above SPIKE_FACTOR times the median of the SPIKE_WINDOW values logged
 * before it. The median ignores earlier spikes; the window follows the norm's slow fall over
 * training. The first MIN_HISTORY values (warm-up, where the norm moves fastest) are never spikes.
 */
export const SPIKE_FACTOR = 3;
export const SPIKE_WINDOW = 20;
const MIN_HISTORY = 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Indices of the spikes in a series of logged gradient norms. */
export function gradNormSpikes(norms: number[]): number[] {
  const spikes: number[] = [];
  for (let i = MIN_HISTORY; i < norms.length; i++) {
    const history = norms.slice(Math.max(0, i - SPIKE_WINDOW), i).filter(Number.isFinite);
    if (history.length >= MIN_HISTORY && norms[i] > SPIKE_FACTOR * median(history)) spikes.push(i);
  }
  return spikes;
}
