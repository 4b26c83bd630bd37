// Atomic file output: write to a temporary file beside the target, flush it to
// disk, then rename over the target. A reader sees the old file or the new one,
// never a half-written one, even if the process is killed mid-write.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isProcessAlive } from '../util/process.js';
import { ensureFolder } from './folders.js';

/** The temporary path used while `target` is being written. */
export function temporaryPathFor(target: string): string {
  const dir = path.dirname(target);
  return path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** `.NAME.PID.HEX.tmp`, as temporaryPathFor names them: the writer's pid. */
const TEMPORARY_NAME = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/**
 * Removes the temporary files in `dir` (not below it) whose writer is no
 * longer running: what a process killed mid-write (SIGKILL, power loss)
 * leaves behind. Returns the paths removed.
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMPORARY_NAME.exec(name);
    if (m === null || isProcessAlive(Number(m[1]))) continue;
    try {
      await fs.rm(path.join(dir, name));
      removed.push(path.join(dir, name));
    } catch {
      // gone meanwhile, or not a plain file: leave it
    }
  }
  return removed;
}

/** Writes `data` to `target` atomically (temporary file, fsync, rename). */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await withAtomicFile(target, async (handle) => {
    await handle.writeFile(data);
  });
}

/**
 * Opens a temporary file beside `target` (creating its folder), lets `write`
 * fill it, then flushes and renames it over `target`. On any error the temporary file is removed and
 * `target` is left as it was.
 */
export async function withAtomicFile(target: string, write: (handle: fs.FileHandle) => Promise<void>): Promise<void> {
  const tmp = temporaryPathFor(target);
  await ensureFolder(path.dirname(target));
  const handle = await fs.open(tmp, 'w');
  try {
    try {
      await write(handle);
      await handle.sync();
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    await handle.close();
    await fs.rename(tmp, target);
  } catch (err) {
    // nothing half-written stays behind, whichever step failed
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
