// One run per output folder. A run holds DIR/.bit-run.lock for its life: a
// second run into the same folder stops at once with a message naming the
// first (pid, command, start time) instead of resuming from its checkpoint and
// overwriting its files. The lock is released when the run ends, also by an
// error or a second Ctrl-C (process exit); a lock left by a process that no
// longer runs (SIGKILL, power loss) is taken over (io/lock-file.ts). When a run
// takes the lock it also removes the temporary files that dead writers left in
// the folder.
import { rmdirSync } from 'node:fs';
import * as path from 'node:path';
import { removeStaleTemporaries } from '../io/atomic.js';
import { ensureFolder } from '../io/folders.js';
import { describeHolder, holdsLock, isLockFile, tryLockFile, type LockFile, type LockRecord } from '../io/lock-file.js';

export const LOCK_FILE = '.bit-run.lock';

/** The folder is in use by another run. */
export class RunLockedError extends Error {
  override name = 'RunLockedError';
  readonly owner: LockRecord;
  constructor(message: string, owner: LockRecord) {
    super(message);
    this.owner = owner;
  }
}

export type RunLock = LockFile;

/** Removes the folders the lock's taking created, innermost first, while they are empty. */
function removeEmpty(created: readonly string[]): void {
  for (const dir of [...created].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      break; // not empty
    }
  }
}

/**
 * Takes the lock of the run folder `dir` (creating the folder), or fails with
 * a RunLockedError naming the run that holds it. Removes the temporary files
 * dead writers left in `dir`.
 */
export async function lockRunFolder(dir: string): Promise<RunLock> {
  const file = path.join(path.resolve(dir), LOCK_FILE);
  if (holdsLock(file)) throw new Error(`${dir} is already locked by this process: two runs of one process must not write the same folder`);
  const created = await ensureFolder(dir);
  // a run that stopped before writing anything leaves no empty folder behind
  const taken = await tryLockFile(file, () => removeEmpty(created));
  if (isLockFile(taken)) {
    await removeStaleTemporaries(path.dirname(file));
    return taken;
  }
  const { record: owner, state } = taken;
  if (state === 'alive')
    throw new RunLockedError(`${dir} is in use by another run: ${describeHolder(owner)}. Wait for it to end, or write to another folder`, owner);
  throw new RunLockedError(
    `${dir} is in use by a run on ${owner.host}: ${describeHolder(owner)}. This machine cannot tell whether it still runs: if it has ended, delete ${file}; else wait for it, or write to another folder`,
    owner,
  );
}
