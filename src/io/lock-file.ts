// Lock files that name their holder: the run-folder lock (one run per output
// folder) and the weights cache's download lock (one download per file) are
// both this. A lock file holds a JSON record of the process that took it (pid,
// machine, boot, start time, command) and a token that tells this holder's file
// from a later one at the same path.
//
// The file is created complete and atomically: written beside it, then
// hard-linked into place, which fails if it exists, so a reader never sees it
// half-written. A lock whose holder no longer runs (SIGKILL, power loss; a
// reused pid is told apart by its start time and boot) is stale: it is moved
// aside and checked to be the one judged stale before it is deleted, so two
// processes that find the same stale lock do not both take over. Locks this
// process holds are released when it exits.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processIdentity, processState, type ProcessIdentity } from '../util/process.js';
import { temporaryPathFor } from './atomic.js';

/** What a lock file holds. */
export interface LockRecord extends ProcessIdentity {
  /** The command line of the holder. */
  command: string;
  /** ISO time the lock was taken. */
  started: string;
  /** Tells this holder's file from a later one at the same path. */
  token: string;
}

export interface LockFile {
  readonly file: string;
  /** Releases the lock (idempotent). */
  release(): void;
}

/** A lock held by a process that runs (`alive`) or may run (`elsewhere`: on another machine, where this one cannot look). */
export interface LockHolder {
  readonly record: LockRecord;
  readonly state: 'alive' | 'elsewhere';
}

/** Lock files this process holds (released at exit), with their tokens and what to do after releasing each. */
const held = new Map<string, { token: string; onRelease?: () => void }>();

/** Whether this process holds the lock at `file`. */
export function holdsLock(file: string): boolean {
  return held.has(path.resolve(file));
}

function releaseFile(file: string): void {
  const mine = held.get(file);
  if (mine === undefined) return;
  held.delete(file);
  // only our own file: never one a later holder took over
  if (readRecord(file)?.token === mine.token) unlinkSync(file);
  mine.onRelease?.();
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
        // exiting anyway; the next taker finds the lock stale
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
    // another process replaced the stale lock after we read it: put its lock back
    try {
      linkSync(aside, file);
    } catch {
      // a third process holds the path now; it has a valid lock of its own
    }
  }
  unlinkSync(aside);
}

/**
 * Takes the lock at `file` (whose folder must exist), or returns the process
 * that holds it. A stale lock is taken over. `onRelease` runs after the lock
 * is released (by `release()` or at exit). Throws when this process already
 * holds it.
 */
export async function tryLockFile(file: string, onRelease?: () => void): Promise<LockFile | LockHolder> {
  file = path.resolve(file);
  if (held.has(file)) throw new Error(`${file} is already held by this process`);
  const record: LockRecord = {
    ...processIdentity(),
    command: ['bit', ...process.argv.slice(2)].join(' '),
    started: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
  };
  const text = JSON.stringify(record) + '\n';
  for (let attempt = 0; attempt < 10; attempt++) {
    if (tryCreate(file, text)) {
      held.set(file, { token: record.token, onRelease });
      releaseAllAtExit();
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
      if (state !== 'dead') return { record: owner, state };
    }
    removeStale(file, owner);
  }
  throw new Error(`could not take the lock ${file}: other processes keep taking it`);
}

/** Whether tryLockFile took the lock. */
export function isLockFile(r: LockFile | LockHolder): r is LockFile {
  return 'release' in r;
}

/** "pid 123 (bit finetune ...), started 2026-..." */
export function describeHolder(r: LockRecord): string {
  return `pid ${r.pid}${r.command ? ` (${r.command})` : ''}${r.started ? `, started ${r.started}` : ''}`;
}
