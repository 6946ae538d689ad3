import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomically } from '../atomic.js';
import { runFile } from '../formats/run.js';

/**
 * Divergence, for the runs of a comparison: a training loss that is not finite, or whose mean over
 * the last WINDOW steps exceeds the first step's loss by MARGIN nats — the model has lost what it
 * learned and more. Such a run stops, keeps its last good checkpoint, and leaves `diverged.json`
 * saying at which step and why; the experiment goes on and its report lists the run apart. (A single
 * `difft train` keeps `train.onNonFinite`.)
 */
const WINDOW = 10;
const MARGIN = 1;

export interface Divergence {
  step: number;
  reason: string;
}

/** What in a step was not finite — its loss, or (the loss finite) its gradient — or undefined. */
export function nonFinite(loss: number, gradNorm: number): string | undefined {
  if (!Number.isFinite(loss)) return `non-finite loss (${loss}; gradient norm ${gradNorm})`;
  if (!Number.isFinite(gradNorm)) return `non-finite gradient (norm ${gradNorm}; loss ${loss})`;
  return undefined;
}

export class DivergenceWatch {
  private initial?: number;
  private readonly recent: number[] = [];

  /** Why the run diverged at this step, or undefined while it has not. */
  check(step: number, loss: number, gradNorm: number): Divergence | undefined {
    const reason = nonFinite(loss, gradNorm);
    if (reason) return { step, reason };
    this.initial ??= loss;
    this.recent.push(loss);
    if (this.recent.length > WINDOW) this.recent.shift();
    const mean = this.recent.reduce((a, b) => a + b, 0) / this.recent.length;
    if (this.recent.length === WINDOW && mean > this.initial + MARGIN)
      return {
        step,
        reason:
          `mean loss of the last ${WINDOW} steps ${mean.toFixed(3)} > the first step's ` +
          `${this.initial.toFixed(3)} + ${MARGIN}`,
      };
    return undefined;
  }
}

export function recordDivergence(runDir: string, divergence: Divergence): void {
  writeFileAtomically(runFile(runDir, 'diverged'), `${JSON.stringify(divergence, null, 2)}\n`);
}

export function readDivergence(runDir: string): Divergence | undefined {
  const path = runFile(runDir, 'diverged');
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Divergence;
  } catch {
    return { step: NaN, reason: `${path} is unreadable` };
  }
}
