import { existsSync, readdirSync, statSync } from 'node:fs';
import { onPath, UserError } from '../errors.js';
import { LOCK_FILE } from '../lock.js';
import { looksLikeAnalysis } from './analysis.js';
import { looksLikeCheckpoint } from './checkpoint.js';
import { looksLikeComparison } from './comparison.js';
import { looksLikeDataset } from './dataset.js';
import { looksLikeExport } from './export.js';
import { looksLikeRun } from './run.js';

/**
 * What a directory holds, told from the files difft writes into each kind, so that no command
 * writes over what it did not make for that purpose (a run, a checkpoint, someone's own folder).
 */
export type DirectoryKind =
  | 'missing'
  | 'file'
  | 'empty'
  | 'checkpoint' // weights and training state (./checkpoint.ts)
  | 'run' // step checkpoints, metrics, config (./run.ts)
  | 'comparison' // an experiment's plan (./comparison.ts)
  | 'export' // a transformers directory difft exported (./export.ts)
  | 'dataset' // a manifest of token shards (./dataset.ts)
  | 'analysis' // ./analysis.ts
  | 'other';

const DESCRIPTIONS: Record<DirectoryKind, string> = {
  missing: 'does not exist',
  file: 'is a file',
  empty: 'is empty',
  checkpoint: 'is a difft checkpoint',
  run: 'is a difft run directory',
  comparison: 'is a difft comparison directory',
  export: 'is a difft export',
  dataset: 'is a difft dataset',
  analysis: 'holds a difft analysis',
  other: 'is not empty and was not written by difft for this purpose',
};

/** Entries difft's own machinery leaves that do not make a directory "used". */
const IGNORED = new Set([LOCK_FILE, '.DS_Store']);

export function directoryKind(dir: string): DirectoryKind {
  if (!existsSync(dir)) return 'missing';
  if (!onPath(dir, () => statSync(dir)).isDirectory()) return 'file';
  const names = onPath(dir, () => readdirSync(dir)).filter((name) => !IGNORED.has(name));
  if (names.length === 0) return 'empty';
  if (looksLikeCheckpoint(names)) return 'checkpoint';
  if (looksLikeComparison(names)) return 'comparison';
  if (looksLikeRun(names)) return 'run';
  if (looksLikeDataset(names)) return 'dataset';
  if (looksLikeAnalysis(names)) return 'analysis';
  if (looksLikeExport(dir, names)) return 'export';
  return 'other';
}

/** "runs/x is a difft run directory": for refusals. */
export function describeDirectory(dir: string, kind = directoryKind(dir)): string {
  return `${dir} ${DESCRIPTIONS[kind]}`;
}

/**
 * Refuses `dir` as the output of `what` unless it is missing, empty or one of `accepted` (an earlier
 * output of the same command). Returns its kind.
 */
export function checkOutputDirectory(
  dir: string,
  what: string,
  accepted: DirectoryKind[],
  advice = 'choose a new or empty directory',
): DirectoryKind {
  const kind = directoryKind(dir);
  if (kind === 'missing' || kind === 'empty' || accepted.includes(kind)) return kind;
  throw new UserError(`${what}: ${describeDirectory(dir, kind)}; ${advice}`);
}
