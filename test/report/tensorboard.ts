// Reads TensorBoard event files back through an independent decoder: the
// .proto compiled by protoc (Debian protobuf-compiler) into Python, Google's
// protobuf runtime (python3-protobuf) and the crc32c module (python3-crc32c)
// checking every record's masked CRC-32C. Shared by the tests that write
// event files.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../helpers.js';
import { pythonJson, requirePython } from '../python.js';

/** One event as the decoder reports it. */
export interface DecodedEvent {
  wall_time: number;
  step: number;
  what: 'file_version' | 'summary' | 'session_log' | null;
  file_version?: string;
  writer?: string;
  session_status?: string;
  values?: { tag: string; simple_value?: number; image?: { width: number; height: number; colorspace: number; png_sha256: string } }[];
}

const DECODER = `
import hashlib, json, struct, sys
import crc32c
sys.path.insert(0, sys.argv[1])
import tensorboard_pb2

def masked(data):
    crc = crc32c.crc32c(data) & 0xffffffff
    return (((crc >> 15) | (crc << 17)) + 0xa282ead8) & 0xffffffff

out = []
with open(sys.argv[2], 'rb') as f:
    blob = f.read()
pos = 0
while pos < len(blob):
    header = blob[pos:pos + 8]
    (length,) = struct.unpack('<Q', header)
    (header_crc,) = struct.unpack('<I', blob[pos + 8:pos + 12])
    if header_crc != masked(header):
        sys.exit('record at byte %d: length CRC mismatch' % pos)
    data = blob[pos + 12:pos + 12 + length]
    (data_crc,) = struct.unpack('<I', blob[pos + 12 + length:pos + 16 + length])
    if len(data) != length or data_crc != masked(data):
        sys.exit('record at byte %d: data CRC mismatch' % pos)
    pos += 16 + length
    e = tensorboard_pb2.Event()
    e.ParseFromString(data)
    ev = {'wall_time': e.wall_time, 'step': e.step, 'what': e.WhichOneof('what')}
    if ev['what'] == 'file_version':
        ev['file_version'] = e.file_version
        ev['writer'] = e.source_metadata.writer
    elif ev['what'] == 'session_log':
        ev['session_status'] = tensorboard_pb2.SessionLog.SessionStatus.Name(e.session_log.status)
    elif ev['what'] == 'summary':
        values = []
        for v in e.summary.value:
            d = {'tag': v.tag}
            if v.WhichOneof('value') == 'simple_value':
                d['simple_value'] = v.simple_value
            elif v.WhichOneof('value') == 'image':
                d['image'] = {'width': v.image.width, 'height': v.image.height, 'colorspace': v.image.colorspace,
                              'png_sha256': hashlib.sha256(v.image.encoded_image_string).hexdigest()}
            values.append(d)
        ev['values'] = values
    out.append(ev)
print(json.dumps(out))
`;

let compiled: string | undefined;

/** protoc's Python module of proto/tensorboard.proto, compiled once per process. */
function compiledProto(): string {
  if (compiled) return compiled;
  requirePython(['google.protobuf', 'crc32c'], 'python3-protobuf python3-crc32c');
  const out = mkdtempSync(path.join(tmpdir(), 'bit-tbproto-'));
  const r = spawnSync('protoc', [`--proto_path=${path.join(repoRoot(), 'proto')}`, `--python_out=${out}`, 'tensorboard.proto'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    assert.fail(
      `protoc (Debian protobuf-compiler) could not compile proto/tensorboard.proto (${r.error?.message ?? r.stderr}): apt-get install -y protobuf-compiler (scripts/setup.sh installs it)`,
    );
  }
  compiled = out;
  return out;
}

/** Every event of an event file, decoded and CRC-checked by Python; a bad record fails with its byte offset. */
export function decodeEventFile(file: string): DecodedEvent[] {
  return pythonJson(DECODER, [compiledProto(), file]) as DecodedEvent[];
}

/** The event files in `dir`. */
export function eventFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('events.out.tfevents.'))
    .map((f) => path.join(dir, f));
}

/** Scalars of the decoded events: tag -> [step, value][] in file order. */
export function scalarSeries(events: readonly DecodedEvent[]): Map<string, [number, number][]> {
  const m = new Map<string, [number, number][]>();
  for (const e of events)
    for (const v of e.values ?? []) {
      if (v.simple_value === undefined) continue;
      if (!m.has(v.tag)) m.set(v.tag, []);
      m.get(v.tag)!.push([e.step, v.simple_value]);
    }
  return m;
}

/** metrics.jsonl's rows. */
export function metricsRows(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Every scalar of metrics.jsonl as TensorBoard should hold it (float32, as `simple_value` is). */
export function expectedScalars(rows: Record<string, unknown>[]): Map<string, [number, number][]> {
  const m = new Map<string, [number, number][]>();
  const add = (tag: string, step: number, v: number) => {
    if (!m.has(tag)) m.set(tag, []);
    m.get(tag)!.push([step, Math.fround(v)]);
  };
  for (const r of rows) {
    const step = r.step as number;
    const ev = r.eval as Record<string, number> | undefined;
    if (ev) for (const k of ['top1', 'top5', 'loss']) add(`eval/${k}`, step, ev[k]);
    else {
      for (const k of ['loss', 'lr', 'images_per_s']) add(`train/${k}`, step, r[k] as number);
      if ((r.lambda as number) < 1) add('train/mixup_lambda', step, r.lambda as number);
    }
  }
  return m;
}

/** A series map's entries in tag order. */
export function sorted(m: Map<string, [number, number][]>): [string, [number, number][]][] {
  return [...m.entries()].sort(([a], [b]) => a.localeCompare(b));
}
