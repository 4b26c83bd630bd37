// Data-parallel training over libtorch's c10d: a TCPStore rendezvous (hosted
// by rank 0) with checks that name what is wrong, the Collective the training
// loop uses (bucketed gradient all-reduce, sums, broadcast) over the Gloo
// process group, and the fault report: when a collective fails or times out,
// the heartbeats every rank keeps in the store tell which rank was lost.
//
// Store keys (all under `bit/`):
//   rdzv/world            rank 0's view of the run: {world, fingerprint, host}
//   rdzv/claim/<r>        how many processes claimed rank r (more than one: a --node-rank mistake)
//   rdzv/info/<r>         {world, fingerprint, host, pid} of rank r
//   rdzv/arrived          ranks that passed their checks
//   rdzv/error            the first check that failed (every rank reports it)
//   rdzv/go               'ok', or the reason rank 0 called the run off
//   hb/<r>                rank r's heartbeat counter (a native thread adds 1 every second)
//   fault/<r>             rank r's verdict after it saw a collective fail: {lost, message}
//   sync/<label>/<n>      arrivals at a heartbeat-watched barrier
//   pg/...                the Gloo process group's own rendezvous
import { lookup } from 'node:dns/promises';
import { connect, createServer } from 'node:net';
import * as os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import * as T from '../tensor/index.js';
import type { Collective } from './collective.js';
import { fingerprintDifferences, type Fingerprint } from './fingerprint.js';
import { messageOf } from '../util/errors.js';

/** Gradient bucket size: PyTorch DistributedDataParallel's default bucket_cap_mb (25 MB). */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;
/** Collective timeout: bounds how long survivors wait for a rank that hangs or whose machine drops off the network. */
export const DEFAULT_TIMEOUT_S = 30;
/** Heartbeat period; a rank whose counter does not move for HEARTBEAT_WINDOW heartbeats is lost. */
export const HEARTBEAT_MS = 1000;
const HEARTBEAT_WINDOW = 3;
/** How long workers wait for each other at start by default (machines are often started by hand, one after the other). */
export const DEFAULT_JOIN_TIMEOUT_S = 300;
/** While waiting at start, a line every this often says so. */
const WAIT_NOTE_MS = 30_000;
/** Rank 0 reaches its own store at once, or --master-addr is not this machine. */
const SELF_CONNECT_MS = 10_000;
/** A worker knocks at the master's port in attempts of this length. */
const CONNECT_ATTEMPT_MS = 5000;
/** Store operations after the start are small and fast: a store that does not answer within this is lost. */
export const STORE_OP_TIMEOUT_MS = 5000;

/** The run could not start: rendezvous checks (port in use, unreachable master, mismatched world sizes, ...). */
export class DistributedError extends Error {
  override name = 'DistributedError';
}

/**
 * A collective failed or timed out. `lostRanks` are the ranks found gone
 * (empty when every rank was alive, e.g. one was slower than the timeout).
 */
export class CollectiveError extends Error {
  override name = 'CollectiveError';
  readonly lostRanks: readonly number[];
  constructor(message: string, lostRanks: readonly number[], options?: ErrorOptions) {
    super(message, options);
    this.lostRanks = lostRanks;
  }
}

export interface DistributedOptions {
  rank: number;
  world: number;
  masterAddr: string;
  masterPort: number;
  /** Collective and store timeout (ms). */
  timeoutMs: number;
  /** How long ranks wait for each other at start (ms); default DEFAULT_JOIN_TIMEOUT_S. */
  joinTimeoutMs?: number;
  /** Where waiting notes go (default stderr). */
  note?: (line: string) => void;
  /** Network interface for Gloo (e.g. 'eth0'); default: the one the host name resolves to ($GLOO_SOCKET_IFNAME). */
  iface?: string;
  /** What every rank must agree on (model, data, recipe...); a mismatch stops the run at start. */
  fingerprint?: string;
  bucketBytes?: number;
  heartbeatMs?: number;
}

interface PeerInfo {
  world: number;
  fingerprint: string;
  host: string;
  pid: number;
}

interface Verdict {
  lost: number[];
  message: string;
}

