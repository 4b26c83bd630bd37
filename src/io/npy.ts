// The numpy `.npy` format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// a magic string, a version, a header that is a Python dict literal
// ({'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }) padded with
// spaces and a newline, then the raw values.
//
// Decoding accepts header versions 1.0, 2.0 and 3.0, either byte order and
// Fortran order, and returns native-endian, C-ordered data. Encoding writes
// what numpy's `np.save` writes, byte for byte: little-endian, C order, a 1.0
// header (2.0 if it is too long) padded so that the data starts on a
// 64-byte boundary.
import { promises as fs } from 'node:fs';
import { DTYPES, ArrayFileError, byteRange, ndarrayProblem, numel, type NdArray, type NdData, type NdDtype, type ArrayFileContext } from './ndarray.js';
import { withAtomicFile } from './atomic.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const MAGIC_LENGTH = MAGIC.length;
/** numpy aligns the start of the data to this many bytes. */
const ARRAY_ALIGN = 64;
/** numpy leaves room after the shape so the first axis can grow in place (numpy >= 1.22). */
const GROWTH_AXIS_MAX_DIGITS = 21;
/** Longest header accepted on read; numpy's own default limit is 10000 bytes. */
export const MAX_NPY_HEADER_BYTES = 1 << 20;
/** Most dimensions accepted on read (numpy allows 32 since 2.0, 64 is generous). */
const MAX_NDIM = 64;
/** Data is read and written in pieces of at most this size. */
export const NPY_CHUNK_BYTES = 16 << 20;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The `descr` that numpy writes for each dtype (little-endian). */
const DESCR: { readonly [D in NdDtype]: string } = {
  float32: '<f4',
  float64: '<f8',
  int64: '<i8',
  int32: '<i4',
  int16: '<i2',
  int8: '|i1',
  uint8: '|u1',
  uint16: '<u2',
  uint32: '<u4',
  bool: '|b1',
};

/** Type character and size (as in '<f4') to dtype. */
const CODES: ReadonlyMap<string, NdDtype> = new Map((Object.entries(DESCR) as [NdDtype, string][]).map(([dtype, descr]) => [descr.slice(1), dtype]));

/** What a `.npy` header says. */
export interface NpyHeader {
  dtype: NdDtype;
  shape: number[];
  fortranOrder: boolean;
  /** Byte order of the values on disk (always true for 1-byte dtypes). */
  littleEndian: boolean;
  /** Format version, e.g. [1, 0]. */
  version: [number, number];
  /** Bytes before the data: magic, version, length field, header text. */
  headerBytes: number;
  /** Bytes of data the shape and dtype call for. */
  dataBytes: number;
}

/** The `descr` string numpy uses for `dtype`, e.g. '<f4'. */
export function npyDescr(dtype: NdDtype): string {
  return DESCR[dtype];
}

/**
 * Parses a dtype descr such as '<f4', '>i8', '|u1', '|b1'. Unsupported
 * dtypes (complex, half, strings, objects, structured, datetime) give an
 * ArrayFileError naming them.
 */
export function parseDescr(descr: string, context: ArrayFileContext = {}): { dtype: NdDtype; littleEndian: boolean } {
  const order = descr.charAt(0);
  const dtype = CODES.get(descr.slice(1));
  if (dtype === undefined || !'<>|='.includes(order) || descr.length < 2) {
    throw new ArrayFileError(`unsupported dtype '${descr}' (supported: ${Object.values(DESCR).join(', ')}, in either byte order)`, context);
  }
  const itemSize = DTYPES[dtype].itemSize;
  if (order === '|' && itemSize > 1) {
    throw new ArrayFileError(`dtype '${descr}' has no byte order ('|') but its items are ${itemSize} bytes`, context);
  }
  const littleEndian = itemSize === 1 || order === '<' || (order === '=' && HOST_LITTLE_ENDIAN);
  return { dtype, littleEndian };
}

// ---------------------------------------------------------------------------
// Header text: a small parser for the Python literals numpy writes.

interface PyTuple {
  kind: 'tuple';
  items: PyValue[];
}
interface PyList {
  kind: 'list';
  items: PyValue[];
}
interface PyDict {
  kind: 'dict';
  entries: Map<string, { value: PyValue; text: string }>;
}
type PyValue = string | number | boolean | null | PyTuple | PyList | PyDict;

const MAX_LITERAL_DEPTH = 16;

class LiteralParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly context: ArrayFileContext,
  ) {}

  parseAll(): PyValue {
    const value = this.value(0);
    this.skipSpace();
    if (this.pos !== this.text.length) {
      this.fail(`unexpected ${JSON.stringify(this.text.slice(this.pos, this.pos + 10))} after the header dict`);
    }
    return value;
  }

  private fail(detail: string): never {
    throw new ArrayFileError(`header ${JSON.stringify(clip(this.text))} is not a valid Python literal: ${detail}`, this.context);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && ' \t\n\r'.includes(this.text.charAt(this.pos))) {
      this.pos++;
    }
  }

  private expect(char: string): void {
    this.skipSpace();
    if (this.text.charAt(this.pos) !== char) {
      this.fail(`expected '${char}' at offset ${this.pos}`);
    }
    this.pos++;
  }

  private value(depth: number): PyValue {
    if (depth > MAX_LITERAL_DEPTH) {
      this.fail('nested too deeply');
    }
    this.skipSpace();
    const c = this.text.charAt(this.pos);
    if (c === '{') {
      return this.dict(depth);
    }
    if (c === '(' || c === '[') {
      return this.sequence(depth, c === '(' ? ')' : ']');
    }
    if (c === "'" || c === '"') {
      return this.string();
    }
    if (c === '-' || c === '+' || (c >= '0' && c <= '9')) {
      return this.integer();
    }
    const word = /^[A-Za-z_]\w*/.exec(this.text.slice(this.pos, this.pos + 16))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      this.pos += word.length;
      return word === 'None' ? null : word === 'True';
    }
    return this.fail(`unexpected ${JSON.stringify(this.text.slice(this.pos, this.pos + 10))} at offset ${this.pos}`);
  }

  private dict(depth: number): PyDict {
    this.expect('{');
    const entries = new Map<string, { value: PyValue; text: string }>();
    for (;;) {
      this.skipSpace();
      if (this.text.charAt(this.pos) === '}') {
        this.pos++;
        return { kind: 'dict', entries };
      }
      const key = this.value(depth + 1);
      if (typeof key !== 'string') {
        this.fail('dict keys must be strings');
      }
      this.expect(':');
      this.skipSpace();
      const start = this.pos;
      const value = this.value(depth + 1);
      entries.set(key, { value, text: this.text.slice(start, this.pos) });
      this.skipSpace();
      const next = this.text.charAt(this.pos);
      if (next === ',') {
        this.pos++;
      } else if (next !== '}') {
        this.fail(`expected ',' or '}' at offset ${this.pos}`);
      }
    }
  }

  private sequence(depth: number, close: string): PyValue {
    this.pos++;
    const items: PyValue[] = [];
    let sawComma = false;
    for (;;) {
      this.skipSpace();
      if (this.text.charAt(this.pos) === close) {
        this.pos++;
        break;
      }
      items.push(this.value(depth + 1));
      this.skipSpace();
      const next = this.text.charAt(this.pos);
      if (next === ',') {
        sawComma = true;
        this.pos++;
      } else if (next !== close) {
        this.fail(`expected ',' or '${close}' at offset ${this.pos}`);
      }
    }
    if (close === ')' && items.length === 1 && !sawComma) {
      return items[0] as PyValue; // (x) is just x in Python, not a tuple
    }
    return { kind: close === ')' ? 'tuple' : 'list', items };
  }

  private string(): string {
    const quote = this.text.charAt(this.pos);
    this.pos++;
    let out = '';
    for (;;) {
      if (this.pos >= this.text.length) {
        this.fail('unterminated string');
      }
      const c = this.text.charAt(this.pos++);
      if (c === quote) {
        return out;
      }
      if (c === '\\') {
        if (this.pos >= this.text.length) {
          this.fail('unterminated string');
        }
        const e = this.text.charAt(this.pos++);
        out += e === 'n' ? '\n' : e === 't' ? '\t' : e;
      } else {
        out += c;
      }
    }
  }

  private integer(): number {
    const match = /^[-+]?\d+[lL]?/.exec(this.text.slice(this.pos, this.pos + 40));
    if (match === null) {
      this.fail(`expected a number at offset ${this.pos}`);
    }
    this.pos += match[0].length;
    const digits = match[0].replace(/[lL]$/, '');
    const value = Number(digits);
    if (!Number.isSafeInteger(value)) {
      this.fail(`integer ${digits} is too large`);
    }
    return value;
  }
}

