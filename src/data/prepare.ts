import { createHash } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { trainBpe } from './bpe.js';
import { tokenizerJsonOf } from './tokenizer-json.js';
import { recoverLeftovers, replaceDirectory, temporaryDirectory, writeFileDurably } from '../atomic.js';
import { checkOutputDirectory } from '../formats/directory-kind.js';
import { UserError } from '../errors.js';
import { dtypeFor, ShardWriter } from './shards.js';
import { readDocuments, resolveSources, sourcesSlug, type ReadOptions, type SourceEntry } from './sources.js';
import { bpeVocabSize, type TiktokenName, type TokenizerName } from '../config/tokenizers.js';
import {
  charSymbols,
  checkTokenizerName,
  createTokenizer,
  DOCUMENT_SEPARATOR,
  type TokenizerSpec,
} from './tokenizer.js';
import { datasetFile } from '../formats/dataset.js';
import {
  DATASET_FORMAT,
  DATASET_VERSION,
  readMatchingManifest,
  writeManifest,
  type DatasetManifest,
  type SplitInfo,
} from './manifest.js';
import { scratchDirectory } from '../scratch.js';

/**
 * `difft prepare`: text sources → tokenizer → train/validation token shards + manifest.json.
 *
 * Documents are cut into sections (whole documents when short, else pieces of about
 * `sectionBytes` ending at a line break). Sections are numbered across the corpus and every
 * (1/valFraction)-th goes to validation: deterministic, spread evenly through the corpus, and
 * never empty once the corpus has more than 1/valFraction sections. With explicit validation
 * sources (`data.valCorpus`: a held-out file, a benchmark's validation set) those are the
 * validation split and every section of the corpus trains.
 */
export interface PrepareProgress {
  bytesDone: number;
  bytesTotal: number;
  tokens: number;
}

export interface PrepareOptions {
  sources: string[];
  /** Validation text; when given, it replaces the held-out fraction. */
  valSources?: string[];
  tokenizer: string;
  valFraction?: number;
  /** The dataset directory; by default a name derived from sources, tokenizer and key under `dataRoot`. */
  out?: string;
  dataRoot?: string;
  textField?: string;
  onBadFile?: 'skip' | 'stop';
  /** Rebuild even when an identical dataset exists. */
  force?: boolean;
  onProgress?: (progress: PrepareProgress) => void;
  onWarning?: (message: string) => void;
}

export interface PreparedDataset {
  dir: string;
  manifest: DatasetManifest;
  reused: boolean;
}

export function tokenizerSpecFor(name: TokenizerName): TokenizerSpec {
  if (name === 'byte') return { kind: 'byte' };
  const bpe = bpeVocabSize(name);
  if (bpe !== undefined) return { kind: 'bpe', vocabSize: bpe, merged: [] }; // trained on the training split
  if (name === 'char') return { kind: 'char', symbols: [] }; // filled from the training split
  return { kind: 'tiktoken', name: name as TiktokenName };
}

function inputKey(
  entries: SourceEntry[],
  valEntries: SourceEntry[],
  tokenizer: TokenizerName,
  valFraction: number,
  textField: string,
): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ format: DATASET_VERSION, tokenizer, valFraction, textField }));
  for (const entry of entries) hash.update(`\n${entry.kind}\t${entry.path}\t${entry.size}\t${entry.mtimeMs}`);
  // a dataset with explicit validation text hashes it too (and nothing is added without it: old keys stay valid)
  for (const entry of valEntries) hash.update(`\nval\t${entry.kind}\t${entry.path}\t${entry.size}\t${entry.mtimeMs}`);
  return hash.digest('hex');
}

export function describeSources(sources: string[]): { source: string; files: number; bytes: number }[] {
  return sources.map((source) => {
    const own = resolveSources([source]);
    return { source, files: own.length, bytes: own.reduce((sum, entry) => sum + entry.size, 0) };
  });
}

/** Sections of about `size` bytes that end at a line break (or where a piece ends, for huge lines). */
async function* sections(pieces: AsyncIterable<string>, size: number): AsyncGenerator<string> {
  let pending = '';
  for await (const piece of pieces) {
    pending += piece;
    while (pending.length >= size) {
      const cut = pending.indexOf('\n', size);
      if (cut < 0) break;
      yield pending.slice(0, cut + 1);
      pending = pending.slice(cut + 1);
    }
    if (pending.length >= 8 * size) {
      // one enormous line: cut it anyway rather than hold it whole
      yield pending;
      pending = '';
    }
  }
  if (pending.length > 0) yield pending;
}

/** Section k goes to validation when floor((k+1)·f) > floor(k·f). */
export function isValidationSection(index: number, valFraction: number): boolean {
  return Math.floor((index + 1) * valFraction) > Math.floor(index * valFraction);
}

function sectionSize(totalBytes: number): number {
  return Math.min(1 << 18, Math.max(1 << 10, Math.floor(totalBytes / 256)));
}

interface SplitState {
  writer: ShardWriter;
  bytes: number;
  sections: number;
  /** The document name and section index written last, to know where a boundary falls. */
  last?: { document: string; section: number };
}