const KEY = {
  world: 'bit/rdzv/world',
  claim: (r: number) => `bit/rdzv/claim/${r}`,
  info: (r: number) => `bit/rdzv/info/${r}`,
  arrived: 'bit/rdzv/arrived',
  error: 'bit/rdzv/error',
  go: 'bit/rdzv/go',
  hb: (r: number) => `bit/hb/${r}`,
  fault: (r: number) => `bit/fault/${r}`,
  sync: (label: string, n: number) => `bit/sync/${label}/${n}`,
  leaving: 'bit/leaving',
};

/** Blocks the thread for `ms` (the loop is blocked in collectives anyway). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function rankList(ranks: readonly number[]): string {
  return ranks.length === 1 ? `rank ${ranks[0]}` : `ranks ${ranks.join(', ')}`;
}

function seconds(ms: number): string {
  return `${+(ms / 1000).toFixed(1)} s`;
}

/**
 * Joins the run: rank 0 hosts the store at masterAddr:masterPort and waits
 * for every rank; the others connect to it. Every rank checks that all agree
 * on the world size and the fingerprint before the Gloo group forms.
 */
export async function initDistributed(o: DistributedOptions): Promise<GlooCollective> {
  const { rank, world, masterAddr: host, masterPort: port } = o;
  if (!T.distAvailable())
    throw new DistributedError(
      `data-parallel training needs the addon's c10d/Gloo support, which this build lacks: install libgloo-dev and rebuild (npm rebuild)`,
    );
  if (!Number.isInteger(world) || world < 1) throw new DistributedError(`the world size must be a whole number >= 1, but got ${world}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= world)
    throw new DistributedError(`rank ${rank} is outside the world of ${world} workers (ranks 0..${world - 1})`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new DistributedError(`the master port must be in 1..65535, but got ${port}`);
  if (T.distIsInitialized()) throw new DistributedError('this process already joined a data-parallel run');
  const joinMs = o.joinTimeoutMs ?? DEFAULT_JOIN_TIMEOUT_S * 1000;
  const note = o.note ?? ((line: string) => void process.stderr.write(line + '\n'));
  const started = Date.now();
  const where = `${host}:${port}`;
  const fingerprint = o.fingerprint ?? '';
  const me: PeerInfo = { world, fingerprint, host: os.hostname(), pid: process.pid };

  try {
    await lookup(host);
  } catch (err) {
    throw new DistributedError(
      `rank ${rank} cannot resolve the master address '${host}' (${(err as NodeJS.ErrnoException).code ?? messageOf(err)}): pass --master-addr as the host name or IP address of the machine that runs rank 0 (--node-rank 0)`,
    );
  }

  const unreachable = (cause?: unknown) =>
    new DistributedError(
      `worker rank ${rank} could not reach the master at ${where} within ${seconds(joinMs)}: nothing accepted the connection. ` +
        `Start rank 0 (--node-rank 0) at that address, check --master-addr and --master-port (the same on every machine) and the firewall, or raise --join-timeout if rank 0 starts later`,
      cause === undefined ? undefined : { cause },
    );

  const fail = (message: string): never => {
    try {
      if (!T.distStoreCheck(KEY.error)) T.distStoreSet(KEY.error, message);
    } catch {
      // the store is gone: the message below is all there is
    }
    // rank 0 hosts the store: keep it up a moment so that every rank reads why
    if (rank === 0) sleepSync(500);
    T.distDestroy();
    throw new DistributedError(message);
  };

  if (rank === 0) {
    // the store listens on every address at the port; rank 0 then connects to it at masterAddr, which must be this machine
    if (!(await portIsFree(port))) {
      throw new DistributedError(
        `rank 0 cannot host the rendezvous store on port ${port} (master ${where}): the port is in use by another run or program. Choose a free --master-port (the same on every machine), or stop the other run`,
      );
    }
    if (!(await isThisMachine(host))) {
      throw new DistributedError(
        `rank 0 cannot host the rendezvous store at ${where}: ${host} is not an address of this machine. --master-addr must be an address of the machine that runs rank 0 (--node-rank 0)`,
      );
    }
    try {
      T.distStoreConnect(host, port, true, world, Math.min(joinMs, SELF_CONNECT_MS));
    } catch (err) {
      throw new DistributedError(`rank 0 could not start the rendezvous store at ${where}`, { cause: err });
    }
    T.distStoreSet(KEY.world, JSON.stringify(me));
  } else {
    // Knock first (quietly, and saying every 30 s that it waits): c10d logs
    // every failed attempt of its own. Then connect with the time left.
    const deadline = started + joinMs;
    let noted = started;
    while (!(await accepts(host, port, Math.min(CONNECT_ATTEMPT_MS, deadline - Date.now())))) {
      if (Date.now() >= deadline) throw unreachable();
      if (Date.now() - noted >= WAIT_NOTE_MS) {
        noted = Date.now();
        note(`rank ${rank}: waiting for the master at ${where} (${seconds(noted - started)} so far, --join-timeout ${seconds(joinMs)})`);
      }
      await sleep(Math.min(200, Math.max(0, deadline - Date.now())));
    }
    try {
      T.distStoreConnect(host, port, false, world, Math.max(1000, deadline - Date.now()));
    } catch (err) {
      throw unreachable(err);
    }
  }

  // A worker reads rank 0's record first (rank 0 writes it as soon as its
  // store is up): a program at the master's port that is not a bit rendezvous
  // store (a web server, another service) fails this, or does not answer in
  // time, before anything is asked of it that it could answer with garbage.
  const lead = rank === 0 ? me : readLeadRecord(rank, where, Math.min(joinMs, SELF_CONNECT_MS + STORE_OP_TIMEOUT_MS));
  try {
    if (T.distStoreAdd(KEY.claim(rank), 1) > 1) {
      fail(`two workers were started as rank ${rank} (the second on ${me.host}, pid ${me.pid}): give each machine its own --node-rank (0..nnodes-1)`);
    }
    T.distStoreSet(KEY.info(rank), JSON.stringify(me));
    if (rank !== 0) {
      if (lead.world !== world) {
        fail(
          `mismatched world sizes: rank ${rank} (on ${me.host}) was started for ${world} workers, but rank 0 (on ${lead.host}) for ${lead.world}: ` +
            `give every machine the same --nnodes and --nproc-per-node (world size = nnodes x nproc-per-node)`,
        );
      }
      if (lead.fingerprint !== fingerprint) {
        fail(
          `rank ${rank} (on ${me.host}) was started with a different command than rank 0 (on ${lead.host}): ${describeDifference(lead.fingerprint, fingerprint, rank)}. Run the same command (model, data, recipe flags) on every machine`,
        );
      }
      T.distStoreAdd(KEY.arrived, 1);
      const go = T.distStoreGet(KEY.go, joinMs + 5000);
      if (go !== 'ok') fail(go);
    } else {
      T.distStoreAdd(KEY.arrived, 1);
      const deadline = started + joinMs;
      let noted = started;
      const missingRanks = () => Array.from({ length: world }, (_, r) => r).filter((r) => !T.distStoreCheck(KEY.info(r)));
      for (;;) {
        if (T.distStoreCheck(KEY.error)) {
          const msg = T.distStoreGet(KEY.error, 1000);
          T.distStoreSet(KEY.go, msg);
          fail(msg);
        }
        if (T.distStoreAdd(KEY.arrived, 0) >= world) break;
        if (Date.now() > deadline) {
          const missing = missingRanks();
          const msg =
            `only ${world - missing.length} of ${world} workers joined the rendezvous at ${where} within ${seconds(joinMs)} (missing ${rankList(missing)}): ` +
            `start every machine with the same --nnodes, --nproc-per-node, --master-addr and --master-port and its own --node-rank, or raise --join-timeout`;
          T.distStoreSet(KEY.go, msg);
          fail(msg);
        }
        if (Date.now() - noted >= WAIT_NOTE_MS) {
          noted = Date.now();
          note(`rank 0: waiting for ${rankList(missingRanks())} to join at ${where} (${seconds(noted - started)} so far, --join-timeout ${seconds(joinMs)})`);
        }
        await sleep(50);
      }
      T.distStoreSet(KEY.go, 'ok');
    }
    const peers = Array.from({ length: world }, (_, r) => JSON.parse(T.distStoreGet(KEY.info(r), joinMs)) as PeerInfo);
    T.distInit(host, port, rank, world, o.timeoutMs, o.iface ?? process.env.GLOO_SOCKET_IFNAME ?? undefined);
    // From now on store operations are short. (c10d's TCPStore gives its socket
    // the limit of its latest wait, and get() waits with the store's limit: a
    // get after setting the limit makes it apply to every later operation.)
    T.distStoreSetTimeout(Math.min(STORE_OP_TIMEOUT_MS, o.timeoutMs));
    T.distStoreGet(KEY.world, STORE_OP_TIMEOUT_MS);
    const heartbeatMs = o.heartbeatMs ?? HEARTBEAT_MS;
    T.distHeartbeat(KEY.hb(rank), heartbeatMs);
    return new GlooCollective({ rank, world, where, timeoutMs: o.timeoutMs, heartbeatMs, bucketBytes: o.bucketBytes ?? DEFAULT_BUCKET_BYTES, peers });
  } catch (err) {
    if (err instanceof DistributedError) throw err;
    T.distDestroy();
    // a worker whose master no longer answers lost it; anything else failed otherwise
    if (rank !== 0 && !(await accepts(host, port, CONNECT_ATTEMPT_MS))) {
      throw new DistributedError(`worker rank ${rank} lost the master at ${where} during the rendezvous (rank 0 stopped or is unreachable)`, { cause: err });
    }
    throw new DistributedError(`rank ${rank}: the rendezvous at ${where} failed`, { cause: err });
  }
}

/** Rank 0's record in the store (a worker's first read), or an error saying that what answers at `where` is not a bit rendezvous store. */
function readLeadRecord(rank: number, where: string, ms: number): PeerInfo {
  let answer: string;
  try {
    answer = T.distStoreGet(KEY.world, ms);
  } catch (err) {
    T.distDestroy();
    throw foreignService(rank, where, `rank 0's record could not be read: ${messageOf(err)}, after waiting up to ${seconds(ms)}`);
  }
  let info: Partial<PeerInfo> | null = null;
  try {
    info = JSON.parse(answer) as Partial<PeerInfo>;
  } catch {
    // not JSON: below
  }
  if (typeof info !== 'object' || info === null || !Number.isInteger(info.world) || typeof info.fingerprint !== 'string' || typeof info.host !== 'string') {
    T.distDestroy();
    throw foreignService(rank, where, 'its answer is not a rendezvous record');
  }
  return info as PeerInfo;
}

