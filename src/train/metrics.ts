import { schemaCheck } from '../schema.js';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { appendToFile, writeFileAtomically } from '../atomic.js';
import { UserError } from '../errors.js';
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

/** A loss or rate: a number, or null where JSON had to write NaN or Infinity. */
const MEASURE = { type: ['number', 'null'] };

/** What every record must hold to be read: reports and resumes use these fields. */
const RECORD_SCHEMA = {
  type: 'object',
  required: ['type', 'step', 'tokens'],
  properties: {
    type: { enum: ['train', 'eval'] },
    step: { type: 'integer', minimum: 0 },
    tokens: { type: 'number', minimum: 0 },
    elapsedSeconds: { type: 'number' },
  },
  if: { properties: { type: { const: 'train' } } },
  // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a promise
  then: { required: ['loss'], properties: { loss: MEASURE, lr: MEASURE, gradNorm: MEASURE } },
  else: { required: ['valLoss'], properties: { valLoss: MEASURE, valBitsPerByte: MEASURE, tasks: { type: 'object' } } },
} as const;

const validateRecord = schemaCheck(RECORD_SCHEMA);

/**
 * The records of a run's metrics.jsonl, each checked. A last line that is not JSON was cut short by a
 * crash and is left out; any other line that is not a record is refused, naming it.
 */
export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  const lines = readFileSync(path, 'utf8').split('\n');
  let last = lines.length - 1;
  while (last > 0 && !lines[last].trim()) last--;
  return lines.flatMap((line, index) => {
    if (!line.trim()) return [];
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      if (index === last) return []; // a line cut short by a crash
      throw new UserError(`${path}:${index + 1}: not JSON: the metrics file is damaged`);
    }
    if (validateRecord(record)) return [record as MetricsRecord];
    const error = validateRecord.errors![0];
    const where = error.instancePath.split('/').filter(Boolean).join('.') || 'the record';
    throw new UserError(`${path}:${index + 1}: not a metrics record (${where} ${error.message})`);
  });
}

/** On resume: drops records from after the checkpoint, which the resumed run will write again. */
export function truncateMetrics(path: string, step: number): void {
  const kept = readMetrics(path).filter((record) => record.step <= step);
  writeFileAtomically(path, kept.map((record) => `${JSON.stringify(record)}\n`).join(''));
}
