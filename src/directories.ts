import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { onPath, UserError } from './errors.js';
import { LOCK_FILE } from './lock.js';

/**
 * What a directory holds, told from the files difft writes into each kind, so that no command
 * writes over what it did not make for that purpose (a run, a checkpoint, someone's own folder).
 */
export type DirectoryKind =
  | 'missing'
  | 'file'
  | 'empty'
  | 'checkpoint' // model.safetensors + state.json
  | 'run' // step-* checkpoints, metrics.jsonl, config.yaml
  | 'comparison' // experiment.yaml
  | 'export' // a transformers directory difft exported (config.json with a difft section)
  | 'dataset' // manifest.json of token shards
  | 'analysis' // analysis.json
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

function exportedByDifft(configPath: string): boolean {
  try {
    const config = JSON.parse(readFileSync(configPath, 'utf8')) as { difft?: unknown; architectures?: unknown };
    return typeof config.difft === 'object' && Array.isArray(config.architectures);
  } catch {
    return false;
  }
}

export function directoryKind(dir: string): DirectoryKind {
  if (!existsSync(dir)) return 'missing';
  if (!onPath(dir, () => statSync(dir)).isDirectory()) return 'file';
  const names = onPath(dir, () => readdirSync(dir)).filter((name) => !IGNORED.has(name));
  const has = (name: string) => names.includes(name);
  if (names.length === 0) return 'empty';
  if (has('model.safetensors') && has('state.json')) return 'checkpoint';
  if (has('experiment.yaml')) return 'comparison';
  if (names.some((name) => /^step-\d+$/.test(name)) || has('metrics.jsonl') || has('config.yaml')) return 'run';
  if (has('manifest.json')) return 'dataset';
  if (has('analysis.json')) return 'analysis';
  if (has('config.json') && exportedByDifft(join(dir, 'config.json'))) return 'export';
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
