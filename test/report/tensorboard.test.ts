// The TensorBoard event writer, read back by an independent decoder (protoc's
// Python, Google's protobuf runtime, python3-crc32c): framing, masked CRCs,
// Event and Summary fields, images, and a damaged record caught.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { EventWriter, maskedCrc32c } from '../../src/report/tensorboard.js';
import { removeDir, tempDir } from '../helpers.js';
import { pythonJson } from '../python.js';
import { decodeEventFile, eventFiles, scalarSeries } from './tensorboard.js';

const tmp = tempDir('tensorboard');
after(() => removeDir(tmp));

test("the masked CRC-32C is TFRecord's: CRC-32C's check value 0xe3069283 for '123456789', rotated and offset", () => {
  const crc = 0xe3069283;
  assert.equal(maskedCrc32c(Buffer.from('123456789')), (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0);
  // the same through python3-crc32c
  assert.equal(
    pythonJson('import crc32c, json; c = crc32c.crc32c(b"123456789"); print(json.dumps((((c >> 15) | (c << 17)) + 0xa282ead8) & 0xffffffff))'),
    maskedCrc32c(Buffer.from('123456789')),
  );
});

test('scalars, a PNG image and a session start read back field for field', async () => {
  const dir = path.join(tmp, 'run');
  const w = await EventWriter.open(dir);
  w.scalars(1, { 'train/loss': 2.5, 'train/lr': 0.003 }, 1000.5);
  w.scalars(2, { 'train/loss': 1.25, 'train/nan': NaN }, 1001.5);
  const png = await sharp({ create: { width: 7, height: 5, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 1 } } })
    .png()
    .toBuffer();
  w.image('figures/demo', png, 2, 1002);
  w.sessionStart(1, 1003);
  w.close();
  w.close();
  assert.throws(() => w.scalars(3, { x: 1 }), /the event writer is closed/);
  const [file] = eventFiles(dir);
  assert.equal(file, w.file);
  assert.match(path.basename(file), /^events\.out\.tfevents\.\d{10}\.[^.]+.*\.\d+\.\d+$/);
  const events = decodeEventFile(file);
  assert.deepEqual(events[0], { wall_time: events[0].wall_time, step: 0, what: 'file_version', file_version: 'brain.Event:2', writer: 'bit-transfer' });
  assert.deepEqual(events.slice(1), [
    {
      wall_time: 1000.5,
      step: 1,
      what: 'summary',
      values: [
        { tag: 'train/loss', simple_value: 2.5 },
        { tag: 'train/lr', simple_value: Math.fround(0.003) },
      ],
    },
    { wall_time: 1001.5, step: 2, what: 'summary', values: [{ tag: 'train/loss', simple_value: 1.25 }] },
    {
      wall_time: 1002,
      step: 2,
      what: 'summary',
      values: [{ tag: 'figures/demo', image: { width: 7, height: 5, colorspace: 4, png_sha256: createHash('sha256').update(png).digest('hex') } }],
    },
    { wall_time: 1003, step: 1, what: 'session_log', session_status: 'START' },
  ]);
  assert.deepEqual([...scalarSeries(events).keys()], ['train/loss', 'train/lr']);

  // one flipped bit in a record's data is caught by the decoder's CRC check
  const bad = path.join(tmp, 'bad.tfevents');
  const bytes = readFileSync(file);
  bytes[bytes.length - 10] ^= 1;
  writeFileSync(bad, bytes);
  assert.throws(() => decodeEventFile(bad), /record at byte \d+: data CRC mismatch/);
});
