// Official weights by name: the cache, resumable downloads, checksums and
// errors, against HTTP servers on 127.0.0.1 that behave well, drop the
// connection half-way, serve a damaged file or answer 404. Nothing is
// downloaded from anywhere else.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, beforeEach, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import {
  buildModel,
  cachedWeightsPath,
  checksumPath,
  fetchOfficialWeights,
  findOfficialWeights,
  loadWeights,
  officialWeights,
  readMeta,
  resolveWeights,
  saveWeights,
  sizeByConstruction,
} from '../../src/models/index.js';
import { assertClose, cliPath, fixture, removeDir, tempDir } from '../helpers.js';
import { formulaInput, writeFormulaWeights } from './golden-formula.js';

const root = tempDir('hub');
after(() => removeDir(root));
const quiet = { quiet: true, idleTimeoutS: 5 };

type Mode = 'normal' | 'drop' | 'corrupt' | 'garbage' | 'missing';
interface Server {
  url: string;
  /** The Range header of every request (null: none). */
  ranges: (string | null)[];
  close(): Promise<void>;
}

/**
 * Serves `files` (path -> bytes) like a static file server with HTTP Range
 * support, publishing each file's MD5 as Google Cloud Storage does
 * (`x-goog-hash`). 'drop' closes the first connection after half the bytes;
 * 'corrupt' sends one byte changed (the published MD5 is the good file's);
 * 'garbage' sends bytes that are not an .npz and publishes no hash;
 * 'missing' answers 404.
 */
