// One run per output folder. A run holds DIR/.bit-run.lock for its life: a
// second run into the same folder stops at once with a message naming the
// first (pid, command, start time) instead of resuming from its checkpoint and
// overwriting its files. The lock is released when the run ends, also by an
// error or a second Ctrl-C (process exit); a lock left by a process that no
// longer runs (SIGKILL, power loss) is taken over. When a run takes the lock it
// also removes the temporary files that dead writers left in the folder.
//
// The lock file is created complete and atomically (written beside it, then
// hard-linked into place, which fails if it exists); a stale one is moved
// aside and checked to be the one judged stale before it is deleted, so two
// runs that find the same stale lock do not both take over.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeStaleTemporaries, temporaryPathFor } from '../io/atomic.js';
import { ensureFolder } from '../io/folders.js';
import { processIdentity, processState, type ProcessIdentity } from '../util/process.js';

export const LOCK_FILE = '.bit-run.lock';

/** What a lock file holds. */
export interface LockRecord extends ProcessIdentity {
  /** The command line of the run. */
  command: string;
  /** ISO time the lock was taken. */
  started: string;
  /** Tells this holder's file from a later one at the same path. */
  token: string;
}

/** The folder is in use by another run. */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
  readonly owner: LockRecord;
  constructor(message: string, owner: LockRecord) {
    super(message);
    this.owner = owner;
  }
}

export interface RunLock {
  readonly file: string;
  /** Releases the lock (idempotent). */
  release(): void;
}

/** Lock files this process holds (released at exit), with their tokens and the folders taking the lock created. */
const held = new Map<string, { token: string; created: string[] }>();

function releaseFile(file: string): void {
  const mine = held.get(file);
  if (mine === undefined) return;
  held.delete(file);
  // only our own file: never one a later run took over
  if (readRecord(file)?.token === mine.token) unlinkSync(file);
  // a run that stopped before writing anything leaves no empty folder behind
  for (const dir of mine.created.reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      break; // not empty
    }
  }
}

let exitHook = false;
function releaseAllAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const file of [...held.keys()]) {
      try {
        releaseFile(file);
      } catch {
        // exiting anyway; the next run finds the lock stale
      }
    }
  });
}

/** The record in a lock file; undefined when there is no file, null when it is not a lock record. */
function readRecord(file: string): LockRecord | null | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const r = JSON.parse(text) as LockRecord;
    return typeof r === 'object' && r !== null && Number.isSafeInteger(r.pid) && typeof r.host === 'string' && typeof r.token === 'string' ? r : null;
  } catch {
    return null;
  }
}

/** Creates the lock file with `text` unless it exists; true when created. */
function tryCreate(file: string, text: string): boolean {
  const tmp = temporaryPathFor(file);
  writeFileSync(tmp, text);
  try {
    linkSync(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    // a file system without hard links: exclusive create (a reader may see it empty for a moment)
    try {
      writeFileSync(file, text, { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  } finally {
    unlinkSync(tmp);
  }
}

/** Moves a stale lock out of the way if it is still the one judged stale (else puts back the one found). */
function removeStale(file: string, stale: LockRecord | null): void {
  const aside = `${temporaryPathFor(file)}.stale`;
  try {
    renameSync(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = readRecord(aside);
  if (stale !== null && moved?.token !== stale.token) {
    // another run replaced the stale lock after we read it: put its lock back
    try {
      linkSync(aside, file);
    } catch {
      // a third run holds the path now; it has a valid lock of its own
    }
  }
  unlinkSync(aside);
}

function describeOwner(r: LockRecord): string {
  return `pid ${r.pid}${r.command ? ` (${r.command})` : ''}${r.started ? `, started ${r.started}` : ''}`;
}

/**
 * Takes the lock of the run folder `dir` (creating the folder), or fails with
 * a RunLockedError naming the run that holds it. Removes the temporary files
 * dead writers left in `dir`.
 */
export async function lockRunFolder(dir: string): Promise<RunLock> {
  const created = await ensureFolder(dir);
  const file = path.join(path.resolve(dir), LOCK_FILE);
  if (held.has(file)) throw new Error(`${dir} is already locked by this process: two runs of one process must not write the same folder`);
  const record: LockRecord = {
    ...processIdentity(),
    command: ['bit', ...process.argv.slice(2)].join(' '),
    started: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const text = JSON.stringify(record) + '\n';
  for (let attempt = 0; attempt < 10; attempt++) {
    if (tryCreate(file, text)) {
      held.set(file, { token: record.token, created });
      releaseAllAtExit();
      await removeStaleTemporaries(path.dirname(file));
      return { file, release: () => releaseFile(file) };
    }
    const owner = readRecord(file);
    if (owner === undefined) continue; // released meanwhile
    const age = Date.now() - (statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    if (owner === null && age < 2000) {
      // not (yet) a lock record: one being written where hard links are unsupported, or junk; junk is replaced once old
      await sleep(250);
      continue;
    }
    if (owner !== null) {
      const state = processState(owner);
      if (state === 'alive')
        throw new RunLockedError(`${dir} is in use by another run: ${describeOwner(owner)}. Wait for it to end, or write to another folder`, owner);
      if (state === 'elsewhere')
        throw new RunLockedError(
          `${dir} is in use by a run on ${owner.host}: ${describeOwner(owner)}. This machine cannot tell whether it still runs: if it has ended, delete ${file}; else wait for it, or write to another folder`,
          owner,
        );
    }
    removeStale(file, owner);
  }
  throw new Error(`could not take the lock ${file}: other runs keep taking it`);
}
