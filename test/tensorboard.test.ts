import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { findPython } from '../bench/pytorch.js';
import { eventRecord, maskedCrc, readEvents, type TensorBoardEvent } from '../src/train/event-file.js';
import { mapImage } from '../src/train/tensorboard.js';
import { difft, REPO_ROOT } from './helpers/cli.js';

/**
 * TensorBoard event files: the record framing against CRC-32C's published check value, difft's own
 * reader against metrics.jsonl, resume without duplicate steps, and TensorBoard's reader itself
 * (EventAccumulator) where a Python with tensorboard is at hand.
 */
const scratch = () => mkdtempSync(join(tmpdir(), 'difft-tensorboard-'));
const data = scratch();
const TINY = join(REPO_ROOT, 'configs/tiny.yaml');
const train = (out: string, ...extra: string[]) =>
  difft(['train', '--config', TINY, '--out', out, '--set', `data.dir=${data}`, '--backend', 'wasm', ...extra]);

const eventFile = (runDir: string) => {
  const name = readdirSync(runDir).find((entry) => entry.startsWith('events.out.tfevents.'));
  assert.ok(name, `an event file in ${runDir}`);
  return join(runDir, name);
};
type Line = { type: string; step: number; loss?: number; valLoss?: number; valBitsPerByte?: number };
const metricsOf = (runDir: string): Line[] =>
  readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Line);

/** (step, value) of one scalar tag, from difft's reading of the event file. */
function scalars(events: TensorBoardEvent[], tag: string): [number, number][] {
  return events.flatMap((event) =>
    (event.summary?.value ?? [])
      .filter((v) => v.tag === tag)
      .map((v): [number, number] => [event.step, v.simpleValue!]),
  );
}

describe('TensorBoard event files', () => {
  it('the masked CRC-32C: check value of "123456789" is 0xE3069283, masked as TensorFlow masks it', () => {
    // CRC-32C check value (RFC 3720, iSCSI); mask: rotate right by 15, add 0xa282ead8 (tensorflow/core/lib/hash/crc32c.h)
    const crc = 0xe3069283;
    const rotated = ((crc >>> 15) | (crc << 17)) >>> 0;
    assert.equal(maskedCrc(Buffer.from('123456789')), (rotated + 0xa282ead8) % 2 ** 32);
    assert.equal(rotated, 0x2507c60d); // worked by hand: low 15 bits 0x1283 moved to the top
  });

  it('records round-trip, and a flipped byte is caught by the CRC', () => {
    const event = { wallTime: 1.5, step: 7, summary: { value: [{ tag: 'a/b', simpleValue: 0.25 }] } };
    const record = eventRecord(event);
    const path = join(scratch(), 'events.out.tfevents.1.test');
    writeFileSync(path, record);
    assert.deepEqual(readEvents(path), [event]);
    record[record.length - 6] ^= 1;
    writeFileSync(path, record);
    assert.throws(() => readEvents(path), /damaged event record at byte 0 \(data CRC\)/);
  });

  it('attention map images: size, and colour by sign, each row scaled by its largest magnitude', () => {
    // row 0: [1, 0] → blue, white; row 1: [−0.5, 0.5] scaled by 0.5 → full red, full blue
    const image = mapImage(Float32Array.from([1, 0, -0.5, 0.5]), 2)!;
    assert.equal(image.width, 256);
    assert.equal(image.height, 256);
    const png = PNG.sync.read(Buffer.from(image.encodedImageString));
    const pixel = (x: number, y: number) => [...png.data.subarray((y * 256 + x) * 4, (y * 256 + x) * 4 + 3)];
    assert.deepEqual(pixel(10, 10), [0, 0, 255]);
    assert.deepEqual(pixel(200, 10), [255, 255, 255]);
    assert.deepEqual(pixel(10, 200), [255, 0, 0]);
    assert.deepEqual(pixel(200, 200), [0, 0, 255]);
  });

  it('a run writes every logged step once, equal to metrics.jsonl; resume cuts back and appends; off switch', () => {
    const out = join(scratch(), 'run');
    assert.equal(train(out, '--set', 'train.steps=15').status, 0);
    // as if killed after step 15 was logged but before its checkpoint: resume from step 10
    rmSync(join(out, 'step-000015'), { recursive: true });
    const resumed = difft(['train', '--resume', out, '--set', 'train.steps=20', '--backend', 'wasm']);
    assert.equal(resumed.status, 0, resumed.stderr);

    const events = readEvents(eventFile(out));
    assert.equal(events[0].fileVersion, 'brain.Event:2');
    const metrics = metricsOf(out);
    const trainLoss = scalars(events, 'train/loss');
    assert.deepEqual(
      trainLoss.map(([step]) => step),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const expectLoss = metrics.filter((r) => r.type === 'train').map((r) => [r.step, Math.fround(r.loss!)]);
    assert.deepEqual(trainLoss, expectLoss);
    const expectVal = metrics.filter((r) => r.type === 'eval').map((r) => [r.step, Math.fround(r.valLoss!)]);
    assert.deepEqual(scalars(events, 'val/loss'), expectVal);
    assert.deepEqual(
      scalars(events, 'lambda/layer_1').map(([step]) => step),
      trainLoss.map(([step]) => step),
    );
    const images = events.filter((e) => e.summary?.value.some((v) => v.tag === 'attention/layer_0'));
    assert.deepEqual(
      images.map((e) => e.step),
      [10, 20],
    );

    const off = join(scratch(), 'off');
    assert.equal(train(off, '--set', 'train.steps=2', '--set', 'output.tensorboard=false').status, 0);
    assert.ok(!readdirSync(off).some((name) => name.includes('tfevents')));
  });

  const python = findPython(['tensorboard']);
  it("TensorBoard's own reader lists the same tags, steps and values", {
    skip: python ? false : 'no Python with tensorboard here (set DIFFT_PYTHON)',
  }, () => {
    const out = join(scratch(), 'run');
    assert.equal(train(out, '--set', 'train.steps=10', '--set', 'eval.every=5').status, 0);
    const run = spawnSync(python!, [join(REPO_ROOT, 'scripts/tensorboard-read.py'), out], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const seen = JSON.parse(run.stdout) as {
      scalars: Record<string, [number, number][]>;
      images: Record<string, [number, number, number][]>;
    };
    const events = readEvents(eventFile(out));
    const tags = [
      ...new Set(
        events.flatMap((e) => (e.summary?.value ?? []).filter((v) => v.simpleValue !== undefined).map((v) => v.tag)),
      ),
    ];
    assert.deepEqual(Object.keys(seen.scalars).sort(), tags.sort());
    assert.ok(
      tags.includes('val/bits_per_byte') && tags.includes('train/grad_norm') && tags.includes('lambda/layer_0'),
    );
    for (const tag of tags) assert.deepEqual(seen.scalars[tag], scalars(events, tag), tag);
    assert.deepEqual(seen.images['attention/layer_1'], [
      [5, 256, 256],
      [10, 256, 256],
    ]);
  });
});