function clip(text: string): string {
  const trimmed = text.trimEnd();
  return trimmed.length > 200 ? `${trimmed.slice(0, 200)}...` : trimmed;
}

function isTuple(value: PyValue): value is PyTuple {
  return typeof value === 'object' && value !== null && value.kind === 'tuple';
}

// ---------------------------------------------------------------------------
// Header bytes.

/**
 * The full length of the header (magic, version, length field and text) from
 * the first bytes of a `.npy` stream, or undefined if `prefix` is too short to
 * tell (fewer than 12 bytes).
 */
export function npyHeaderLength(prefix: Uint8Array, context: ArrayFileContext = {}): number | undefined {
  const check = Math.min(prefix.length, MAGIC_LENGTH);
  for (let i = 0; i < check; i++) {
    if (prefix[i] !== MAGIC[i]) {
      throw new ArrayFileError(
        `not a .npy array: expected the magic bytes \\x93NUMPY, found ${JSON.stringify(latin1(prefix.subarray(0, MAGIC_LENGTH)))}`,
        context,
      );
    }
  }
  if (prefix.length < MAGIC_LENGTH + 2) {
    return undefined;
  }
  const major = prefix[6] as number;
  const minor = prefix[7] as number;
  if (!((major === 1 || major === 2 || major === 3) && minor === 0)) {
    throw new ArrayFileError(`unsupported .npy format version ${major}.${minor} (expected 1.0, 2.0 or 3.0)`, context);
  }
  const fieldBytes = major === 1 ? 2 : 4;
  const preamble = MAGIC_LENGTH + 2 + fieldBytes;
  if (prefix.length < preamble) {
    return undefined;
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, preamble);
  const textBytes = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (textBytes > MAX_NPY_HEADER_BYTES) {
    throw new ArrayFileError(`the .npy header claims ${textBytes} bytes of text; at most ${MAX_NPY_HEADER_BYTES} are accepted`, context);
  }
  return preamble + textBytes;
}

/** Parses a complete `.npy` header (`bytes` must hold at least `npyHeaderLength` bytes). */
export function parseNpyHeader(bytes: Uint8Array, context: ArrayFileContext = {}): NpyHeader {
  const headerBytes = npyHeaderLength(bytes, context);
  if (headerBytes === undefined || bytes.length < headerBytes) {
    throw new ArrayFileError(`truncated .npy header: ${bytes.length} bytes, need ${headerBytes ?? MAGIC_LENGTH + 4}`, context);
  }
  const major = bytes[6] as number;
  const preamble = MAGIC_LENGTH + 2 + (major === 1 ? 2 : 4);
  const raw = bytes.subarray(preamble, headerBytes);
  let text: string;
  if (major === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new ArrayFileError('the version 3.0 .npy header is not valid UTF-8', context);
    }
  } else {
    text = latin1(raw);
  }
  const literal = new LiteralParser(text, context).parseAll();
  if (typeof literal !== 'object' || literal === null || literal.kind !== 'dict') {
    throw new ArrayFileError(`header ${JSON.stringify(clip(text))} is not a dict`, context);
  }
  const keys = [...literal.entries.keys()].sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') {
    throw new ArrayFileError(
      `header ${JSON.stringify(clip(text))} must have exactly the keys 'descr', 'fortran_order', 'shape'; found ${keys.map((k) => `'${k}'`).join(', ')}`,
      context,
    );
  }
  const descr = literal.entries.get('descr');
  const fortran = literal.entries.get('fortran_order');
  const shapeEntry = literal.entries.get('shape');
  if (descr === undefined || fortran === undefined || shapeEntry === undefined) {
    throw new ArrayFileError(`header ${JSON.stringify(clip(text))} lacks a key`, context);
  }
  if (typeof descr.value !== 'string') {
    throw new ArrayFileError(`unsupported dtype ${clip(descr.text)} (structured dtypes are not supported)`, context);
  }
  const { dtype, littleEndian } = parseDescr(descr.value, context);
  if (typeof fortran.value !== 'boolean') {
    throw new ArrayFileError(`header 'fortran_order' must be True or False, found ${clip(fortran.text)}`, context);
  }
  const shapeValue = shapeEntry.value;
  if (!isTuple(shapeValue) || !shapeValue.items.every((d) => typeof d === 'number' && d >= 0)) {
    throw new ArrayFileError(`header 'shape' must be a tuple of non-negative integers, found ${clip(shapeEntry.text)}`, context);
  }
  const shape = shapeValue.items as number[];
  if (shape.length > MAX_NDIM) {
    throw new ArrayFileError(`header 'shape' has ${shape.length} dimensions; at most ${MAX_NDIM} are accepted`, context);
  }
  const itemSize = DTYPES[dtype].itemSize;
  let count: number;
  try {
    count = numel(shape);
  } catch {
    throw new ArrayFileError(`header 'shape' ${shapeText(shape)} has more than 2^53 elements`, context);
  }
  const dataBytes = count * itemSize;
  if (!Number.isSafeInteger(dataBytes)) {
    throw new ArrayFileError(`header 'shape' ${shapeText(shape)} needs more than 2^53 bytes`, context);
  }
  return {
    dtype,
    shape,
    fortranOrder: fortran.value,
    littleEndian,
    version: [major, 0],
    headerBytes,
    dataBytes,
  };
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