async function serve(files: Map<string, Buffer>, mode: Mode): Promise<Server> {
  const ranges: (string | null)[] = [];
  const server = http.createServer((req, res) => {
    ranges.push(req.headers.range ?? null);
    const good = files.get(decodeURIComponent((req.url ?? '').replace(/^\//, '')));
    if (!good || mode === 'missing') {
      res.writeHead(404, 'Not Found').end('not found');
      return;
    }
    let body = good;
    if (mode === 'corrupt') {
      body = Buffer.from(good);
      body[body.length >> 1] ^= 0xff;
    }
    if (mode === 'garbage') body = Buffer.alloc(good.length, 0x3c);
    const headers: http.OutgoingHttpHeaders = { 'accept-ranges': 'bytes' };
    if (mode !== 'garbage') headers['x-goog-hash'] = `crc32c=AAAAAA==,md5=${createHash('md5').update(good).digest('base64')}`;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      const start = Number(m[1]);
      res.writeHead(206, { ...headers, 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': body.length });
    if (mode === 'drop' && ranges.length === 1) {
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    ranges,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A small BiT .npz (BiT-Tiny's parameters, official keys): what the servers hand out as the official file. */
async function payload(): Promise<Buffer> {
  const file = path.join(root, 'payload.npz');
  if (!existsSync(file)) {
    const m = buildModel('BiT-Tiny', { zeroHead: false });
    await saveWeights(m, file);
    m.dispose();
  }
  return readFileSync(file);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let cacheCount = 0;

/** A fresh cache folder and base URL for one test. */
function useCache(url: string): string {
  const dir = path.join(root, `cache${cacheCount++}`);
  process.env.BIT_CACHE = dir;
  process.env.BIT_WEIGHTS_URL = url;
  return dir;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeEach(() => {
  delete process.env.BIT_CACHE;
  delete process.env.BIT_WEIGHTS_URL;
});

test('the catalogue names every official file of the big_transfer README, and sizes follow from the parameter counts', () => {
  const names = officialWeights().map((w) => w.name);
  for (const arch of ['R50x1', 'R50x3', 'R101x1', 'R101x3', 'R152x2', 'R152x4']) {
    assert.ok(names.includes(`BiT-S-${arch}`) && names.includes(`BiT-M-${arch}`) && names.includes(`BiT-M-${arch}-ILSVRC2012`), arch);
  }
  for (const d of ['distill/R50x1_224', 'distill/R50x1_160', 'distill/R152x2_T_224', 'distill/R152x2_T_384']) assert.ok(names.includes(d), d);
  assert.equal(names.length, 22);
  assert.equal(findOfficialWeights('bit-m-r50x1.NPZ')?.name, 'BiT-M-R50x1');
  assert.equal(findOfficialWeights('BiT-M-R50x1')?.headSize, 21843);
  assert.equal(findOfficialWeights('BiT-S-R50x1')?.headSize, 1000);
  // BiT-S-R50x1: 25.55M parameters (the README's `bit models` excerpt) -> about 102 MB of float32
  const mb = sizeByConstruction(findOfficialWeights('BiT-S-R50x1')!) / 1e6;
  assert.ok(mb > 102.2 && mb < 102.6, `${mb} MB`);
});

test('a name downloads once into the cache, with its SHA-256 recorded; the next use reads the cache without the network', async () => {
  const good = await payload();
  const s = await serve(new Map([['BiT-S-R50x1.npz', good]]), 'normal');
  try {
    const dir = useCache(s.url);
    // two at once: the second waits for the first's lock, then finds the file in place
    const [file, other] = await Promise.all([resolveWeights('BiT-S-R50x1', quiet), resolveWeights('BiT-S-R50x1', quiet)]);
    assert.equal(other, file);
    assert.equal(file, path.join(dir, 'BiT-S-R50x1.npz'));
    assert.deepEqual(readFileSync(file), good);
    assert.equal(readFileSync(checksumPath(file), 'utf8'), `${sha256(good)}  BiT-S-R50x1.npz\n`);
    assert.deepEqual(readdirSync(dir).sort(), ['BiT-S-R50x1.npz', 'BiT-S-R50x1.npz.sha256']);
    await s.close();
    // the server is gone: the cached, verified copy is used
    assert.equal(await resolveWeights('bit-s-r50x1.npz', quiet), file);
    assert.equal(s.ranges.length, 1);
    // what the catalogue says of it stands in for the metadata official files lack
    assert.deepEqual(await readMeta('BiT-S-R50x1'), { model: 'BiT-S-R50x1', headSize: 1000, crop: 224, data: 'ILSVRC-2012' });
  } finally {
    await s.close().catch(() => undefined);
  }
});

test('the download lock of another process is waited for, also while it is still being written (empty), and never taken over', async () => {
  const good = await payload();
  const s = await serve(new Map([['BiT-S-R50x1.npz', good]]), 'normal');
  try {
    const dir = useCache(s.url);
    mkdirSync(dir, { recursive: true });
    const lock = path.join(dir, 'BiT-S-R50x1.npz.lock');
    writeFileSync(lock, ''); // another process has created its lock and not yet written it
    const soon = new Date(Date.now() + 60_000);
    utimesSync(lock, soon, soon); // young however slow this machine is: junk is replaced only 2 s after it was made
    let done = false;
    const pending = resolveWeights('BiT-S-R50x1', quiet).then((f) => ((done = true), f));
    await sleep(800);
    assert.deepEqual([done, s.ranges.length], [false, 0], 'a lock being written is not stale');
    // ... now written: a live process (this one's parent) holds it, past the age at which junk would be replaced
    const holder = {
      pid: process.ppid,
      host: os.hostname(),
      command: 'bit weights fetch BiT-S-R50x1',
      started: new Date().toISOString(),
      token: 'b'.repeat(16),
    };
    writeFileSync(lock, JSON.stringify(holder));
    await sleep(2600);
    assert.deepEqual([done, s.ranges.length], [false, 0], 'a live holder is waited for');
    assert.equal(readFileSync(lock, 'utf8'), JSON.stringify(holder), 'its lock is left alone');
    rmSync(lock); // the holder gave up without a file: this process downloads it
    const file = await pending;
    assert.deepEqual(readFileSync(file), good);
    assert.equal(s.ranges.length, 1);
    assert.deepEqual(readdirSync(dir).sort(), ['BiT-S-R50x1.npz', 'BiT-S-R50x1.npz.sha256'], 'the lock is released');
  } finally {
    await s.close();
  }
});

test('a connection dropped half-way is resumed with an HTTP Range request and completes the file', async () => {
  const good = await payload();
  const s = await serve(new Map([['distill/R50x1_224.npz', good]]), 'drop');
  try {
    const dir = useCache(s.url);
    const file = await fetchOfficialWeights(findOfficialWeights('distill/R50x1_224')!, quiet);
    assert.equal(file, path.join(dir, 'distill', 'R50x1_224.npz'));
    assert.equal(s.ranges[0], null);
    assert.equal(s.ranges.length, 2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(s.ranges[1] ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= good.length >> 1, `resumed at ${s.ranges[1]}`);
    assert.equal(sha256(readFileSync(file)), sha256(good));
    assert.ok(!existsSync(`${file}.part`));
  } finally {
    await s.close();
  }
});

test('a partial file left by an earlier run is completed from where it stopped', async () => {
  const good = await payload();
  const s = await serve(new Map([['BiT-M-R50x1.npz', good]]), 'normal');
  try {
    useCache(s.url);
    const w = findOfficialWeights('BiT-M-R50x1')!;
    const target = cachedWeightsPath(w);
    // an interrupted earlier download: only the first 1000 bytes are there
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(`${target}.part`, good.subarray(0, 1000));
    await fetchOfficialWeights(w, quiet);
    assert.deepEqual(s.ranges, ['bytes=1000-']);
    assert.deepEqual(readFileSync(target), good);
  } finally {
    await s.close();
  }
});

test('a damaged download is moved aside and never installed: published MD5 mismatch, or not an .npz at all', async () => {
  const good = await payload();
  for (const mode of ['corrupt', 'garbage'] as const) {
    const s = await serve(new Map([['BiT-S-R101x1.npz', good]]), mode);
    try {
      const dir = useCache(s.url);
      await assert.rejects(
        resolveWeights('BiT-S-R101x1', quiet),
        mode === 'corrupt' ? /damaged: MD5 [0-9a-f]{32} differs from the [0-9a-f]{32} the server publishes.*moved aside to .*\.bad-/ : /damaged: .*moved aside/,
      );
      const left = readdirSync(dir);
      assert.ok(!left.includes('BiT-S-R101x1.npz') && !left.includes('BiT-S-R101x1.npz.part'), left.join(' '));
      assert.equal(left.filter((f) => /^BiT-S-R101x1\.npz\.part\.bad-[^.]+$/.test(f)).length, 1, left.join(' '));
    } finally {
      await s.close();
    }
  }
});

test('a cached file that no longer matches its recorded SHA-256 is moved aside and downloaded anew', async () => {
  const good = await payload();
  const s = await serve(new Map([['BiT-M-R101x3.npz', good]]), 'normal');
  try {
    const dir = useCache(s.url);
    const file = await resolveWeights('BiT-M-R101x3', quiet);
    const bad = Buffer.from(good);
    bad[100] ^= 1;
    writeFileSync(file, bad);
    assert.equal(await resolveWeights('BiT-M-R101x3', quiet), file);
    assert.deepEqual(readFileSync(file), good);
    assert.equal(s.ranges.length, 2);
    const aside = readdirSync(dir).filter((f) => /^BiT-M-R101x3\.npz\.bad-[^.]+$/.test(f));
    assert.equal(aside.length, 1);
    assert.deepEqual(readFileSync(path.join(dir, aside[0])), bad);
    assert.match(readFileSync(path.join(dir, `${aside[0]}.why`), 'utf8'), /does not match the one recorded/);
  } finally {
    await s.close();
  }
});

test('a file put in the cache by hand is used offline, its checksum recorded on first use', async () => {
  const good = await payload();
  useCache(`http://127.0.0.1:${await closedPort()}/`);
  const target = cachedWeightsPath(findOfficialWeights('BiT-S-R152x2')!);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, good);
  assert.equal(await resolveWeights('BiT-S-R152x2', quiet), target);
  assert.match(readFileSync(checksumPath(target), 'utf8'), new RegExp(`^${sha256(good)}  BiT-S-R152x2.npz`));
});

test('offline, 404, an unknown name and an unwritable cache are clear errors with nothing half-written', async () => {
  const port = await closedPort();
  const dir = useCache(`http://127.0.0.1:${port}/`);
  const target = path.join(dir, 'BiT-M-R50x3.npz');
  await assert.rejects(resolveWeights('BiT-M-R50x3', quiet), (err: Error) => {
    assert.ok(err.message.startsWith(`cannot reach http://127.0.0.1:${port}/BiT-M-R50x3.npz (ECONNREFUSED); put the file at `), err.message);
    assert.ok(err.message.includes(`put the file at ${target}`), err.message);
    return true;
  });
  assert.ok(!existsSync(target));

  const s = await serve(new Map([['BiT-S-R50x1.npz', await payload()]]), 'missing');
  try {
    useCache(s.url);
    await assert.rejects(
      resolveWeights('BiT-S-R50x3', quiet),
      /BiT-S-R50x3\.npz: the server answered HTTP 404 Not Found: is BiT-S-R50x3\.npz on http:\/\/127\.0\.0\.1:\d+\/\?/,
    );
  } finally {
    await s.close();
  }

  await assert.rejects(
    resolveWeights('BiT-X-R9x9', quiet),
    /BiT-X-R9x9: no such weights file, and not the name of an official BiT file \(run `bit weights list`/,
  );
  const m = buildModel('BiT-Tiny');
  await assert.rejects(loadWeights(m, 'runs/none/model.npz'), /^Error: runs\/none\/model\.npz does not exist$/);
  m.dispose();

  // a cache "folder" below a regular file cannot be created, even by root
  const blocker = path.join(root, 'a-file');
  writeFileSync(blocker, 'x');
  process.env.BIT_CACHE = path.join(blocker, 'cache');
  await assert.rejects(
    resolveWeights('BiT-S-R50x1', quiet),
    /cannot write to the weights cache .*a-file\/cache \(cannot create the folder .*a-file\/cache: .*a-file is a file, not a folder\): set BIT_CACHE to a folder you can write/,
  );
});

const run = promisify(execFile);

test('bit predict --weights NAME: downloaded through the cache, the model inferred from the name, the original logits reproduced', async () => {
  // the formula weights of test/fixtures/bit-golden (an R50x1 with a 10-way head) served as BiT-M-R50x1.npz
  const c = (
    JSON.parse(readFileSync(fixture('bit-golden', 'cases.json'), 'utf8')) as { resolution: number; batch: number; headSize: number; logits: number[][] }[]
  )[0];
  const file = path.join(root, 'golden.npz');
  await writeFormulaWeights(file, [3, 4, 6, 3], 1, c.headSize);
  const s = await serve(new Map([['BiT-M-R50x1.npz', readFileSync(file)]]), 'drop');
  try {
    const env = { ...process.env, BIT_CACHE: path.join(root, 'cli-cache'), BIT_WEIGHTS_URL: s.url };
    const x = path.join(root, 'x.npy');
    const y = path.join(root, 'y.npy');
    await writeNpy(x, { dtype: 'float32', shape: [c.batch, c.resolution, c.resolution, 3], data: formulaInput(c.batch, c.resolution) });
    const r = await run(process.execPath, [cliPath(), 'predict', '--weights', 'BiT-M-R50x1', '--head-size', String(c.headSize), '--input', x, '--output', y], {
      env,
    });
    assert.match(r.stderr, /BiT-M-R50x1: \d+ bytes, SHA-256 [0-9a-f]{64} -> .*cli-cache\/BiT-M-R50x1\.npz/);
    assertClose(Array.from((await readNpy(y)).data as Float32Array), c.logits.flat(), 2e-4, 'logits');
    const list = await run(process.execPath, [cliPath(), 'weights', 'list', '--json'], { env });
    const rows = JSON.parse(list.stdout) as { name: string; cached: boolean; url: string }[];
    assert.deepEqual(
      rows.filter((w) => w.cached).map((w) => w.name),
      ['BiT-M-R50x1'],
    );
    assert.equal(rows.find((w) => w.name === 'distill/R50x1_160')?.url, `${s.url}distill/R50x1_160.npz`);
    const bad = await run(process.execPath, [cliPath(), 'weights', 'fetch', 'BiT-Q-R1x1'], { env }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((bad as { code: number }).code, 2);
    assert.match((bad as { stderr: string }).stderr, /unknown weights name 'BiT-Q-R1x1'; the official files: BiT-S-R50x1, /);
  } finally {
    await s.close();
  }
});
