// Creating output folders. Node's `mkdir(dir, { recursive: true })` loops
// forever where a parent exists but refuses new entries with ENOENT (as /proc
// does: `--out /proc/x` spun at 100% CPU), so folders are created one level at
// a time from the nearest existing ancestor, and a refusal is an error naming
// the folder and the reason.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Creates `dir` and its missing parents (what `mkdir -p` does); an error
 * names the folder and why it cannot be made. Returns the folders it created,
 * outermost first.
 */
export async function ensureFolder(dir: string): Promise<string[]> {
  const target = path.resolve(dir);
  const missing: string[] = [];
  for (let p = target; ;) {
    let isDir: boolean;
    try {
      isDir = (await fs.stat(p)).isDirectory();
    } catch (err) {
      // ENOTDIR: some ancestor is a file; walking up finds and names it.
      if (codeOf(err) !== 'ENOENT' && codeOf(err) !== 'ENOTDIR')
        throw new Error(`cannot create the folder ${target}: ${p}: ${(err as Error).message}`, { cause: err });
      missing.push(p);
      const up = path.dirname(p);
      if (up === p) break;
      p = up;
      continue;
    }
    if (!isDir) throw new Error(`cannot create the folder ${target}: ${p} is a file, not a folder`);
    break;
  }
  const created: string[] = [];
  for (const p of missing.reverse()) {
    try {
      await fs.mkdir(p);
      created.push(p);
    } catch (err) {
      const code = codeOf(err);
      if (code === 'EEXIST' && (await fs.stat(p)).isDirectory()) continue; // made meanwhile by someone else
      const why = code === 'ENOENT' ? `${path.dirname(p)} does not accept new folders (a virtual file system such as /proc?)` : (err as Error).message;
      throw new Error(`cannot create the folder ${target}: ${why}`, { cause: err });
    }
  }
  return created;
}
