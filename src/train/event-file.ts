import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { appendToFile, writeFileAtomically } from '../atomic.js';
import { UserError } from '../errors.js';
import { eventFileName, isEventFile } from '../formats/run.js';

/**
 * TensorBoard's event file: a sequence of records, each
 *   uint64 length (little-endian) · uint32 masked CRC-32C of those 8 bytes · `length` bytes of a
 *   serialized `Event` protobuf · uint32 masked CRC-32C of the data,
 * where masked(crc) = ((crc >>> 15) | (crc << 17)) + 0xa282ead8 (TensorFlow's record_writer / crc32c.h).
 * The first record holds `file_version: "brain.Event:2"`. Only the messages difft writes are declared
 * here, with TensorFlow's field numbers (tensorflow/core/util/event.proto, framework/summary.proto).
 */
const crc32c = (createRequire(import.meta.url)('crc-32/crc32c') as { buf(data: Uint8Array, seed?: number): number })
  .buf;

const root = protobuf.Root.fromJSON({
  nested: {
    Event: {
      fields: {
        wallTime: { type: 'double', id: 1 },
        step: { type: 'int64', id: 2 },
        fileVersion: { type: 'string', id: 3 },
        summary: { type: 'Summary', id: 5 },
      },
    },
    Summary: { fields: { value: { rule: 'repeated', type: 'Value', id: 1 } } },
    Value: {
      fields: {
        tag: { type: 'string', id: 1 },
        simpleValue: { type: 'float', id: 2 },
        image: { type: 'Image', id: 4 },
      },
    },
    Image: {
      fields: {
        height: { type: 'int32', id: 1 },
        width: { type: 'int32', id: 2 },
        colorspace: { type: 'int32', id: 3 },
        encodedImageString: { type: 'bytes', id: 4 },
      },
    },
  },
});
const EventType = root.lookupType('Event');

export interface SummaryValue {
  tag: string;
  simpleValue?: number;
  image?: { height: number; width: number; colorspace: number; encodedImageString: Uint8Array };
}

export interface TensorBoardEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  summary?: { value: SummaryValue[] };
}

const FILE_VERSION = 'brain.Event:2';

export function maskedCrc(data: Uint8Array): number {
  const crc = crc32c(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One event as a framed record. */
export function eventRecord(event: TensorBoardEvent): Buffer {
  const data = EventType.encode(EventType.fromObject(event)).finish();
  const header = Buffer.alloc(12);
  header.writeBigUInt64LE(BigInt(data.length), 0);
  header.writeUInt32LE(maskedCrc(header.subarray(0, 8)), 8);
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(maskedCrc(data), 0);
  return Buffer.concat([header, data, footer]);
}

/** Every event of a file, each record's CRCs checked; a record cut short by a crash ends the list. */
export function readEvents(path: string): TensorBoardEvent[] {
  const bytes = readFileSync(path);
  const events: TensorBoardEvent[] = [];
  let offset = 0;
  while (offset + 12 <= bytes.length) {
    const header = bytes.subarray(offset, offset + 8);
    if (bytes.readUInt32LE(offset + 8) !== maskedCrc(header))
      throw new UserError(`${path}: damaged event record at byte ${offset} (length CRC)`);
    const length = Number(header.readBigUInt64LE(0));
    if (offset + 12 + length + 4 > bytes.length) break;
    const data = bytes.subarray(offset + 12, offset + 12 + length);
    if (bytes.readUInt32LE(offset + 12 + length) !== maskedCrc(data))
      throw new UserError(`${path}: damaged event record at byte ${offset} (data CRC)`);
    const decoded = EventType.toObject(EventType.decode(data), { longs: Number, defaults: false });
    events.push(decoded as TensorBoardEvent);
    offset += 16 + length;
  }
  return events;
}

/**
 * A run's event file, appended as `metrics.jsonl` is: synced before each checkpoint, and on resume
 * cut back to the checkpoint's step, so a resumed run has every step once.
 */
export class EventFile {
  private constructor(readonly path: string) {}

  /** The run's event file, created with its version record on the run's first start. */
  static open(runDir: string): EventFile {
    const existing = existsSync(runDir) ? readdirSync(runDir).find(isEventFile) : undefined;
    if (existing) return new EventFile(join(runDir, existing));
    const seconds = Math.floor(Date.now() / 1000);
    const file = new EventFile(join(runDir, eventFileName(seconds, hostname())));
    appendToFile(file.path, eventRecord({ wallTime: Date.now() / 1000, step: 0, fileVersion: FILE_VERSION }));
    return file;
  }

  write(step: number, values: SummaryValue[]): void {
    if (values.length === 0) return;
    appendToFile(this.path, eventRecord({ wallTime: Date.now() / 1000, step, summary: { value: values } }));
  }

  sync(): void {
    const fd = openSync(this.path, 'r+');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Drops the events of steps after `step` (written after the checkpoint a run resumes from). */
  truncate(step: number): void {
    const kept = readEvents(this.path).filter((event) => event.fileVersion || event.step <= step);
    writeFileAtomically(this.path, Buffer.concat(kept.map(eventRecord)));
  }
}
