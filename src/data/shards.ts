import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/**
 * Token shards: flat little-endian uint16 (vocab ≤ 65,536) or uint32 arrays, one file per shard,
 * written in chunks so that memory stays bounded whatever the corpus size.
 */
export type TokenDtype = 'uint16' | 'uint32';
export type TokenArray = Uint16Array | Uint32Array;

export function dtypeFor(vocabSize: number): TokenDtype {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
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
  ) {
    this.buffer = dtype === 'uint16' ? new Uint16Array(FLUSH_TOKENS) : new Uint32Array(FLUSH_TOKENS);
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
      if (this.fd === undefined || current.tokens === MAX_SHARD_TOKENS) this.openShard();
      const shard = this.shards[this.shards.length - 1];
      const count = Math.min(this.buffered - start, MAX_SHARD_TOKENS - shard.tokens);
      const bytes = new Uint8Array(this.buffer.buffer, start * this.buffer.BYTES_PER_ELEMENT, count * this.buffer.BYTES_PER_ELEMENT);
      writeSync(this.fd!, bytes);
      this.hash.update(bytes);
      shard.tokens += count;
      this.tokens += count;
      start += count;
    }
    this.buffered = 0;
  }

  private openShard(): void {
    this.closeShard();
    const file = `${this.prefix}-${String(this.shards.length).padStart(6, '0')}.bin`;
    this.fd = openSync(join(this.dir, file), 'w');
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

/** Reads shards back into one array (little-endian hosts, as every supported platform is). */
export function readShards(dir: string, shards: ShardInfo[], dtype: TokenDtype): TokenArray {
  const total = shards.reduce((sum, shard) => sum + shard.tokens, 0);
  const out = dtype === 'uint16' ? new Uint16Array(total) : new Uint32Array(total);
  let offset = 0;
  for (const shard of shards) {
    const bytes = readFileSync(join(dir, shard.file));
    const expected = shard.tokens * out.BYTES_PER_ELEMENT;
    if (bytes.length !== expected) {
      throw new UserError(`${join(dir, shard.file)}: ${bytes.length} bytes, expected ${expected} (${shard.tokens} tokens): the dataset is damaged; prepare it again`);
    }
    new Uint8Array(out.buffer, offset * out.BYTES_PER_ELEMENT, expected).set(bytes);
    offset += shard.tokens;
  }
  return out;
}
