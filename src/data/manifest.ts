import { schemaCheck } from '../schema.js';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileDurably } from '../atomic.js';
import type { TaskSpec } from '../config/task.js';
import { UserError } from '../errors.js';
import { DATASET_FILES, datasetFile } from '../formats/dataset.js';
import type { ShardInfo, TokenDtype } from './shards.js';
import { TOKENIZER_SPEC_SCHEMA, type TokenizerSpec } from './tokenizer.js';

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

const COUNT = { type: 'integer', minimum: 0 };
const SOURCES = {
  type: 'array',
  items: {
    type: 'object',
    required: ['source', 'files', 'bytes'],
    properties: { source: { type: 'string' }, files: COUNT, bytes: COUNT },
  },
};
const SPLIT = {
  type: 'object',
  required: ['tokens', 'bytes', 'sections', 'shards', 'sha256'],
  properties: {
    tokens: COUNT,
    bytes: COUNT,
    sections: COUNT,
    sha256: { type: 'string' },
    shards: {
      type: 'array',
      items: {
        type: 'object',
        required: ['file', 'tokens'],
        // a shard is a file of the dataset's own directory, never a path out of it
        properties: { file: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' }, tokens: COUNT },
      },
    },
  },
};

/** What a manifest must hold, checked whole when it is read. */
const MANIFEST_SCHEMA = {
  type: 'object',
  required: ['format', 'version', 'key', 'tokenizer', 'vocabSize', 'dtype', 'valFraction', 'sources', 'splits'],
  properties: {
    format: { const: DATASET_FORMAT },
    version: { type: 'integer' },
    key: { type: 'string' },
    tokenizer: TOKENIZER_SPEC_SCHEMA,
    vocabSize: { type: 'integer', minimum: 1 },
    dtype: { enum: ['uint8', 'uint16', 'uint32'] },
    valFraction: { type: 'number', minimum: 0, maximum: 0.5 },
    sources: SOURCES,
    valSources: SOURCES,
    splits: { type: 'object', required: ['train', 'val'], properties: { train: SPLIT, val: SPLIT } },
    task: { type: 'object', required: ['spec', 'exampleLength'], properties: { exampleLength: COUNT } },
    createdAt: { type: 'string' },
  },
} as const;

const validateManifest = schemaCheck<DatasetManifest>(MANIFEST_SCHEMA);

/** Whether `dir` holds a prepared dataset. */
export function hasManifest(dir: string): boolean {
  return existsSync(datasetFile(dir, 'manifest'));
}

/** The manifest of a prepared dataset; a missing or malformed one is refused in one line. */
export function readManifest(dir: string): DatasetManifest {
  const path = datasetFile(dir, 'manifest');
  if (!existsSync(path))
    throw new UserError(`${dir} is not a prepared dataset (no ${DATASET_FILES.manifest}): run difft prepare`);
  let manifest: unknown;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UserError(`${path}: not valid JSON (${(error as Error).message.split('\n')[0]})`);
  }
  if (!validateManifest(manifest)) {
    const error = validateManifest.errors![0];
    const where = error.instancePath.split('/').filter(Boolean).join('.') || 'the top level';
    throw new UserError(`${path}: not a difft dataset manifest (${where} ${error.message}): prepare it again`);
  }
  return manifest as DatasetManifest;
}

/** The manifest in `dir` when it was prepared from the inputs `key` identifies; undefined otherwise (rebuild). */
export function readMatchingManifest(dir: string, key: string): DatasetManifest | undefined {
  const path = datasetFile(dir, 'manifest');
  if (!existsSync(path)) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    return validateManifest(manifest) && manifest.key === key ? (manifest as DatasetManifest) : undefined;
  } catch {
    return undefined; // unreadable: rebuild
  }
}

export function writeManifest(dir: string, manifest: DatasetManifest): void {
  writeFileDurably(datasetFile(dir, 'manifest'), `${JSON.stringify(manifest, null, 2)}\n`);
}
