// Whether the process that left a file behind still runs, for run-folder locks
// and temporary files that name their owner by process id. kill(pid, 0) says
// whether a pid is in use; on Linux the process's start time and the boot it
// belongs to tell the owner apart from an unrelated process that got its pid
// after it died (or after a reboot).
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

/** Who a process is, as recorded in a lock file. */
export interface ProcessIdentity {
  pid: number;
  host: string;
  /** Linux: /proc/sys/kernel/random/boot_id of the boot it ran in. */
  bootId?: string;
  /** Linux: its start time in clock ticks after boot (/proc/PID/stat, field 22). */
  startTicks?: number;
}

function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  return readProc('/proc/sys/kernel/random/boot_id')?.trim() || undefined;
}

function startTicks(pid: number): number | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // field 2, the command name, is in parentheses and may hold spaces: fields 3.. follow the last ')'
  const v = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[22 - 3]);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** This process (or `pid` on this machine), as a lock file records it. */
export function processIdentity(pid = process.pid): ProcessIdentity {
  return { pid, host: os.hostname(), bootId: bootId(), startTicks: startTicks(pid) };
}

/** Whether a process with this id exists on this machine (one owned by another user counts). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * 'alive' when the recorded process still runs, 'dead' when it does not (its
 * pid is free, or now belongs to a process started later or in another boot),
 * 'elsewhere' when it ran on another machine, where this one cannot look.
 */
export function processState(id: ProcessIdentity): 'alive' | 'dead' | 'elsewhere' {
  if (id.host !== os.hostname()) return 'elsewhere';
  const boot = bootId();
  if (id.bootId !== undefined && boot !== undefined && id.bootId !== boot) return 'dead';
  if (!isProcessAlive(id.pid)) return 'dead';
  if (id.startTicks !== undefined) {
    const now = startTicks(id.pid);
    if (now !== undefined && now !== id.startTicks) return 'dead';
  }
  return 'alive';
}
