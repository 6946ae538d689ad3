import { schemaCheck } from '../schema.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileDurably } from '../atomic.js';
import { UserError } from '../errors.js';

/**
 * The safetensors format (written by hand: no maintained JS package writes it): 8 bytes of
 * little-endian header length, a JSON header (`dtype`, `shape`, `data_offsets` per tensor, optional
 * `__metadata__` of strings), padded with spaces to a multiple of 8, then the raw little-endian bytes.
 * We store float32 only, and a sha256 of the data bytes in the metadata so damage is detected.
 */
export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

const CHECKSUM_KEY = 'difft.sha256';

export function writeSafetensors(
  path: string,
  tensors: Record<string, NamedArray>,
  metadata: Record<string, string> = {},
): void {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  const hash = createHash('sha256');
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors[name];
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length)
      throw new Error(`tensor ${name}: shape [${shape}] holds ${size} values, data has ${data.length}`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  header.__metadata__ = { format: 'pt', ...metadata, [CHECKSUM_KEY]: hash.digest('hex') };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));
  const chunks = [
    length,
    headerBytes,
    ...names.map(
      (name) => new Uint8Array(tensors[name].data.buffer, tensors[name].data.byteOffset, tensors[name].data.byteLength),
    ),
  ];
  writeFileDurably(path, chunks);
}

export interface Safetensors {
  tensors: Record<string, NamedArray>;
  metadata: Record<string, string>;
}

/** One tensor's header entry. */
interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const OFFSET = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };

/** The header is data from disk: every entry is checked before any is used. */
const HEADER_SCHEMA = {
  type: 'object',
  properties: { __metadata__: { type: 'object', additionalProperties: { type: 'string' } } },
  additionalProperties: {
    type: 'object',
    required: ['dtype', 'shape', 'data_offsets'],
    additionalProperties: false,
    properties: {
      dtype: { type: 'string' },
      shape: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 2 ** 31 }, maxItems: 8 },
      data_offsets: { type: 'array', items: OFFSET, minItems: 2, maxItems: 2 },
    },
  },
} as const;

const validateHeader = schemaCheck(HEADER_SCHEMA);

/** The first problem ajv found, as "tensor NAME: shape must be array" (or "the header must be object"). */
function headerProblem(): string {
  const error = validateHeader.errors![0];
  const [name, ...field] = error.instancePath.split('/').filter(Boolean);
  const where = name === undefined ? 'the header' : `tensor ${name}${field.length ? `: ${field.join('.')}` : ''}`;
  return `${where} ${error.message}`;
}

export function readSafetensors(path: string): Safetensors {
  const bytes = readFileSync(path);
  const damaged = (why: string) => new UserError(`${path}: damaged weight file (${why}); use another checkpoint`);
  if (bytes.length < 8) throw damaged(`only ${bytes.length} bytes`);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (headerLength > bytes.length - 8) throw damaged(`header of ${headerLength} bytes in a file of ${bytes.length}`);
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  } catch {
    throw damaged('unreadable header');
  }
  if (!validateHeader(header)) throw damaged(headerProblem());
  const { __metadata__: metadata = {}, ...entries } = header as Record<string, unknown> & {
    __metadata__?: Record<string, string>;
  };
  const dataStart = 8 + headerLength;
  const dataBytes = bytes.subarray(dataStart);
  const tensors: Record<string, NamedArray> = {};
  let expectedEnd = 0;
  for (const [name, entry] of Object.entries(entries as Record<string, TensorEntry>)) {
    const {
      dtype,
      shape,
      data_offsets: [start, end],
    } = entry;
    if (dtype !== 'F32') throw new UserError(`${path}: tensor ${name} has dtype ${dtype}; difft reads F32 only`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (start > end || end - start !== size * 4 || end > dataBytes.length)
      throw damaged(`tensor ${name} does not fit: offsets ${start}..${end}, data ${dataBytes.length} bytes`);
    const data = new Float32Array(size);
    new Uint8Array(data.buffer).set(dataBytes.subarray(start, end));
    tensors[name] = { shape, data };
    expectedEnd = Math.max(expectedEnd, end);
  }
  if (expectedEnd !== dataBytes.length)
    throw damaged(`${dataBytes.length} data bytes, header describes ${expectedEnd}`);
  const checksum = metadata[CHECKSUM_KEY];
  if (checksum) {
    const hash = createHash('sha256');
    for (const name of Object.keys(tensors).sort()) hash.update(new Uint8Array(tensors[name].data.buffer));
    if (hash.digest('hex') !== checksum) throw damaged('checksum mismatch');
  }
  return { tensors, metadata };
}
