/**
 * Learning rate at optimizer step `step` (1-based): linear warm-up to `lr` over `warmupSteps`, then
 * cosine decay to `minLr` at `steps`.
 */
export function learningRate(
  step: number,
  schedule: { lr: number; minLr: number; warmupSteps: number; steps: number },
): number {
  const { lr, minLr, warmupSteps, steps } = schedule;
  if (step <= warmupSteps) return (lr * step) / warmupSteps;
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, steps - warmupSteps));
  return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
}