/** The manifest at `path` when it describes a finished dataset of these inputs. */
export async function prepareDataset(options: PrepareOptions): Promise<PreparedDataset> {
  const tokenizerName = checkTokenizerName(options.tokenizer);
  const valFraction = options.valFraction ?? 0.05;
  // the config schema's rule (src/config/schema.ts), for callers that come without a config (prepare --val-fraction)
  if (!(valFraction > 0 && valFraction <= 0.5))
    throw new UserError(`data.valFraction = ${valFraction}: must be greater than 0 and at most 0.5`);
  const textField = options.textField ?? 'text';
  const entries = resolveSources(options.sources);
  const valEntries = options.valSources?.length ? resolveSources(options.valSources) : [];
  const explicitVal = valEntries.length > 0;
  // with explicit validation text no section of the corpus is held out
  const heldOut = explicitVal ? 0 : valFraction;
  const key = inputKey(entries, valEntries, tokenizerName, valFraction, textField);
  const dir = resolve(
    options.out ??
      join(
        options.dataRoot ?? 'data',
        `${sourcesSlug(options.sources)}-${tokenizerName.replace(':', '')}-${key.slice(0, 10)}`,
      ),
  );

  const existing = options.force ? undefined : readMatchingManifest(dir, key);
  if (existing) return { dir, manifest: existing, reused: true };

  const bytesTotal = [...entries, ...valEntries].reduce((sum, entry) => sum + entry.size, 0);
  let bytesDone = 0;
  const readOptions: ReadOptions = {
    textField,
    onBadFile: options.onBadFile ?? 'skip',
    warn: options.onWarning ?? (() => {}),
    onBytes: (bytes) => (bytesDone = Math.min(bytesTotal, bytesDone + bytes)),
  };
  const size = sectionSize(entries.reduce((sum, entry) => sum + entry.size, 0));
  let spec = tokenizerSpecFor(tokenizerName);
  if (spec.kind === 'char')
    spec = { kind: 'char', symbols: await trainingCharacters(entries, readOptions, size, heldOut) };
  if (spec.kind === 'bpe') {
    const existing = readMatchingManifest(dir, key); // checked above unless --force: train only when needed
    spec = existing?.tokenizer ?? (await trainingBpe(entries, readOptions, size, heldOut, spec.vocabSize));
  }
  const trained = spec;
  return buildDatasetDirectory(dir, key, options.force ?? false, async (temporary) => {
    const manifest = await writeSplits(temporary, options, {
      entries,
      valEntries,
      heldOut,
      key,
      size,
      spec: trained,
      readOptions,
      progress: () => bytesDone,
      bytesTotal,
    });
    // a trained tokenizer travels with its dataset, in the format the field's tools read
    if (trained.kind === 'bpe')
      writeFileDurably(datasetFile(temporary, 'tokenizer'), `${JSON.stringify(tokenizerJsonOf(trained))}\n`);
    return manifest;
  });
}

/**
 * Builds a dataset in a temporary directory next to `dir` and renames it into place, unless an
 * identical one (same key) is already there or appears meanwhile: another process (a second shard
 * of an experiment) preparing the same data at the same time — theirs is kept rather than pulled
 * from under a reader.
 */
export async function buildDatasetDirectory(
  dir: string,
  key: string,
  force: boolean,
  build: (temporary: string) => Promise<DatasetManifest>,
): Promise<PreparedDataset> {
  checkOutputDirectory(dir, 'dataset directory', ['dataset']);
  // what an interrupted prepare of this same directory left (only its own: the parent may be anyone's)
  recoverLeftovers(dirname(dir), basename(dir));
  const temporary = temporaryDirectory(dir);
  try {
    const manifest = await build(temporary);
    writeManifest(temporary, manifest);
    const finishedMeanwhile = force ? undefined : readMatchingManifest(dir, key);
    if (finishedMeanwhile) {
      rmSync(temporary, { recursive: true, force: true });
      return { dir, manifest: finishedMeanwhile, reused: true };
    }
    replaceDirectory(temporary, dir);
    return { dir, manifest, reused: false };
  } catch (error) {
    rmSync(temporary, { recursive: true, force: true });
    throw error;
  }
}

interface SplitInputs {
  entries: SourceEntry[];
  valEntries: SourceEntry[];
  heldOut: number;
  key: string;
  size: number;
  spec: TokenizerSpec;
  readOptions: ReadOptions;
  progress: () => number;
  bytesTotal: number;
}