function foreignService(rank: number, where: string, why: string): DistributedError {
  return new DistributedError(
    `worker rank ${rank} reached ${where}, but what answers there is not the rendezvous of a bit run (${why}): ` +
      `--master-addr and --master-port must name the machine and port where rank 0 (--node-rank 0) runs, the same on every machine; is another program using that port?`,
  );
}

/** Whether nothing listens on `port` of this machine (a listening socket on every address can be opened). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** Whether `host` resolves to an address of this machine (a loopback address or one of its interfaces'). */
async function isThisMachine(host: string): Promise<boolean> {
  const own = new Set(
    Object.values(os.networkInterfaces())
      .flat()
      .map((i) => i?.address),
  );
  const addresses = await lookup(host, { all: true });
  return addresses.some((a) => own.has(a.address) || a.address.startsWith('127.') || a.address === '::1' || a.address === '0.0.0.0');
}

/** Whether something accepts TCP connections at host:port (tried for up to `ms`). */
function accepts(host: string, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), Math.max(1, ms));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** How rank `rank`'s fingerprint (JSON) differs from rank 0's. */
function describeDifference(lead: string, mine: string, rank: number): string {
  try {
    const differ = fingerprintDifferences(JSON.parse(lead) as Fingerprint, JSON.parse(mine) as Fingerprint, `rank ${rank}`);
    if (differ.length > 0) return `rank 0 ${differ.join(', ')}`;
  } catch {
    // not JSON: fall through
  }
  return `'${lead}' vs '${mine}'`;
}

