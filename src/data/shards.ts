import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { injectedFault } from '../faults.js';
import { onPath, UserError } from '../errors.js';
import { shardFileName } from '../formats/dataset.js';

/**
 * Token shards: flat little-endian uint8 (vocab ≤ 256: bytes), uint16 (≤ 65,536) or uint32 arrays,
 * one file per shard, written in chunks and read back through a small cache, so that memory stays
 * bounded whatever the corpus size.
 */
export type TokenDtype = 'uint8' | 'uint16' | 'uint32';
export type TokenArray = Uint8Array | Uint16Array | Uint32Array;

/** What training and evaluation read tokens from: an array, or shards on disk (`ShardedTokens`). */
export interface TokenSource {
  readonly length: number;
  /** Tokens [start, end), as an array of their own. */
  slice(start: number, end: number): TokenArray;
}

export function dtypeFor(vocabSize: number): TokenDtype {
  return vocabSize <= 256 ? 'uint8' : vocabSize <= 65536 ? 'uint16' : 'uint32';
}

function arrayOf(dtype: TokenDtype, length: number): TokenArray {
  return dtype === 'uint8'
    ? new Uint8Array(length)
    : dtype === 'uint16'
      ? new Uint16Array(length)
      : new Uint32Array(length);
}

export interface ShardInfo {
  file: string;
  tokens: number;
}

const FLUSH_TOKENS = 1 << 20;
export const MAX_SHARD_TOKENS = 1 << 26;

export class ShardWriter {
  readonly shards: ShardInfo[] = [];
  tokens = 0;
  private buffer: TokenArray;
  private buffered = 0;
  private fd: number | undefined;
  private readonly hash: Hash = createHash('sha256');

  constructor(
    private readonly dir: string,
    private readonly prefix: string,
    dtype: TokenDtype,
    private readonly maxShardTokens = MAX_SHARD_TOKENS,
  ) {
    this.buffer = arrayOf(dtype, FLUSH_TOKENS);
  }

  write(ids: ArrayLike<number>): void {
    let from = 0;
    while (from < ids.length) {
      const count = Math.min(ids.length - from, this.buffer.length - this.buffered);
      for (let i = 0; i < count; i++) this.buffer[this.buffered + i] = ids[from + i];
      this.buffered += count;
      from += count;
      if (this.buffered === this.buffer.length) this.flush();
    }
  }

  private flush(): void {
    let start = 0;
    while (start < this.buffered) {
      const current = this.shards[this.shards.length - 1];
      if (this.fd === undefined || current.tokens === this.maxShardTokens) this.openShard();
      const shard = this.shards[this.shards.length - 1];
      const count = Math.min(this.buffered - start, this.maxShardTokens - shard.tokens);
      const bytes = new Uint8Array(
        this.buffer.buffer,
        start * this.buffer.BYTES_PER_ELEMENT,
        count * this.buffer.BYTES_PER_ELEMENT,
      );
      const path = join(this.dir, shard.file);
      onPath(path, () => {
        injectedFault(path, 'write');
        writeSync(this.fd!, bytes);
      });
      this.hash.update(bytes);
      shard.tokens += count;
      this.tokens += count;
      start += count;
    }
    this.buffered = 0;
  }

  private openShard(): void {
    this.closeShard();
    const file = shardFileName(this.prefix, this.shards.length);
    const path = join(this.dir, file);
    this.fd = onPath(path, () => openSync(path, 'w'));
    this.shards.push({ file, tokens: 0 });
  }

  private closeShard(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }

  /** Flushes, closes and returns the sha256 of all tokens written. */
  finish(): string {
    this.flush();
    this.closeShard();
    return this.hash.digest('hex');
  }
}

/**
 * A split's shards read on demand: a window of tokens costs one or two reads, served from a small
 * cache of recently read blocks (at most CACHE_BLOCKS × BLOCK_TOKENS tokens, ≤ 16 MiB) and the
 * operating system's page cache beneath it — never the whole split in memory. Training draws a
 * few random windows per step; evaluation reads its windows in order, block by block.
 */
const BLOCK_TOKENS = 1 << 16;
const CACHE_BLOCKS = 64;

export class ShardedTokens implements TokenSource {
  readonly length: number;
  private readonly starts: number[] = [];
  private readonly fds = new Map<number, number>();
  private readonly cache = new Map<number, TokenArray>();
  private readonly bytesPerToken: number;

  constructor(
    private readonly dir: string,
    private readonly shards: ShardInfo[],
    private readonly dtype: TokenDtype,
  ) {
    this.bytesPerToken = dtype === 'uint8' ? 1 : dtype === 'uint16' ? 2 : 4;
    let offset = 0;
    for (const shard of shards) {
      const path = join(dir, shard.file);
      const size = existsSync(path) ? statSync(path).size : -1;
      const expected = shard.tokens * this.bytesPerToken;
      if (size !== expected) {
        throw new UserError(
          `${path}: ${size < 0 ? 'missing' : `${size} bytes`}, expected ${expected} (${shard.tokens} tokens): ` +
            `the dataset is damaged; prepare it again`,
        );
      }
      this.starts.push(offset);
      offset += shard.tokens;
    }
    this.length = offset;
  }

  slice(start: number, end: number): TokenArray {
    const from = Math.max(0, start);
    const to = Math.min(this.length, end);
    const out = arrayOf(this.dtype, Math.max(0, to - from));
    for (let position = from; position < to; ) {
      const block = Math.floor(position / BLOCK_TOKENS);
      const tokens = this.block(block);
      const offset = position - block * BLOCK_TOKENS;
      const count = Math.min(to - position, tokens.length - offset);
      out.set(tokens.subarray(offset, offset + count), position - from);
      position += count;
    }
    return out;
  }

  /** Closes the shard files (reading again reopens them). */
  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
    this.cache.clear();
  }

  private block(index: number): TokenArray {
    const cached = this.cache.get(index);
    if (cached) {
      this.cache.delete(index); // re-inserted below: the Map's order is the recency order
      this.cache.set(index, cached);
      return cached;
    }
    const start = index * BLOCK_TOKENS;
    const tokens = arrayOf(this.dtype, Math.min(BLOCK_TOKENS, this.length - start));
    const bytes = new Uint8Array(tokens.buffer);
    for (let filled = 0; filled < tokens.length; ) {
      const position = start + filled;
      const shard = this.shardAt(position);
      const within = position - this.starts[shard];
      const count = Math.min(tokens.length - filled, this.shards[shard].tokens - within);
      readSync(
        this.fd(shard),
        bytes,
        filled * this.bytesPerToken,
        count * this.bytesPerToken,
        within * this.bytesPerToken,
      );
      filled += count;
    }
    this.cache.set(index, tokens);
    if (this.cache.size > CACHE_BLOCKS) this.cache.delete(this.cache.keys().next().value!);
    return tokens;
  }

  private shardAt(position: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.starts[middle] <= position) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  private fd(shard: number): number {
    let fd = this.fds.get(shard);
    if (fd === undefined) {
      fd = openSync(join(this.dir, this.shards[shard].file), 'r');
      this.fds.set(shard, fd);
    }
    return fd;
  }
}
