import { closeSync, existsSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { appendToFile, writeFileAtomically } from '../atomic.js';
import type { Diff2LayerStats } from '../model/attention/diagnostics.js';
import type { LayerExtremes } from '../measure/extremes.js';
import type { ProbeRecord } from '../measure/sets.js';

/** One line of metrics.jsonl: a training record every `logEvery` steps, an eval record per evaluation. */
export type MetricsRecord =
  | {
      type: 'train';
      step: number;
      tokens: number;
      loss: number;
      lr: number;
      gradNorm: number;
      tokensPerSecond: number;
      elapsedSeconds: number;
      /** λ of every diff layer (empty for other attentions). */
      lambdas: number[];
    }
  | {
      type: 'eval';
      step: number;
      tokens: number;
      valLoss: number;
      valPerplexity: number;
      valBitsPerByte: number;
      /** Tokens scored, and the fingerprint of which (src/data/eval-set.ts). */
      evalTokens: number;
      evalFingerprint: string;
      elapsedSeconds: number;
      /** Task metrics and attention allocation per probe set (src/probe/sets.ts). */
      tasks?: Record<string, ProbeRecord>;
      /** diff2: λ and gate statistics per layer, on the first evaluation batch. */
      diff2?: Diff2LayerStats[];
      /** Largest visible attention logit and residual-stream magnitude per layer, on the first evaluation batch. */
      extremes?: LayerExtremes;
    };

/** Task accuracy per probe set of an evaluation record, for progress lines (undefined without probes). */
export function taskAccuracy(record: Extract<MetricsRecord, { type: 'eval' }>): Record<string, number> | undefined {
  return record.tasks
    ? Object.fromEntries(Object.entries(record.tasks).map(([name, t]) => [name, t.accuracy]))
    : undefined;
}

export function appendMetrics(path: string, record: MetricsRecord): void {
  appendToFile(path, `${JSON.stringify(record)}\n`);
}

/** Makes the records appended so far durable: called before each checkpoint, so none it covers is lost. */
export function syncMetrics(path: string): void {
  if (!existsSync(path)) return;
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as MetricsRecord];
      } catch {
        return []; // a line cut short by a crash
      }
    });
}

/** On resume: drops records from after the checkpoint, which the resumed run will write again. */
export function truncateMetrics(path: string, step: number): void {
  const kept = readMetrics(path).filter((record) => record.step <= step);
  writeFileAtomically(path, kept.map((record) => `${JSON.stringify(record)}\n`).join(''));
}