/** Tokenises the sources into the train and validation shards under `temporary`; returns the manifest. */
async function writeSplits(temporary: string, options: PrepareOptions, inputs: SplitInputs): Promise<DatasetManifest> {
  const { entries, valEntries, heldOut, key, size, spec, readOptions, bytesTotal } = inputs;
  const explicitVal = valEntries.length > 0;
  const tokenizer = createTokenizer(spec);
  try {
    const dtype = dtypeFor(tokenizer.vocabSize);
    const splits = {
      train: { writer: new ShardWriter(temporary, 'train', dtype), bytes: 0, sections: 0 } as SplitState,
      val: { writer: new ShardWriter(temporary, 'val', dtype), bytes: 0, sections: 0 } as SplitState,
    };
    const separator =
      tokenizer.endOfText !== undefined ? [tokenizer.endOfText] : Array.from(tokenizer.encode(DOCUMENT_SEPARATOR));
    let sectionIndex = 0;
    const write = async (sourceEntries: SourceEntry[], splitOf: (section: number) => SplitState) => {
      for await (const document of readDocuments(sourceEntries, readOptions)) {
        let sectionInDocument = 0;
        for await (const text of sections(document.pieces, size)) {
          const split = splitOf(sectionIndex++);
          const continues = split.last?.document === document.name && split.last.section === sectionInDocument - 1;
          if (split.last && !continues) split.writer.write(separator);
          split.writer.write(tokenizer.encode(text));
          const bytes = Buffer.byteLength(text, 'utf8');
          split.bytes += bytes;
          split.sections++;
          split.last = { document: document.name, section: sectionInDocument++ };
          options.onProgress?.({
            bytesDone: inputs.progress(),
            bytesTotal,
            tokens: splits.train.writer.tokens + splits.val.writer.tokens,
          });
        }
      }
    };
    await write(entries, (section) => (isValidationSection(section, heldOut) ? splits.val : splits.train));
    await write(valEntries, () => splits.val);
    const finish = (state: SplitState): SplitInfo => {
      const sha256 = state.writer.finish();
      return {
        tokens: state.writer.tokens,
        bytes: state.bytes,
        sections: state.sections,
        shards: state.writer.shards,
        sha256,
      };
    };
    const manifest: DatasetManifest = {
      format: DATASET_FORMAT,
      version: DATASET_VERSION,
      key,
      tokenizer: spec,
      vocabSize: tokenizer.vocabSize,
      dtype,
      valFraction: heldOut,
      sources: describeSources(options.sources),
      ...(explicitVal ? { valSources: describeSources(options.valSources!) } : {}),
      splits: { train: finish(splits.train), val: finish(splits.val) },
      createdAt: new Date().toISOString(),
    };
    const corpus = options.sources.join(', ');
    if (manifest.splits.train.tokens === 0) throw new UserError(`corpus ${corpus} contains no text`);
    if (manifest.splits.val.tokens === 0 && explicitVal)
      throw new UserError(`validation corpus ${options.valSources!.join(', ')} contains no text`);
    if (manifest.splits.val.tokens === 0) {
      throw new UserError(
        `corpus ${corpus} is too small for a validation split: ${sectionIndex} section(s) of text, and valFraction ` +
          `= ${options.valFraction ?? 0.05} needs at least ${Math.ceil(1 / (options.valFraction ?? 0.05))}; add text ` +
          `or raise data.valFraction`,
      );
    }
    return manifest;
  } finally {
    tokenizer.free();
  }
}

/** The characters of the training sections (first pass, for the char tokenizer). */
/** `bpe:N` trained on the training split's sections, written to temporary files of at most 64 MB. */
async function trainingBpe(
  entries: SourceEntry[],
  options: ReadOptions,
  size: number,
  valFraction: number,
  vocabSize: number,
): Promise<TokenizerSpec> {
  const scratch = scratchDirectory('bpe-text');
  const dir = scratch.path;
  try {
    const files: string[] = [];
    let fd: number | undefined;
    let written = 0;
    let sectionIndex = 0;
    const quiet = { ...options, warn: () => {}, onBytes: undefined }; // the main pass warns and counts
    try {
      for await (const document of readDocuments(entries, quiet)) {
        for await (const text of sections(document.pieces, size)) {
          if (isValidationSection(sectionIndex++, valFraction)) continue;
          if (fd === undefined || written > 64e6) {
            if (fd !== undefined) closeSync(fd);
            files.push(join(dir, `train-${files.length}.txt`));
            fd = openSync(files[files.length - 1], 'w');
            written = 0;
          }
          written += writeSync(fd, `${text}\n`);
        }
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    const corpus =
      entries.length > 2
        ? `${entries[0].label} and ${entries.length - 1} more`
        : entries.map((e) => e.label).join(', ');
    return trainBpe(files, vocabSize, corpus);
  } finally {
    scratch.remove();
  }
}

async function trainingCharacters(
  entries: SourceEntry[],
  options: ReadOptions,
  size: number,
  valFraction: number,
): Promise<string[]> {
  const seen = new Set<string>();
  let sectionIndex = 0;
  const quiet = { ...options, warn: () => {}, onBytes: undefined }; // the main pass warns and counts
  for await (const document of readDocuments(entries, quiet)) {
    for await (const text of sections(document.pieces, size)) {
      if (isValidationSection(sectionIndex++, valFraction)) continue;
      for (const ch of text) seen.add(ch);
    }
  }
  seen.add(DOCUMENT_SEPARATOR[0]);
  return charSymbols(seen);
}
