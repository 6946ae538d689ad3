import { existsSync, readFileSync } from 'node:fs';
import { writeFileDurably } from '../atomic.js';
import type { TaskSpec } from '../config/task.js';
import { UserError } from '../errors.js';
import { DATASET_FILES, datasetFile } from '../formats/dataset.js';
import type { ShardInfo, TokenDtype } from './shards.js';
import type { TokenizerSpec } from './tokenizer.js';

/**
 * A dataset's `manifest.json` (src/formats/dataset.ts lists its other files): what was tokenised,
 * how, and where each split's shards are. Its writers (prepare, task preparation) and its readers
 * (training, evaluation, reuse checks) all go through this module.
 */
export const DATASET_FORMAT = 'difft-dataset';
export const DATASET_VERSION = 1;

export interface SplitInfo {
  tokens: number;
  /** UTF-8 bytes of the text behind the tokens (separators excluded): for bits per byte. */
  bytes: number;
  sections: number;
  shards: ShardInfo[];
  sha256: string;
}

export interface DatasetManifest {
  format: typeof DATASET_FORMAT;
  version: number;
  /** Identifies the inputs and settings: an unchanged re-run finds it and reuses the dataset. */
  key: string;
  tokenizer: TokenizerSpec;
  vocabSize: number;
  dtype: TokenDtype;
  /** 0 when the validation split came from `valSources`. */
  valFraction: number;
  sources: { source: string; files: number; bytes: number }[];
  valSources?: { source: string; files: number; bytes: number }[];
  splits: { train: SplitInfo; val: SplitInfo };
  /** Present for a built-in task: every example is `exampleLength` tokens, back to back. */
  task?: { spec: TaskSpec; exampleLength: number };
  createdAt: string;
}

/** Whether `dir` holds a prepared dataset. */
export function hasManifest(dir: string): boolean {
  return existsSync(datasetFile(dir, 'manifest'));
}

/** The manifest of a prepared dataset; a missing or malformed one is refused in one line. */
export function readManifest(dir: string): DatasetManifest {
  const path = datasetFile(dir, 'manifest');
  if (!existsSync(path))
    throw new UserError(`${dir} is not a prepared dataset (no ${DATASET_FILES.manifest}): run difft prepare`);
  let manifest: DatasetManifest;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8')) as DatasetManifest;
  } catch (error) {
    throw new UserError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  if (manifest.format !== DATASET_FORMAT) throw new UserError(`${path}: not a difft dataset manifest`);
  return manifest;
}

/** The manifest in `dir` when it was prepared from the inputs `key` identifies; undefined otherwise (rebuild). */
export function readMatchingManifest(dir: string, key: string): DatasetManifest | undefined {
  const path = datasetFile(dir, 'manifest');
  if (!existsSync(path)) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as DatasetManifest;
    return manifest.key === key ? manifest : undefined;
  } catch {
    return undefined; // unreadable: rebuild
  }
}

export function writeManifest(dir: string, manifest: DatasetManifest): void {
  writeFileDurably(datasetFile(dir, 'manifest'), `${JSON.stringify(manifest, null, 2)}\n`);
}
