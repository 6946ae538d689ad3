import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  CHECKPOINT_FORMAT,
  DIFFT_VERSION,
  saveCheckpoint,
  type CheckpointConfig,
} from '../src/checkpoint/checkpoint.js';
import { loadConfig } from '../src/config/load.js';
import { Decoder } from '../src/model/decoder.js';
import { engine, scrambleParameters, tinyConfig } from './helpers/setup.js';

before(() => engine('cpu'));

/**
 * The bytes difft writes, against a safetensors file built here by hand from the format's definition
 * (8-byte little-endian header length, JSON header, raw little-endian data in the header's order)
 * and PyTorch's layout (a linear map y = x·W held [in, out] in memory is stored as its [out, in]
 * transpose; vectors and the embedding [V, D] as they are). Not a round trip: a transpose made
 * consistently on save and load would pass a round trip, and fails here.
 */
function expectedSafetensorsData(tensors: { name: string; shape: number[]; values: number[][] | number[] }[]): {
  data: Buffer;
  header: Record<string, unknown>;
} {
  const chunks: Buffer[] = [];
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const { name, shape, values } of [...tensors].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const flat = (values as number[][]).flat ? (values as number[][]).flat() : (values as number[]);
    const bytes = Buffer.alloc(4 * flat.length);
    flat.forEach((value, i) => {
      bytes.writeFloatLE(value, 4 * i);
    });
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
    chunks.push(bytes);
  }
  return { data: Buffer.concat(chunks), header };
}

describe('checkpoint bytes', () => {
  it('model.safetensors holds exactly the bytes and [out, in] layout of a file written by hand', () => {
    const config = tinyConfig({ attention: 'diff', layers: 1, tieEmbeddings: false });
    const model = Decoder.create(config, 3);
    scrambleParameters(model.params, 5);
    const dir = join(mkdtempSync(join(tmpdir(), 'difft-ckpt-')), 'step-000001');
    const checkpointConfig: CheckpointConfig = {
      difftVersion: DIFFT_VERSION,
      format: CHECKPOINT_FORMAT,
      run: loadConfig(undefined),
      model: config,
      tokenizer: { kind: 'byte' },
      dataset: { dir: '', key: '' },
    } as CheckpointConfig;
    const moments = Object.fromEntries(
      Object.entries(model.params).map(([name, v]) => [`${name}.exp_avg`, tf.zerosLike(v)]),
    );
    saveCheckpoint(dir, model, moments, checkpointConfig, {
      step: 1,
      tokens: 0,
      lr: 0,
      optimizerStep: 1,
      sampler: { seed: 1, rng: 1, batches: 0 },
      elapsedSeconds: 0,
      engine: 'cpu',
    });
    tf.dispose(Object.values(moments));

    // by hand: a 2-D parameter other than the embedding is a linear map, stored transposed
    const tensors = Object.entries(model.params).map(([name, variable]) => {
      const values = variable.arraySync() as number[][] | number[];
      if (variable.shape.length === 2 && name !== 'embed.weight') {
        const [inWidth, outWidth] = variable.shape;
        const transposed = Array.from({ length: outWidth }, (_, o) =>
          Array.from({ length: inWidth }, (_, i) => (values as number[][])[i][o]),
        );
        return { name, shape: [outWidth, inWidth], values: transposed };
      }
      return { name, shape: variable.shape, values };
    });
    const expected = expectedSafetensorsData(tensors);

    const file = readFileSync(join(dir, 'model.safetensors'));
    const headerLength = Number(file.readBigUInt64LE(0));
    assert.equal((8 + headerLength) % 8, 0, 'the data start 8-byte aligned');
    const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
    const data = file.subarray(8 + headerLength);
    const { __metadata__: metadata, ...described } = header as { __metadata__: Record<string, string> };
    assert.deepEqual(described, expected.header, 'names, dtypes, [out, in] shapes and offsets');
    assert.ok(data.equals(expected.data), 'tensor bytes, little-endian, transposed where linear');
    assert.equal(metadata.format, 'pt');
    assert.equal(metadata['difft.sha256'], createHash('sha256').update(expected.data).digest('hex'));
    // a named example, to make the layout concrete: q_proj [D, D] in memory → [out = D, in = D] on disk, row o = column
    // o
    const q = model.params['layers.0.attn.q_proj.weight'].arraySync() as number[][];
    const [start] = (described['layers.0.attn.q_proj.weight'] as { data_offsets: number[] }).data_offsets;
    assert.equal(data.readFloatLE(start + 4 * 1), Math.fround(q[1][0]), 'stored[0][1] = W[1][0]');
    model.dispose();
  });
});