interface CollectiveInit {
  rank: number;
  world: number;
  where: string;
  timeoutMs: number;
  heartbeatMs: number;
  bucketBytes: number;
  peers: readonly PeerInfo[];
}

interface Bucket {
  dtype: T.DType;
  /** Indices into the tensor list. */
  members: number[];
}

const BYTES: Partial<Record<T.DType, number>> = { float64: 8, int64: 8, float32: 4, int32: 4, float16: 2, bfloat16: 2 };
const bytesPer = (dtype: T.DType) => BYTES[dtype] ?? 1;

/** Groups tensors, in order, into buckets of one dtype and at most `bucketBytes` (a larger tensor gets a bucket of its own). */
export function planBuckets(tensors: readonly { dtype: T.DType; size: number }[], bucketBytes: number): Bucket[] {
  const open = new Map<T.DType, { bucket: Bucket; bytes: number }>();
  const out: Bucket[] = [];
  tensors.forEach((t, i) => {
    const bytes = t.size * bytesPer(t.dtype);
    let cur = open.get(t.dtype);
    if (cur && cur.bytes > 0 && cur.bytes + bytes > bucketBytes) cur = undefined;
    if (!cur) {
      cur = { bucket: { dtype: t.dtype, members: [] }, bytes: 0 };
      open.set(t.dtype, cur);
      out.push(cur.bucket);
    }
    cur.bucket.members.push(i);
    cur.bytes += bytes;
  });
  return out;
}