// ---------------------------------------------------------------------------
// Decoding.

/**
 * Decodes one `.npy` stream that arrives in pieces, without holding more than
 * the result: the header is parsed as soon as it is complete, checked against
 * the stream's total size, and the data is copied into an array of exactly the
 * right size. `totalBytes` is the size of the whole stream (e.g. the zip
 * member's uncompressed size); nothing is allocated before the header agrees
 * with it.
 */
export class NpyDecoder {
  private head: Uint8Array = new Uint8Array(0);
  private parsed: NpyHeader | undefined;
  private data: NdData | undefined;
  private filled = 0;

  constructor(
    private readonly totalBytes: number,
    private readonly context: ArrayFileContext = {},
  ) {}

  /** The header, once enough bytes have been pushed. */
  get header(): NpyHeader | undefined {
    return this.parsed;
  }

  /** Adds the next bytes of the stream. */
  push(chunk: Uint8Array): void {
    const used = this.parsed === undefined ? this.consumeHeader(chunk) : 0;
    const rest = chunk.subarray(used);
    if (rest.length === 0) {
      return;
    }
    const data = this.data;
    if (data === undefined || this.filled + rest.length > data.byteLength) {
      throw new ArrayFileError(`${holder(this.context)} holds more than the ${this.totalBytes} bytes it was declared to hold`, this.context);
    }
    byteRange(data, this.filled, rest.length).set(rest);
    this.filled += rest.length;
  }

  /** Finishes decoding: checks that all data arrived, converts to native byte order and C order. */
  finish(): NdArray {
    const header = this.parsed;
    if (header === undefined) {
      const needed = this.head.length >= MAGIC_LENGTH + 4 ? npyHeaderLength(this.head, this.context) : undefined;
      throw new ArrayFileError(
        `truncated: ${holder(this.context)} holds ${this.head.length} bytes but the .npy header needs ${needed ?? 'at least 10'}`,
        this.context,
      );
    }
    const data = this.data as NdData;
    if (this.filled !== header.dataBytes) {
      throw new ArrayFileError(
        `truncated: header says shape ${shapeText(header.shape)} (${header.dataBytes} bytes) but only ${this.filled} bytes of data arrived`,
        this.context,
      );
    }
    const itemSize = DTYPES[header.dtype].itemSize;
    if (itemSize > 1 && header.littleEndian !== HOST_LITTLE_ENDIAN) {
      const step = NPY_CHUNK_BYTES - (NPY_CHUNK_BYTES % itemSize);
      for (let at = 0; at < data.byteLength; at += step) {
        swapBytes(byteRange(data, at, Math.min(step, data.byteLength - at)), itemSize);
      }
    }
    if (header.dtype === 'bool') {
      const bytes = data as Uint8Array;
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] !== 0) {
          bytes[i] = 1;
        }
      }
    }
    const ordered = header.fortranOrder ? fortranToC(data, header.shape, itemSize) : data;
    return { dtype: header.dtype, shape: [...header.shape], data: ordered } as NdArray;
  }

  /** Moves header bytes from the front of `chunk` into `head`; returns how many it took. */
  private consumeHeader(chunk: Uint8Array): number {
    let used = 0;
    while (this.parsed === undefined && used < chunk.length) {
      const target = this.headerTarget();
      const take = Math.min(target.bytes - this.head.length, chunk.length - used);
      this.head = concat(this.head, chunk.subarray(used, used + take));
      used += take;
      if (target.complete && this.head.length === target.bytes) {
        this.startData(parseNpyHeader(this.head, this.context));
      }
    }
    return used;
  }

  /** How many header bytes are wanted next, and whether that is the whole header. */
  private headerTarget(): { bytes: number; complete: boolean } {
    const versionEnd = MAGIC_LENGTH + 2;
    if (this.head.length < versionEnd) {
      npyHeaderLength(this.head, this.context); // checks the magic bytes seen so far
      return { bytes: versionEnd, complete: false };
    }
    const total = npyHeaderLength(this.head, this.context);
    if (total === undefined) {
      return { bytes: this.head[6] === 1 ? versionEnd + 2 : versionEnd + 4, complete: false };
    }
    if (total > this.totalBytes) {
      throw new ArrayFileError(`truncated: the .npy header needs ${total} bytes but ${holder(this.context)} holds only ${this.totalBytes}`, this.context);
    }
    return { bytes: total, complete: true };
  }

  /** Checks the header against the stream size and allocates the result. */
  private startData(header: NpyHeader): void {
    checkNpyDataBytes(header, this.totalBytes, this.context);
    let data: NdData;
    try {
      data = DTYPES[header.dtype].allocate(header.dataBytes / DTYPES[header.dtype].itemSize);
    } catch (err) {
      throw new ArrayFileError(`cannot allocate ${header.dataBytes} bytes for shape ${shapeText(header.shape)}`, this.context, {
        cause: err,
      });
    }
    this.parsed = header;
    this.data = data;
  }
}

