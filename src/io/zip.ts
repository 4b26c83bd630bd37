// Zip archives (PKWARE APPNOTE 6.3), as far as `.npz` files need them: members
// stored (method 0) or deflated (method 8), zip64 sizes and offsets, CRC-32.
//
// The reader never loads the whole archive: it reads the end-of-central-
// directory record (and its zip64 counterpart), then the central directory,
// then single members on demand with positional reads, so archives larger than
// Node's 2 GB readFile limit work. Every size and offset read from the archive
// is checked against the archive's size before anything is allocated.
//
// The writer streams members one at a time into a file handle: it writes each
// local header with placeholder sizes, streams the data (deflating it if
// asked), then rewrites the header in place with the CRC and sizes. zip64
// records are written where sizes or offsets need them.
import { promises as fs } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { withAtomicFile } from './atomic.js';
import { ArrayFileError, type ArrayFileContext } from './ndarray.js';
import { messageOf } from '../util/errors.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EXTRA_ID = 0x0001;

const LOCAL_HEADER_BYTES = 30;
const CENTRAL_HEADER_BYTES = 46;
const EOCD_BYTES = 22;
const ZIP64_EOCD_BYTES = 56;
const ZIP64_LOCATOR_BYTES = 20;
const MAX_COMMENT_BYTES = 0xffff;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

export const METHOD_STORED = 0;
export const METHOD_DEFLATED = 8;

const FLAG_ENCRYPTED = 0x0001;
const FLAG_UTF8 = 0x0800;

/** Deflate cannot expand data by more than about 1032:1; larger claims are corrupt. */
const MAX_DEFLATE_RATIO = 1032;
/** Refuse central directories larger than this (a real one for ~1000 arrays is ~100 KB). */
const MAX_CENTRAL_DIRECTORY_BYTES = 256 << 20;
/** Members are read and written in pieces of at most this size. */
const CHUNK_BYTES = 16 << 20;
/** Deflated members up to this size are inflated in one synchronous call; larger ones are streamed. */
const DEFAULT_INFLATE_SYNC_LIMIT = 16 << 20;

/** One member of the archive, as the central directory describes it. */
export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflated. */
  readonly method: number;
  readonly flags: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
  /** The raw name bytes (compared with the local header's). */
  readonly rawName: Uint8Array;
}

/** Random access to the bytes of an archive. */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes from `position` (the caller keeps within `size`). */
  read(position: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

class FileSource implements ByteSource {
  constructor(
    private readonly handle: fs.FileHandle,
    readonly size: number,
    private readonly label: string,
  ) {}

  async read(position: number, length: number): Promise<Uint8Array> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, position + done);
      if (bytesRead === 0) {
        throw new ArrayFileError(`file ended at byte ${position + done}, expected ${this.size} bytes (was it changed while being read?)`, {
          file: this.label,
        });
      }
      done += bytesRead;
    }
    return buffer;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

class BufferSource implements ByteSource {
  readonly size: number;

  constructor(private readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }

  read(position: number, length: number): Promise<Uint8Array> {
    return Promise.resolve(this.bytes.subarray(position, position + length));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export interface ZipReaderOptions {
  /** Deflated members up to this many bytes are inflated in one call; larger ones are streamed (default 16 MiB). */
  inflateSyncLimit?: number;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const CP437_HIGH = 'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

/** Decodes a member name: UTF-8 if the archive says so, else code page 437 (as Python's zipfile does). */
function decodeName(raw: Uint8Array, utf8: boolean, context: ArrayFileContext): string {
  if (utf8) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      throw new ArrayFileError('a member name flagged as UTF-8 is not valid UTF-8', context);
    }
  }
  let out = '';
  for (const b of raw) {
    out += b < 0x80 ? String.fromCharCode(b) : CP437_HIGH.charAt(b - 0x80);
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A 64-bit little-endian field as a number, or an error if it exceeds 2^53. */
function u64(data: DataView, offset: number, what: string, context: ArrayFileContext): number {
  const value = data.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ArrayFileError(`${what} is ${value}, more than any file can hold`, context);
  }
  return Number(value);
}

/** Reads a zip archive's directory, then its members on demand. */
export class ZipReader {
  private readonly byName = new Map<string, ZipEntry>();
  private readonly dataOffsets = new Map<ZipEntry, number>();
  private closed = false;

  private constructor(
    private readonly source: ByteSource,
    /** The file name used in error messages. */
    readonly label: string,
    readonly entries: readonly ZipEntry[],
    /** Where the central directory starts: every member's data lies before it. */
    private readonly dataEnd: number,
    private readonly inflateSyncLimit: number,
  ) {
    for (const entry of entries) {
      this.byName.set(entry.name, entry);
    }
  }

  /** Opens the archive at `path` and reads its central directory. */
  static async open(path: string, options: ZipReaderOptions = {}): Promise<ZipReader> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be opened: ${messageOf(err)}`;
      throw new Error(`${path} ${why}`);
    }
    try {
      const stat = await handle.stat();
      // a folder opens for reading on Linux, and fails only at the first read (EISDIR)
      if (stat.isDirectory()) throw new Error(`${path} is a folder, not a file: expected a zip archive (.npz)`);
      const { size } = stat;
      return await ZipReader.fromSource(new FileSource(handle, size, path), path, options);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  /** Reads an archive held in memory (`label` names it in errors). */
  static async fromBytes(bytes: Uint8Array, label: string, options: ZipReaderOptions = {}): Promise<ZipReader> {
    return ZipReader.fromSource(new BufferSource(bytes), label, options);
  }

  /** Reads an archive from any random-access source; the reader owns and closes it. */
  static async fromSource(source: ByteSource, label: string, options: ZipReaderOptions = {}): Promise<ZipReader> {
    const { entries, directoryStart } = await readDirectory(source, label);
    const reader = new ZipReader(source, label, entries, directoryStart, options.inflateSyncLimit ?? DEFAULT_INFLATE_SYNC_LIMIT);
    // Check every local header now (one small read each), so that a corrupt
    // directory is refused at open rather than listing members that are not there.
    for (const entry of entries) {
      await reader.dataOffset(entry);
    }
    return reader;
  }

  /** The member called `name`, if any. */
  entry(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /**
   * Up to `maxBytes` of the start of a member's uncompressed content, without
   * reading the rest (the CRC cannot be checked on a prefix).
   */
  async readPrefix(entry: ZipEntry, maxBytes: number): Promise<Uint8Array> {
    const context = this.contextFor(entry);
    const want = Math.min(maxBytes, entry.uncompressedSize);
    const start = await this.dataOffset(entry);
    if (entry.method === METHOD_STORED) {
      return this.source.read(start, want);
    }
    const pieces: Uint8Array[] = [];
    let have = 0;
    if (want === 0) {
      return new Uint8Array(0);
    }
    try {
      for await (const piece of inflateStream(this.compressedPieces(start, entry.compressedSize, 1 << 14))) {
        pieces.push(piece);
        have += piece.length;
        if (have >= want) {
          break;
        }
      }
    } catch (err) {
      throw zlibError(err, context);
    }
    return Buffer.concat(pieces).subarray(0, want);
  }

  /**
   * Streams a member's uncompressed content to `onChunk` in pieces (each piece
   * is valid only during the call), then checks its size and CRC-32.
   */
  async readChunks(entry: ZipEntry, onChunk: (chunk: Uint8Array) => void): Promise<void> {
    const context = this.contextFor(entry);
    const start = await this.dataOffset(entry);
    let crc = 0;
    let total = 0;
    const accept = (piece: Uint8Array): void => {
      total += piece.length;
      if (total > entry.uncompressedSize) {
        throw new ArrayFileError(`inflates to more than the ${entry.uncompressedSize} bytes the directory declares`, context);
      }
      crc = zlib.crc32(piece, crc);
      onChunk(piece);
    };
    if (entry.method === METHOD_STORED) {
      for await (const piece of this.compressedPieces(start, entry.compressedSize, CHUNK_BYTES)) {
        accept(piece);
      }
    } else if (entry.uncompressedSize <= this.inflateSyncLimit) {
      const compressed = await this.source.read(start, entry.compressedSize);
      let inflated: Buffer;
      try {
        inflated = zlib.inflateRawSync(compressed, { maxOutputLength: Math.max(1, entry.uncompressedSize + 1) });
      } catch (err) {
        throw zlibError(err, context);
      }
      accept(inflated);
    } else {
      const stream = inflateStream(this.compressedPieces(start, entry.compressedSize, CHUNK_BYTES));
      try {
        for await (const piece of stream) {
          accept(piece);
        }
      } catch (err) {
        throw zlibError(err, context);
      }
    }
    if (total !== entry.uncompressedSize) {
      throw new ArrayFileError(`holds ${total} bytes but the directory declares ${entry.uncompressedSize}`, context);
    }
    if (crc >>> 0 !== entry.crc32) {
      throw new ArrayFileError(
        `CRC-32 mismatch: the directory says ${hex32(entry.crc32)}, the content gives ${hex32(crc >>> 0)} (the file is corrupt)`,
        context,
      );
    }
  }

  /** A member's whole uncompressed content, CRC-checked. */
  async read(entry: ZipEntry): Promise<Uint8Array> {
    const out = new Uint8Array(entry.uncompressedSize);
    let at = 0;
    await this.readChunks(entry, (piece) => {
      out.set(piece, at);
      at += piece.length;
    });
    return out;
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.source.close();
    }
  }

  private contextFor(entry: ZipEntry): ArrayFileContext {
    return { file: this.label, member: entry.name };
  }

  /** The offset of a member's data, from its local header (checked against the central directory). */
  private async dataOffset(entry: ZipEntry): Promise<number> {
    // Every read of a member's bytes comes through here, so this is the one closed check.
    if (this.closed) {
      throw new Error(`${this.label}: the archive is closed`);
    }
    const known = this.dataOffsets.get(entry);
    if (known !== undefined) {
      return known;
    }
    const context = this.contextFor(entry);
    const at = entry.localHeaderOffset;
    if (at + LOCAL_HEADER_BYTES > this.dataEnd) {
      throw new ArrayFileError(`local header at byte ${at} would overlap the central directory at byte ${this.dataEnd}`, context);
    }
    const length = Math.min(LOCAL_HEADER_BYTES + entry.rawName.length, this.dataEnd - at);
    const local = await this.source.read(at, length);
    const header = view(local);
    if (header.getUint32(0, true) !== SIG_LOCAL) {
      throw new ArrayFileError(
        `expected a local file header (signature ${hex32(SIG_LOCAL)}) at byte ${at}, found ${hex32(header.getUint32(0, true))}`,
        context,
      );
    }
    const nameBytes = header.getUint16(26, true);
    const extraBytes = header.getUint16(28, true);
    const localName = local.subarray(LOCAL_HEADER_BYTES, LOCAL_HEADER_BYTES + nameBytes);
    if (nameBytes !== entry.rawName.length || !sameBytes(localName, entry.rawName)) {
      throw new ArrayFileError(`the local header at byte ${at} does not name this member (the file is corrupt)`, context);
    }
    const start = at + LOCAL_HEADER_BYTES + nameBytes + extraBytes;
    if (start + entry.compressedSize > this.dataEnd) {
      throw new ArrayFileError(
        `data (${entry.compressedSize} bytes from byte ${start}) runs past the start of the central directory at byte ${this.dataEnd}`,
        context,
      );
    }
    this.dataOffsets.set(entry, start);
    return start;
  }

  /** The bytes [start, start + length) in pieces of at most `pieceBytes`. */
  private async *compressedPieces(start: number, length: number, pieceBytes: number): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < length; at += pieceBytes) {
      yield await this.source.read(start + at, Math.min(pieceBytes, length - at));
    }
  }
}

function hex32(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

/** Wraps an error from zlib (corrupt deflate data, output over the limit) in ArrayFileError. */
function zlibError(err: unknown, context: ArrayFileContext): Error {
  if (err instanceof ArrayFileError) {
    return err;
  }
  const code = (err as { code?: unknown }).code;
  const detail = code === 'ERR_BUFFER_TOO_LARGE' ? 'inflates to more bytes than the directory declares' : `deflate data is corrupt (${(err as Error).message})`;
  return new ArrayFileError(detail, context, { cause: err });
}

/** Inflates raw deflate data that arrives in pieces. Ending the iteration early stops the work. */
function inflateStream(compressed: AsyncIterable<Uint8Array>): AsyncIterable<Buffer> {
  // pipeline() destroys every stream if one fails; the error then surfaces in
  // the iteration below, so the callback only has to swallow it.
  return pipeline(Readable.from(compressed, { objectMode: false }), zlib.createInflateRaw(), () => undefined);
}

/** Finds the end-of-central-directory record(s) and parses the central directory. */
async function readDirectory(source: ByteSource, label: string): Promise<{ entries: ZipEntry[]; directoryStart: number }> {
  const context: ArrayFileContext = { file: label };
  const size = source.size;
  if (size < EOCD_BYTES) {
    throw new ArrayFileError(`not a zip archive: ${size} bytes is shorter than the 22-byte end-of-central-directory record`, context);
  }
  const tailLength = Math.min(size, EOCD_BYTES + MAX_COMMENT_BYTES);
  const tailStart = size - tailLength;
  const tail = await source.read(tailStart, tailLength);
  const tailView = view(tail);
  let eocd = -1;
  for (let i = tail.length - EOCD_BYTES; i >= 0; i--) {
    if (tailView.getUint32(i, true) === SIG_EOCD) {
      const commentBytes = tailView.getUint16(i + 20, true);
      if (i + EOCD_BYTES + commentBytes === tail.length) {
        eocd = i;
        break;
      }
      if (eocd < 0 && i + EOCD_BYTES + commentBytes <= tail.length) {
        eocd = i; // keep looking for one whose comment ends exactly at the end of the file
      }
    }
  }
  if (eocd < 0) {
    throw new ArrayFileError('not a zip archive (or truncated): no end-of-central-directory record in the last ' + `${tailLength} bytes`, context);
  }
  const eocdOffset = tailStart + eocd;
  const diskNumber = tailView.getUint16(eocd + 4, true);
  const directoryDisk = tailView.getUint16(eocd + 6, true);
  let entryCount = tailView.getUint16(eocd + 10, true);
  let directoryBytes = tailView.getUint32(eocd + 12, true);
  let directoryStart = tailView.getUint32(eocd + 16, true);
  let directoryEnd = eocdOffset; // the directory must end before its end records

  // zip64: a locator just before the end record points at the zip64 end record.
  const locatorOffset = eocdOffset - ZIP64_LOCATOR_BYTES;
  let zip64 = false;
  if (locatorOffset >= 0) {
    const locator = view(await source.read(locatorOffset, ZIP64_LOCATOR_BYTES));
    if (locator.getUint32(0, true) === SIG_ZIP64_LOCATOR) {
      zip64 = true;
      const recordOffset = u64(locator, 8, 'the zip64 end record offset', context);
      if (recordOffset + ZIP64_EOCD_BYTES > locatorOffset) {
        throw new ArrayFileError(
          `the zip64 locator points at byte ${recordOffset}, but a 56-byte zip64 end record cannot start there (the locator is at byte ${locatorOffset})`,
          context,
        );
      }
      const record = view(await source.read(recordOffset, ZIP64_EOCD_BYTES));
      if (record.getUint32(0, true) !== SIG_ZIP64_EOCD) {
        throw new ArrayFileError(
          `expected the zip64 end record (signature ${hex32(SIG_ZIP64_EOCD)}) at byte ${recordOffset}, found ${hex32(record.getUint32(0, true))}`,
          context,
        );
      }
      if (record.getUint32(16, true) !== 0 || record.getUint32(20, true) !== 0 || locator.getUint32(16, true) > 1) {
        throw new ArrayFileError('multi-disk (split) zip archives are not supported', context);
      }
      entryCount = u64(record, 32, 'the zip64 entry count', context);
      directoryBytes = u64(record, 40, 'the zip64 central directory size', context);
      directoryStart = u64(record, 48, 'the zip64 central directory offset', context);
      directoryEnd = recordOffset;
    }
  }
  if (!zip64 && (diskNumber !== 0 || directoryDisk !== 0)) {
    throw new ArrayFileError(`multi-disk (split) zip archives are not supported (disk ${diskNumber}, directory on disk ${directoryDisk})`, context);
  }
  if (directoryStart + directoryBytes > directoryEnd) {
    throw new ArrayFileError(
      `the central directory (${directoryBytes} bytes at byte ${directoryStart}) runs past its end record at byte ${directoryEnd}; the file is truncated or corrupt`,
      context,
    );
  }
  if (directoryBytes > MAX_CENTRAL_DIRECTORY_BYTES) {
    throw new ArrayFileError(`the central directory claims ${directoryBytes} bytes; at most ${MAX_CENTRAL_DIRECTORY_BYTES} are accepted`, context);
  }
  if (entryCount * CENTRAL_HEADER_BYTES > directoryBytes) {
    throw new ArrayFileError(`the end record claims ${entryCount} members, which cannot fit in a ${directoryBytes}-byte central directory`, context);
  }
  const directory = await source.read(directoryStart, directoryBytes);
  const entries = parseDirectory(directory, entryCount, directoryStart, context);
  return { entries, directoryStart };
}

function parseDirectory(directory: Uint8Array, entryCount: number, directoryStart: number, context: ArrayFileContext): ZipEntry[] {
  const data = view(directory);
  const entries: ZipEntry[] = [];
  const names = new Set<string>();
  let at = 0;
  for (let index = 0; index < entryCount; index++) {
    const where = `central directory entry ${index} (byte ${directoryStart + at})`;
    if (at + CENTRAL_HEADER_BYTES > directory.length) {
      throw new ArrayFileError(`${where} runs past the end of the central directory`, context);
    }
    if (data.getUint32(at, true) !== SIG_CENTRAL) {
      throw new ArrayFileError(`${where}: expected signature ${hex32(SIG_CENTRAL)}, found ${hex32(data.getUint32(at, true))}`, context);
    }
    const flags = data.getUint16(at + 8, true);
    const method = data.getUint16(at + 10, true);
    const crc32 = data.getUint32(at + 16, true);
    let compressedSize = data.getUint32(at + 20, true);
    let uncompressedSize = data.getUint32(at + 24, true);
    const nameBytes = data.getUint16(at + 28, true);
    const extraBytes = data.getUint16(at + 30, true);
    const commentBytes = data.getUint16(at + 32, true);
    let localHeaderOffset = data.getUint32(at + 42, true);
    const next = at + CENTRAL_HEADER_BYTES + nameBytes + extraBytes + commentBytes;
    if (next > directory.length) {
      throw new ArrayFileError(`${where} runs past the end of the central directory`, context);
    }
    const rawName = directory.subarray(at + CENTRAL_HEADER_BYTES, at + CENTRAL_HEADER_BYTES + nameBytes);
    const name = decodeName(rawName, (flags & FLAG_UTF8) !== 0, context);
    const memberContext: ArrayFileContext = { ...context, member: name };

    // The zip64 extra field holds, in this order, each field whose 32-bit value is 0xffffffff.
    let extraAt = at + CENTRAL_HEADER_BYTES + nameBytes;
    const extraEnd = extraAt + extraBytes;
    while (extraAt < extraEnd) {
      if (extraAt + 4 > extraEnd) {
        throw new ArrayFileError('corrupt extra field in the central directory', memberContext);
      }
      const id = data.getUint16(extraAt, true);
      const length = data.getUint16(extraAt + 2, true);
      const body = extraAt + 4;
      if (body + length > extraEnd) {
        throw new ArrayFileError(`extra field ${hex32(id)} claims ${length} bytes, more than the extra area holds`, memberContext);
      }
      if (id === ZIP64_EXTRA_ID) {
        let field = body;
        const take = (what: string): number => {
          if (field + 8 > body + length) {
            throw new ArrayFileError(`the zip64 extra field is too short to hold the ${what}`, memberContext);
          }
          const value = u64(data, field, `the zip64 ${what}`, memberContext);
          field += 8;
          return value;
        };
        if (uncompressedSize === U32_MAX) {
          uncompressedSize = take('uncompressed size');
        }
        if (compressedSize === U32_MAX) {
          compressedSize = take('compressed size');
        }
        if (localHeaderOffset === U32_MAX) {
          localHeaderOffset = take('local header offset');
        }
      }
      extraAt = body + length;
    }

    if ((flags & FLAG_ENCRYPTED) !== 0) {
      throw new ArrayFileError('the member is encrypted; encrypted archives are not supported', memberContext);
    }
    if (method !== METHOD_STORED && method !== METHOD_DEFLATED) {
      throw new ArrayFileError(`compression method ${method} is not supported (expected 0 stored or 8 deflated)`, memberContext);
    }
    if (method === METHOD_STORED && compressedSize !== uncompressedSize) {
      throw new ArrayFileError(
        `a stored member must have equal sizes, but the directory says ${compressedSize} compressed and ${uncompressedSize} uncompressed`,
        memberContext,
      );
    }
    if (method === METHOD_DEFLATED && uncompressedSize > compressedSize * MAX_DEFLATE_RATIO + 64) {
      throw new ArrayFileError(
        `the directory claims ${uncompressedSize} bytes from ${compressedSize} deflated bytes, more than deflate can expand`,
        memberContext,
      );
    }
    if (localHeaderOffset + LOCAL_HEADER_BYTES + compressedSize > directoryStart) {
      throw new ArrayFileError(
        `the member (${compressedSize} bytes at byte ${localHeaderOffset}) runs past the central directory at byte ${directoryStart}`,
        memberContext,
      );
    }
    if (names.has(name)) {
      throw new ArrayFileError('the archive holds two members of this name', memberContext);
    }
    names.add(name);
    entries.push({ name, method, flags, crc32, compressedSize, uncompressedSize, localHeaderOffset, rawName });
    at = next;
  }
  if (at !== directory.length) {
    throw new ArrayFileError(`the central directory is ${directory.length} bytes but its ${entryCount} entries take ${at}`, context);
  }
  return entries;
}

// ---------------------------------------------------------------------------
// Writing.

export interface ZipWriterOptions {
  /** zlib level for deflated members (default 6, numpy's). */
  level?: number;
  /** Write zip64 records everywhere, even when nothing needs them (for tests of the zip64 paths). */
  forceZip64?: boolean;
}

export interface ZipMemberOptions {
  /** Deflate the member (default: store it). */
  compress?: boolean;
}

interface WrittenMember {
  rawName: Uint8Array;
  flags: number;
  method: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

/** DOS date 1980-01-01, time 00:00: fixed, so equal content gives equal files. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const DOS_TIME = 0;
const VERSION_DEFAULT = 20;
const VERSION_ZIP64 = 45;
const MADE_BY_UNIX = 3 << 8;
const EXTERNAL_ATTRIBUTES = (0o600 << 16) >>> 0; // -rw-------, as numpy's savez

/** An upper bound on deflate's output for `n` input bytes (zlib's deflateBound plus slack). */
function deflateBound(n: number): number {
  return n + Math.floor(n / 4096) + Math.floor(n / 16384) + Math.floor(n / 33554432) + 64;
}

/** Writes a zip archive, one member at a time, into a file handle. */
export class ZipWriter {
  private readonly members: WrittenMember[] = [];
  private readonly names = new Set<string>();
  private offset = 0;
  private finished = false;

  constructor(
    private readonly handle: fs.FileHandle,
    private readonly label: string,
    private readonly options: ZipWriterOptions = {},
  ) {}

  /**
   * Adds a member called `name` whose content, `size` bytes, comes from
   * `pieces`. The content is streamed to the file as it arrives.
   */
  async add(name: string, size: number, pieces: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options: ZipMemberOptions = {}): Promise<void> {
    if (this.finished) {
      throw new Error(`${this.label}: the zip writer is finished`);
    }
    const rawName = Buffer.from(name, 'utf8');
    if (name.length === 0 || rawName.length > U16_MAX) {
      throw new RangeError(`${this.label}: member name must be 1 to 65535 bytes, got ${rawName.length}`);
    }
    if (this.names.has(name)) {
      throw new Error(`${this.label}: member '${name}' is written twice`);
    }
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`${this.label}: member '${name}': size ${size} is not a non-negative integer`);
    }
    this.names.add(name);
    const method = options.compress === true ? METHOD_DEFLATED : METHOD_STORED;
    const flags = /^[\x20-\x7e]*$/.test(name) ? 0 : FLAG_UTF8;
    const localHeaderOffset = this.offset;
    const maxCompressed = method === METHOD_DEFLATED ? deflateBound(size) : size;
    const zip64 = this.options.forceZip64 === true || maxCompressed >= U32_MAX;
    const member: WrittenMember = {
      rawName,
      flags,
      method,
      crc32: 0,
      compressedSize: 0,
      uncompressedSize: size,
      localHeaderOffset,
    };
    const header = localHeader(member, zip64);
    await this.writeAt(header, localHeaderOffset);
    const dataStart = localHeaderOffset + header.length;
    let position = dataStart;
    let crc = 0;
    let total = 0;
    const counted = async function* (): AsyncGenerator<Uint8Array> {
      for await (const piece of pieces) {
        crc = zlib.crc32(piece, crc);
        total += piece.length;
        yield piece;
      }
    };
    if (method === METHOD_STORED) {
      for await (const piece of counted()) {
        await this.writeAt(piece, position);
        position += piece.length;
      }
    } else {
      const deflated = pipeline(Readable.from(counted(), { objectMode: false }), zlib.createDeflateRaw({ level: this.options.level ?? 6 }), () => undefined);
      for await (const piece of deflated as AsyncIterable<Buffer>) {
        await this.writeAt(piece, position);
        position += piece.length;
      }
    }
    if (total !== size) {
      throw new Error(`${this.label}: member '${name}' was declared as ${size} bytes but ${total} arrived`);
    }
    member.crc32 = crc >>> 0;
    member.compressedSize = position - dataStart;
    if (!zip64 && member.compressedSize >= U32_MAX) {
      throw new Error(`${this.label}: member '${name}' compressed to ${member.compressedSize} bytes, past the 32-bit limit`);
    }
    await this.writeAt(localHeader(member, zip64), localHeaderOffset);
    this.members.push(member);
    this.offset = position;
  }

  /** Writes the central directory and end records. */
  async finish(): Promise<void> {
    if (this.finished) {
      return;
    }
    this.finished = true;
    const force = this.options.forceZip64 === true;
    const directoryStart = this.offset;
    const records = this.members.map((member) => centralHeader(member, force));
    const directory = Buffer.concat(records);
    await this.writeAt(directory, directoryStart);
    const directoryBytes = directory.length;
    let position = directoryStart + directoryBytes;
    const count = this.members.length;
    const needZip64 = force || count >= U16_MAX || directoryBytes >= U32_MAX || directoryStart >= U32_MAX;
    if (needZip64) {
      const record = Buffer.alloc(ZIP64_EOCD_BYTES + ZIP64_LOCATOR_BYTES);
      record.writeUInt32LE(SIG_ZIP64_EOCD, 0);
      record.writeBigUInt64LE(BigInt(ZIP64_EOCD_BYTES - 12), 4);
      record.writeUInt16LE(MADE_BY_UNIX | VERSION_ZIP64, 12);
      record.writeUInt16LE(VERSION_ZIP64, 14);
      record.writeUInt32LE(0, 16);
      record.writeUInt32LE(0, 20);
      record.writeBigUInt64LE(BigInt(count), 24);
      record.writeBigUInt64LE(BigInt(count), 32);
      record.writeBigUInt64LE(BigInt(directoryBytes), 40);
      record.writeBigUInt64LE(BigInt(directoryStart), 48);
      const locator = ZIP64_EOCD_BYTES;
      record.writeUInt32LE(SIG_ZIP64_LOCATOR, locator);
      record.writeUInt32LE(0, locator + 4);
      record.writeBigUInt64LE(BigInt(position), locator + 8);
      record.writeUInt32LE(1, locator + 16);
      await this.writeAt(record, position);
      position += record.length;
    }
    const end = Buffer.alloc(EOCD_BYTES);
    end.writeUInt32LE(SIG_EOCD, 0);
    end.writeUInt16LE(force ? U16_MAX : Math.min(count, U16_MAX), 8);
    end.writeUInt16LE(force ? U16_MAX : Math.min(count, U16_MAX), 10);
    end.writeUInt32LE(force ? U32_MAX : Math.min(directoryBytes, U32_MAX), 12);
    end.writeUInt32LE(force ? U32_MAX : Math.min(directoryStart, U32_MAX), 16);
    await this.writeAt(end, position);
    this.offset = position + end.length;
  }

  private async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, position + done);
      done += bytesWritten;
    }
  }
}

/**
 * The fields local and central headers share, in the same order (version
 * needed to extract ... extra field length), written at `at`: byte 4 of a
 * local header, byte 6 of a central one.
 */
function writeSharedFields(out: Buffer, at: number, member: WrittenMember, zip64: boolean, compressed: number, uncompressed: number, extraBytes: number): void {
  out.writeUInt16LE(zip64 ? VERSION_ZIP64 : VERSION_DEFAULT, at);
  out.writeUInt16LE(member.flags, at + 2);
  out.writeUInt16LE(member.method, at + 4);
  out.writeUInt16LE(DOS_TIME, at + 6);
  out.writeUInt16LE(DOS_DATE, at + 8);
  out.writeUInt32LE(member.crc32, at + 10);
  out.writeUInt32LE(compressed, at + 14);
  out.writeUInt32LE(uncompressed, at + 18);
  out.writeUInt16LE(member.rawName.length, at + 22);
  out.writeUInt16LE(extraBytes, at + 24);
}

/** The bytes of a zip64 extended-information extra field holding `values`, 8 bytes each. */
function zip64ExtraBytes(values: readonly number[]): number {
  return values.length > 0 ? 4 + 8 * values.length : 0;
}

/** Writes a zip64 extended-information extra field holding `values` at `at`. */
function writeZip64Extra(out: Buffer, at: number, values: readonly number[]): void {
  out.writeUInt16LE(ZIP64_EXTRA_ID, at);
  out.writeUInt16LE(8 * values.length, at + 2);
  values.forEach((v, k) => out.writeBigUInt64LE(BigInt(v), at + 4 + 8 * k));
}

function localHeader(member: WrittenMember, zip64: boolean): Buffer {
  // a zip64 local header always carries both sizes
  const big = zip64 ? [member.uncompressedSize, member.compressedSize] : [];
  const extra = zip64ExtraBytes(big);
  const out = Buffer.alloc(LOCAL_HEADER_BYTES + member.rawName.length + extra);
  out.writeUInt32LE(SIG_LOCAL, 0);
  writeSharedFields(out, 4, member, zip64, zip64 ? U32_MAX : member.compressedSize, zip64 ? U32_MAX : member.uncompressedSize, extra);
  out.set(member.rawName, LOCAL_HEADER_BYTES);
  if (zip64) writeZip64Extra(out, LOCAL_HEADER_BYTES + member.rawName.length, big);
  return out;
}

function centralHeader(member: WrittenMember, force: boolean): Buffer {
  const bigUncompressed = force || member.uncompressedSize >= U32_MAX;
  const bigCompressed = force || member.compressedSize >= U32_MAX;
  const bigOffset = force || member.localHeaderOffset >= U32_MAX;
  // only the values that do not fit, in the order the format fixes
  const big = [
    ...(bigUncompressed ? [member.uncompressedSize] : []),
    ...(bigCompressed ? [member.compressedSize] : []),
    ...(bigOffset ? [member.localHeaderOffset] : []),
  ];
  const zip64 = big.length > 0;
  const extra = zip64ExtraBytes(big);
  const out = Buffer.alloc(CENTRAL_HEADER_BYTES + member.rawName.length + extra);
  out.writeUInt32LE(SIG_CENTRAL, 0);
  out.writeUInt16LE(MADE_BY_UNIX | (zip64 ? VERSION_ZIP64 : VERSION_DEFAULT), 4);
  writeSharedFields(out, 6, member, zip64, bigCompressed ? U32_MAX : member.compressedSize, bigUncompressed ? U32_MAX : member.uncompressedSize, extra);
  out.writeUInt16LE(0, 32); // comment
  out.writeUInt16LE(0, 34); // disk
  out.writeUInt16LE(0, 36); // internal attributes
  out.writeUInt32LE(EXTERNAL_ATTRIBUTES, 38);
  out.writeUInt32LE(bigOffset ? U32_MAX : member.localHeaderOffset, 42);
  out.set(member.rawName, CENTRAL_HEADER_BYTES);
  if (zip64) writeZip64Extra(out, CENTRAL_HEADER_BYTES + member.rawName.length, big);
  return out;
}

/**
 * Writes a zip archive to `path` atomically: `fill` adds members to the
 * writer, then the directory is written, the file flushed and renamed over
 * `path`. If `fill` throws, `path` is left as it was and no temporary file stays.
 */
export async function writeZip(path: string, fill: (writer: ZipWriter) => Promise<void>, options: ZipWriterOptions = {}): Promise<void> {
  await withAtomicFile(path, async (handle) => {
    const writer = new ZipWriter(handle, path, options);
    await fill(writer);
    await writer.finish();
  });
}