/** The Collective over a Gloo process group. Built by `initDistributed`; `close()` leaves the group. */
export class GlooCollective implements Collective {
  readonly rank: number;
  readonly world: number;
  readonly bucketBytes: number;
  readonly #where: string;
  readonly #timeoutMs: number;
  readonly #heartbeatMs: number;
  readonly #peers: readonly PeerInfo[];
  #failure: CollectiveError | null = null;
  #closed = false;
  #syncs = 0;
  #plan: { params: readonly T.Tensor[]; buckets: Bucket[] } | null = null;
  /** All-reduces done so far (tests: bucketing). */
  allReduceCount = 0;
  /** Gradient averaging so far: calls, bytes all-reduced, seconds in the all-reduces, seconds in all (with flattening and copying back). */
  readonly gradientStats = { calls: 0, bytes: 0, allReduceSeconds: 0, seconds: 0 };

  constructor(init: CollectiveInit) {
    this.rank = init.rank;
    this.world = init.world;
    this.bucketBytes = init.bucketBytes;
    this.#where = init.where;
    this.#timeoutMs = init.timeoutMs;
    this.#heartbeatMs = init.heartbeatMs;
    this.#peers = init.peers;
  }

  /** The failure that ended this group, if one did. */
  get failure(): CollectiveError | null {
    return this.#failure;
  }

