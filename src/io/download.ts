// Resumable HTTP(S) downloads into a partial file: what is already there is
// kept and the rest asked for with an HTTP Range request, so an interrupted
// download (a dropped connection, Ctrl-C, a crash) continues where it stopped,
// in the same call (a few retries) or in a later one. The caller decides what
// the finished file becomes (checksums, the atomic rename): see
// src/models/hub.ts. Nothing here runs unless a command asks for a file.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { messageOf } from '../util/errors.js';
import { Progress } from '../util/progress.js';

/** Why a download failed: the server could not be reached, it answered with an error, or the transfer kept breaking off. */
export type DownloadFailure = 'unreachable' | 'http' | 'interrupted';

export class DownloadError extends Error {
  override name = 'DownloadError';
  constructor(
    message: string,
    readonly failure: DownloadFailure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface DownloadOptions {
  /** Names the transfer on the progress line. */
  label: string;
  /** No progress line. */
  quiet?: boolean;
  /** Attempts in a row that bring no new bytes before giving up (default 4). */
  attempts?: number;
  /** Seconds without a byte before a stalled connection is dropped and retried (default 60). */
  idleTimeoutS?: number;
  /** Size the file is expected to have, for the progress line when the server does not say (bytes). */
  expectedBytes?: number;
}

export interface DownloadResult {
  /** Size of the complete file. */
  bytes: number;
  /** The MD5 the server publishes for the object (Google Cloud Storage's `x-goog-hash: md5=...`), hex; null when it publishes none. */
  publishedMd5: string | null;
}

/** The MD5 of an `x-goog-hash` header (`crc32c=...,md5=<base64>`), hex, or null. */
export function publishedMd5Of(header: string | null): string | null {
  const m = /(?:^|,)\s*md5=([A-Za-z0-9+/]+={0,2})/.exec(header ?? '');
  return m ? Buffer.from(m[1], 'base64').toString('hex') : null;
}

/** SHA-256 and MD5 of a file, hex, in one streaming pass. */
export async function hashFile(file: string): Promise<{ sha256: string; md5: string }> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 22 })) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
  }
  return { sha256: sha.digest('hex'), md5: md5.digest('hex') };
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

/** The network-level reason of a failed fetch (ECONNREFUSED, ENOTFOUND, ...). */
function reasonOf(err: unknown): string {
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? messageOf(err);
}

/** What one HTTP exchange brought. */
interface Attempt {
  total: number | null;
  publishedMd5: string | null;
}

/** Total size from `Content-Range: bytes a-b/total`. */
function rangeTotal(header: string | null): number | null {
  const m = /\/(\d+)\s*$/.exec(header ?? '');
  return m ? Number(m[1]) : null;
}

async function attempt(url: string, part: string, opts: DownloadOptions, progress: { current: Progress | null; answered: boolean }): Promise<Attempt> {
  const offset = await sizeOf(part);
  const ctl = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => ctl.abort(new Error(`no data for ${opts.idleTimeoutS ?? 60} s`)), (opts.idleTimeoutS ?? 60) * 1000);
  };
  arm();
  let res: Response;
  try {
    res = await fetch(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, signal: ctl.signal, redirect: 'follow' });
  } catch (err) {
    clearTimeout(idle);
    throw new DownloadError(`cannot reach ${url} (${reasonOf(err)})`, 'unreachable', { cause: err });
  }
  progress.answered = true;
  try {
    const publishedMd5 = publishedMd5Of(res.headers.get('x-goog-hash'));
    if (res.status === 416 && offset > 0) {
      // the partial file is as long as the object (or longer: then it is not this object's start)
      const total = rangeTotal(res.headers.get('content-range'));
      if (total === offset) return { total, publishedMd5 };
      await fs.truncate(part, 0);
      return { total: null, publishedMd5 };
    }
    if (res.status !== 200 && res.status !== 206) {
      throw new DownloadError(`${url}: the server answered HTTP ${res.status} ${res.statusText}`.trimEnd(), 'http');
    }
    let start = offset;
    let total: number | null;
    if (res.status === 206) {
      const m = /bytes\s+(\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== offset)
        throw new DownloadError(`${url}: asked for bytes from ${offset}, the server sent ${res.headers.get('content-range')}`, 'http');
      total = rangeTotal(res.headers.get('content-range'));
    } else {
      // 200: the whole object (a server that ignores Range starts over)
      start = 0;
      const len = res.headers.get('content-length');
      total = len !== null ? Number(len) : null;
    }
    const expected = total ?? opts.expectedBytes ?? null;
    if (!opts.quiet && expected !== null && progress.current === null) {
      progress.current = new Progress(Math.max(1, Math.ceil(expected / 1e6)), { label: opts.label, unit: 'MB', start: Math.floor(start / 1e6) });
    }
    const out = await fs.open(part, start === 0 ? 'w' : 'a');
    let done = start;
    try {
      if (res.body) {
        for await (const chunk of Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>)) {
          arm();
          const bytes = chunk as Buffer;
          await out.write(bytes);
          done += bytes.length;
          progress.current?.update(Math.floor(done / 1e6), bytes.length / 1e6);
        }
      }
    } finally {
      await out.close();
    }
    return { total: total ?? done, publishedMd5 };
  } finally {
    clearTimeout(idle);
  }
}

/**
 * Downloads `url` into `part`, continuing from the bytes `part` already holds.
 * A connection that breaks off is resumed with a Range request; after
 * `attempts` tries in a row without new bytes it gives up (the partial file
 * stays, so a later call resumes). Throws a DownloadError: 'unreachable'
 * (no connection), 'http' (an error status), 'interrupted'.
 */
export async function downloadResumable(url: string, part: string, opts: DownloadOptions): Promise<DownloadResult> {
  const attempts = opts.attempts ?? 4;
  const progress: { current: Progress | null; answered: boolean } = { current: null, answered: false };
  let failures = 0;
  let last: unknown = null;
  try {
    for (;;) {
      const before = await sizeOf(part);
      try {
        const r = await attempt(url, part, opts, progress);
        const size = await sizeOf(part);
        if (r.total !== null && size === r.total) return { bytes: size, publishedMd5: r.publishedMd5 };
        last = new Error(`the connection closed after ${size} of ${r.total ?? '?'} bytes`);
      } catch (err) {
        // an error status, or no answer at all to the first request, is the answer; a transfer that breaks off is resumed
        if (err instanceof DownloadError && (err.failure === 'http' || (err.failure === 'unreachable' && !progress.answered))) throw err;
        last = err;
      }
      failures = (await sizeOf(part)) > before ? 0 : failures + 1;
      if (failures >= attempts) {
        throw new DownloadError(
          `${url}: the download kept breaking off (${messageOf(last)}); the ${await sizeOf(part)} bytes received are kept in ${part}: run again to resume`,
          'interrupted',
          { cause: last },
        );
      }
      const note = `${opts.label}: ${messageOf(last)}; resuming from byte ${await sizeOf(part)}`;
      if (progress.current) progress.current.log(note);
      else if (!opts.quiet) process.stderr.write(note + '\n');
    }
  } finally {
    progress.current?.done();
  }
}