/**
 * Checks that a stream of `totalBytes` holds exactly the data `header` calls
 * for, naming both sizes if not.
 */
export function checkNpyDataBytes(header: NpyHeader, totalBytes: number, context: ArrayFileContext = {}): void {
  const available = totalBytes - header.headerBytes;
  if (available !== header.dataBytes) {
    throw new ArrayFileError(
      `header says shape ${shapeText(header.shape)} ${header.dtype} (${header.dataBytes} bytes) but ${holder(context)} holds ${available} bytes of data`,
      context,
    );
  }
}

/** What holds the .npy stream, for messages. */
function holder(context: ArrayFileContext): string {
  return context.member !== undefined || context.key !== undefined ? 'the member' : context.file !== undefined ? 'the file' : 'the input';
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.length === 0) {
    return a;
  }
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Decodes a complete `.npy` byte string. */
export function decodeNpy(bytes: Uint8Array, context: ArrayFileContext = {}): NdArray {
  const decoder = new NpyDecoder(bytes.length, context);
  decoder.push(bytes);
  return decoder.finish();
}

/** Reverses the bytes of every `itemSize`-byte item, in place. */
function swapBytes(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i + itemSize <= bytes.length; i += itemSize) {
    for (let a = i, b = i + itemSize - 1; a < b; a++, b--) {
      const t = bytes[a] as number;
      bytes[a] = bytes[b] as number;
      bytes[b] = t;
    }
  }
}