  averageGradients(params: readonly T.Tensor[]): void {
    if (this.#plan?.params !== params)
      this.#plan = {
        params,
        buckets: planBuckets(
          params.map((p) => ({ dtype: p.dtype, size: p.size })),
          this.bucketBytes,
        ),
      };
    const world = this.world;
    const stats = this.gradientStats;
    const t0 = performance.now();
    this.#run('gradient all-reduce', () =>
      T.tidy(() =>
        T.noGrad(() => {
          for (const bucket of this.#plan!.buckets) {
            const grads = bucket.members.map((i) => params[i].grad);
            const missing = grads.some((g) => g === null);
            // one flag per tensor after the values: how many ranks had a gradient for it
            const parts = bucket.members.map((i, k) => (grads[k] ?? T.zeros(params[i].shape, { dtype: bucket.dtype })).reshape([-1]));
            parts.push(
              T.tensor(
                grads.map((g) => (g === null ? 0 : 1)),
                [grads.length],
                bucket.dtype,
              ),
            );
            const flat = T.cat(parts);
            const t1 = performance.now();
            T.distAllReduce_(flat, 'sum');
            stats.allReduceSeconds += (performance.now() - t1) / 1000;
            stats.bytes += flat.size * bytesPer(bucket.dtype);
            this.allReduceCount++;
            flat.div_(world);
            const flags = missing ? flat.narrow(0, flat.size - grads.length, grads.length).toArray() : null;
            let off = 0;
            bucket.members.forEach((i, k) => {
              const p = params[i];
              const n = p.size;
              const avg = flat.narrow(0, off, n).reshape(p.shape);
              off += n;
              const g = grads[k];
              if (g !== null) g.copy_(avg);
              else if (flags && flags[k] > 0) p.setGrad(avg.clone());
            });
          }
        }),
      ),
    );
    stats.calls++;
    stats.seconds += (performance.now() - t0) / 1000;
  }

  sum(values: readonly number[]): number[] {
    if (values.length === 0) return [];
    return this.#run('sum', () =>
      T.tidy(() => {
        const t = T.tensor(Float64Array.from(values), [values.length], 'float64');
        T.distAllReduce_(t, 'sum');
        this.allReduceCount++;
        return t.toArray();
      }),
    );
  }

  broadcast(tensors: readonly T.Tensor[]): void {
    if (tensors.length === 0) return;
    const buckets = planBuckets(
      tensors.map((t) => ({ dtype: t.dtype, size: t.size })),
      this.bucketBytes,
    );
    this.#run('broadcast from rank 0', () =>
      T.tidy(() =>
        T.noGrad(() => {
          for (const b of buckets) {
            const flat = T.cat(b.members.map((i) => tensors[i].reshape([-1])));
            T.distBroadcast_(flat, 0);
            if (this.rank === 0) continue;
            let off = 0;
            for (const i of b.members) {
              const t = tensors[i];
              t.copy_(flat.narrow(0, off, t.size).reshape(t.shape));
              off += t.size;
            }
          }
        }),
      ),
    );
  }

  /**
   * Waits until every rank reaches this point. No time limit while every
   * rank's heartbeat moves (rank 0 may write a large checkpoint meanwhile);
   * a rank whose heartbeat stops is reported lost.
   */
  barrier(label: string): void {
    this.#run(`wait at ${label}`, () => {
      const key = KEY.sync(label, this.#syncs++);
      T.distStoreAdd(key, 1);
      this.#waitCount(key, this.world);
    });
  }

  /** Polls the store counter `key` until it reaches `target`; throws when another rank's heartbeat stops meanwhile. */
  #waitCount(key: string, target: number): void {
    let last = this.#readHeartbeats();
    let lastAt = Date.now();
    while (T.distStoreAdd(key, 0) < target) {
      sleepSync(20);
      if (Date.now() - lastAt >= this.#heartbeatMs * HEARTBEAT_WINDOW) {
        const now = this.#readHeartbeats();
        const stalled = this.#others().filter((r) => now[r] === last[r]);
        if (stalled.length > 0) throw new Error(`the heartbeat of ${rankList(stalled)} stopped`);
        last = now;
        lastAt = Date.now();
      }
    }
  }

  /**
   * Before a rank leaves because of an error of its own (bad data, a full
   * disk...): leaves its reason in the store, so that the others report it
   * rather than a lost rank. (Rank 0's store goes with it, so for rank 0 the
   * others can only tell that it is gone.)
   */
  abandon(err: unknown): void {
    if (this.#failure || this.#closed) return;
    try {
      T.distStoreSet(KEY.fault(this.rank), JSON.stringify({ lost: [], message: `rank ${this.rank} failed: ${messageOf(err)}` } satisfies Verdict));
    } catch {
      // the store is gone: the others find out on their own
    }
  }

  /**
   * Leaves the group. Rank 0 hosts the store, so it leaves last: after a
   * clean run it waits until every other rank has said it is leaving, since a
   * rank may still be reading the store (the last poll of a barrier that rank
   * 0 has already passed) and would take a vanished store for a lost rank 0.
   * The wait ends early when another rank's heartbeat stops. After a failure
   * (`clean` false, or a collective that failed) nobody waits: the process is
   * about to exit.
   */
  close(clean = true): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#failure) return;
    try {
      if (this.rank !== 0) T.distStoreAdd(KEY.leaving, 1);
      else if (clean) this.#waitCount(KEY.leaving, this.world - 1);
    } catch {
      // a rank that stopped, or a store already gone: leave anyway
    }
    T.distDestroy();
  }

  #others(): number[] {
    return Array.from({ length: this.world }, (_, r) => r).filter((r) => r !== this.rank);
  }

  #readHeartbeats(): number[] {
    return Array.from({ length: this.world }, (_, r) => T.distStoreAdd(KEY.hb(r), 0));
  }

  #whereIs(r: number): string {
    const p = this.#peers[r];
    return p ? `pid ${p.pid} on ${p.host}` : 'unknown pid';
  }

  #run<R>(what: string, fn: () => R): R {
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new Error(`the data-parallel group was closed (${what})`);
    try {
      return fn();
    } catch (err) {
      if (err instanceof T.ArgumentError) throw err;
      this.#failure = this.#diagnose(what, err);
      throw this.#failure;
    }
  }

  /**
   * After a failed collective: which rank is gone? Reads every heartbeat,
   * waits a few heartbeat periods, reads again. A counter that did not move
   * belongs to a lost rank, unless that rank left a verdict (it stopped
   * after seeing a fault itself). The store lives in rank 0: when it no
   * longer answers, rank 0 is the one lost. The verdict is left for the others.
   */
  #diagnose(what: string, err: unknown): CollectiveError {
    const cause = messageOf(err).replace(/^dist\w+: /, '');
    const during = `Rank ${this.rank} noticed during a ${what}.`;
    const storeLost = (e: unknown) =>
      new CollectiveError(
        `worker rank 0 was lost (${this.#whereIs(0)}): it hosts the rendezvous store at ${this.#where}, which no longer answers (${messageOf(e).replace(/^dist\w+: /, '')}): the process died, stopped on an error of its own (see its output), or its machine became unreachable. ${during}`,
        [0],
        { cause: err },
      );
    let before: number[];
    let after: number[];
    try {
      before = this.#readHeartbeats();
      sleepSync(this.#heartbeatMs * HEARTBEAT_WINDOW);
      after = this.#readHeartbeats();
    } catch (e) {
      if (this.rank !== 0) return storeLost(e);
      return new CollectiveError(`the rendezvous store of rank 0 failed (${messageOf(e)}). ${during}`, [], { cause: err });
    }
    const stalled = this.#others().filter((r) => after[r] === before[r]);
    const verdicts = new Map<number, Verdict>();
    for (const r of stalled) {
      try {
        if (T.distStoreCheck(KEY.fault(r))) verdicts.set(r, JSON.parse(T.distStoreGet(KEY.fault(r), 1000)) as Verdict);
      } catch {
        // unreadable verdict: treat the rank as lost
      }
    }
    const lost = new Set<number>(stalled.filter((r) => !verdicts.has(r)));
    for (const v of verdicts.values()) for (const r of v.lost) if (r !== this.rank) lost.add(r);
    const lostRanks = [...lost].sort((a, b) => a - b);
    let message: string;
    if (lostRanks.length > 0) {
      const where = lostRanks.map((r) => this.#whereIs(r)).join(', ');
      message =
        lostRanks.length === 1
          ? `worker rank ${lostRanks[0]} was lost (${where}): its heartbeat stopped, so the process died, hung, or its machine became unreachable. ${during}`
          : `worker ranks ${lostRanks.join(', ')} were lost (${where}): their heartbeats stopped, so the processes died, hung, or their machines became unreachable. ${during}`;
    } else if (verdicts.size > 0) {
      const [r, v] = [...verdicts.entries()][0];
      message = `rank ${r} stopped the run: ${v.message}`;
    } else if (/timed out|timeout/i.test(cause)) {
      message =
        `a ${what} timed out after ${seconds(this.#timeoutMs)} on rank ${this.rank}, but every worker is alive: one rank was slower than --dist-timeout ` +
        `(a slow data loader, an evaluation, or another program taking its cores?); raise --dist-timeout.`;
    } else {
      message = `a ${what} failed on rank ${this.rank} while every worker is alive.`;
    }
    try {
      T.distStoreSet(KEY.fault(this.rank), JSON.stringify({ lost: lostRanks, message } satisfies Verdict));
    } catch {
      // the store is gone: the others find out on their own
    }
    return new CollectiveError(message, lostRanks, { cause: err });
  }
}
