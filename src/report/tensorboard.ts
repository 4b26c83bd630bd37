// TensorBoard event files: `events.out.tfevents.<time>.<host>.<pid>.<n>`, a
// sequence of records (TFRecord framing: the data length as a little-endian
// uint64, its masked CRC-32C, the data, its masked CRC-32C), each an `Event`
// protobuf. The first event says the file version ("brain.Event:2"); then
// scalars (`simple_value`) and images (PNG) as `Summary` values, and
// SessionLog START when a run resumes (TensorBoard then drops what the file
// holds from that step on, as metrics.jsonl is truncated). The messages are
// TensorBoard's (proto/tensorboard.proto), encoded by protobufjs; the CRC is
// the crc-32 package's CRC-32C. Records are appended and flushed as they come.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { ensureFolder } from '../io/folders.js';
import * as os from 'node:os';
import * as path from 'node:path';
import crc32c from 'crc-32/crc32c.js';
import protobuf from 'protobufjs';
import { packageRoot } from '../util/package-root.js';

/** TFRecord's CRC mask (tensorflow/core/lib/hash/crc32c.h: kMaskDelta). */
const MASK_DELTA = 0xa282ead8;

/** The masked CRC-32C of `data`, as TFRecord stores it: rotate right by 15 bits, add the delta. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c.buf(data) >>> 0;
  return (((crc >>> 15) | (crc << 17)) + MASK_DELTA) >>> 0;
}

/** One TFRecord: length, masked CRC of the length, data, masked CRC of the data. */
export function tfRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + 4 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

let types: { event: protobuf.Type } | undefined;

/** TensorBoard's Event message, from the .proto shipped in proto/. */
function eventType(): protobuf.Type {
  types ??= { event: protobuf.loadSync(path.join(packageRoot(), 'proto', 'tensorboard.proto')).lookupType('tensorboard.Event') };
  return types.event;
}

/** TensorBoard's colorspace of a PNG's colour type (IHDR byte 9): grey 1, grey+alpha 2, RGB 3, RGBA 4. */
const PNG_COLORSPACE: Record<number, number> = { 0: 1, 4: 2, 2: 3, 6: 4, 3: 3 };

/** Width, height and colour type of a PNG, from its IHDR chunk. */
function pngHeader(png: Uint8Array): { width: number; height: number; colorspace: number } {
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (b.length < 26 || b.readUInt32BE(0) !== 0x89504e47 || b.toString('latin1', 12, 16) !== 'IHDR') throw new Error('tensorboard image: not a PNG');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20), colorspace: PNG_COLORSPACE[b[25]] ?? 3 };
}

let fileCount = 0;

/** Appends events to one TensorBoard event file in `dir` (created if missing). Close it when done. */
export class EventWriter {
  /** The event file. */
  readonly file: string;
  #fd: number | null;

  /** Opens a new event file in `dir`, creating the folder (and its parents) if missing. */
  static async open(dir: string): Promise<EventWriter> {
    await ensureFolder(dir);
    return new EventWriter(dir);
  }

  private constructor(dir: string) {
    const now = Date.now() / 1000;
    this.file = path.join(dir, `events.out.tfevents.${Math.floor(now)}.${os.hostname()}.${process.pid}.${fileCount++}`);
    this.#fd = openSync(this.file, 'a');
    this.#write({ wallTime: now, step: 0, fileVersion: 'brain.Event:2', sourceMetadata: { writer: 'bit-transfer' } });
  }

  #write(event: Record<string, unknown>): void {
    if (this.#fd === null) throw new Error(`${this.file}: the event writer is closed`);
    const type = eventType();
    writeSync(this.#fd, tfRecord(type.encode(type.fromObject(event)).finish()));
  }

  /** Scalars under their tags (`train/loss`, ...) at `step`. */
  scalars(step: number, values: Record<string, number>, wallTime = Date.now() / 1000): void {
    const value = Object.entries(values)
      .filter(([, v]) => Number.isFinite(v))
      .map(([tag, v]) => ({ tag, simpleValue: v }));
    if (value.length > 0) this.#write({ wallTime, step, summary: { value } });
  }

  /** A PNG image (a figure) under `tag` at `step`. */
  image(tag: string, png: Uint8Array, step = 0, wallTime = Date.now() / 1000): void {
    this.#write({ wallTime, step, summary: { value: [{ tag, image: { ...pngHeader(png), encodedImageString: png } }] } });
  }

  /** Marks a (re)start at `step`: TensorBoard discards the events this run logged before at `step` or later. */
  sessionStart(step: number, wallTime = Date.now() / 1000): void {
    this.#write({ wallTime, step, sessionLog: { status: 'START' } });
  }

  /** Flushes the file to disk and closes it (idempotent). */
  close(): void {
    if (this.#fd === null) return;
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    this.#fd = null;
  }
}