/** Copies Fortran-ordered (column-major) values of `shape` into a new C-ordered array. */
function fortranToC(data: NdData, shape: readonly number[], itemSize: number): NdData {
  const n = data.length;
  if (n <= 1 || shape.filter((d) => d > 1).length <= 1) {
    return data; // at most one axis longer than 1: both orders are the same
  }
  const out = data.slice(0);
  // Move whole items as 1, 2 or 4-byte words (8-byte items as two 4-byte words).
  const words = itemSize === 8 ? 2 : 1;
  const wordOf = (d: NdData): Uint8Array | Uint16Array | Uint32Array => {
    const size = itemSize === 8 ? 4 : itemSize;
    return size === 1
      ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
      : size === 2
        ? new Uint16Array(d.buffer, d.byteOffset, d.byteLength / 2)
        : new Uint32Array(d.buffer, d.byteOffset, d.byteLength / 4);
  };
  const src = wordOf(data);
  const dst = wordOf(out);
  const ndim = shape.length;
  const stride: number[] = []; // Fortran strides, in items
  let s = 1;
  for (let k = 0; k < ndim; k++) {
    stride.push(s);
    s *= shape[k] as number;
  }
  const index = new Array<number>(ndim).fill(0);
  let from = 0;
  for (let i = 0; i < n; i++) {
    for (let w = 0; w < words; w++) {
      dst[i * words + w] = src[from * words + w] as number;
    }
    // Advance the C-order index (last axis fastest) and the Fortran offset with it.
    for (let k = ndim - 1; k >= 0; k--) {
      const next = (index[k] as number) + 1;
      if (next < (shape[k] as number)) {
        index[k] = next;
        from += stride[k] as number;
        break;
      }
      from -= (next - 1) * (stride[k] as number);
      index[k] = 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Encoding.

/** The header numpy's `np.save` writes for an array of `dtype` and `shape` (C order). */
export function encodeNpyHeader(dtype: NdDtype, shape: readonly number[]): Uint8Array {
  const shapeRepr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let text = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeRepr}, }`;
  if (shape.length > 0) {
    text += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  }
  for (const major of [1, 2]) {
    const fieldBytes = major === 1 ? 2 : 4;
    const textBytes = text.length + 1; // + '\n'
    const pad = ARRAY_ALIGN - ((MAGIC_LENGTH + fieldBytes + 2 + textBytes) % ARRAY_ALIGN);
    const length = textBytes + pad;
    if (major === 1 && length > 0xffff) {
      continue;
    }
    const out = new Uint8Array(MAGIC_LENGTH + 2 + fieldBytes + length);
    out.set(MAGIC, 0);
    out[6] = major;
    out[7] = 0;
    const view = new DataView(out.buffer);
    if (major === 1) {
      view.setUint16(8, length, true);
    } else {
      view.setUint32(8, length, true);
    }
    const start = MAGIC_LENGTH + 2 + fieldBytes;
    out.set(Buffer.from(text, 'latin1'), start);
    out.fill(0x20, start + text.length, out.length - 1);
    out[out.length - 1] = 0x0a;
    return out;
  }
  throw new RangeError(`encodeNpyHeader: header for shape ${shapeText(shape)} is too long`);
}

/** Throws a TypeError naming `label` if `array` is not a well-formed NdArray. */
export function assertNdArray(array: NdArray, label: string): void {
  const problem = ndarrayProblem(array);
  if (problem !== undefined) {
    throw new TypeError(`${label}: ${problem}`);
  }
}

/** The size of `array` encoded as `.npy`. */
export function npyByteLength(array: NdArray): number {
  return encodeNpyHeader(array.dtype, array.shape).length + array.data.byteLength;
}

/**
 * The `.npy` encoding of `array` in pieces (the header, then the data in views
 * of at most NPY_CHUNK_BYTES; copies only where bytes must change: bool values
 * other than 0/1, or a big-endian host). Validates `array` first.
 */
export function* npyChunks(array: NdArray, label = 'array'): Generator<Uint8Array> {
  assertNdArray(array, label);
  yield encodeNpyHeader(array.dtype, array.shape);
  const itemSize = DTYPES[array.dtype].itemSize;
  const total = array.data.byteLength;
  const step = NPY_CHUNK_BYTES - (NPY_CHUNK_BYTES % itemSize);
  for (let at = 0; at < total; at += step) {
    let piece = byteRange(array.data, at, Math.min(step, total - at));
    if (array.dtype === 'bool' && piece.some((v) => v > 1)) {
      piece = piece.map((v) => (v !== 0 ? 1 : 0));
    } else if (itemSize > 1 && !HOST_LITTLE_ENDIAN) {
      piece = piece.slice();
      swapBytes(piece, itemSize);
    }
    yield piece;
  }
}

/** The complete `.npy` encoding of `array`. */
export function encodeNpy(array: NdArray): Uint8Array {
  const pieces = [...npyChunks(array)];
  return Buffer.concat(pieces);
}

/** Reads a `.npy` file (any size; read in pieces). */
export async function readNpy(path: string): Promise<NdArray> {
  const handle = await fs.open(path, 'r');
  try {
    const { size } = await handle.stat();
    const decoder = new NpyDecoder(size, { file: path });
    const buffer = Buffer.allocUnsafe(Math.min(size, NPY_CHUNK_BYTES));
    let position = 0;
    while (position < size) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, size - position), position);
      if (bytesRead === 0) {
        break;
      }
      decoder.push(buffer.subarray(0, bytesRead));
      position += bytesRead;
    }
    return decoder.finish();
  } finally {
    await handle.close();
  }
}

/** Writes `array` to `path` as `.npy`, atomically. */
export async function writeNpy(path: string, array: NdArray): Promise<void> {
  assertNdArray(array, path);
  await withAtomicFile(path, async (handle) => {
    for (const piece of npyChunks(array, path)) {
      await handle.write(piece);
    }
  });
}
