// Starting worker threads from compiled or source modules alike.

/**
 * The URL of a worker module beside `importMetaUrl` (e.g. worker.js next to
 * loader.js, or worker.ts next to loader.ts when run from source), so that any
 * compiled output folder works.
 */
export function siblingWorkerUrl(importMetaUrl: string, base: string): URL {
  return new URL(importMetaUrl.endsWith('.ts') ? `./${base}.ts` : `./${base}.js`, importMetaUrl);
}

/**
 * The parent's Node options for worker threads, less those that only make
 * sense for the main script (--input-type, --eval/-e, --print/-p and its
 * code), so that e.g. `node --input-type=module -e ...` can start workers
 * while --import, --loader or --enable-source-maps still reach them.
 */
export function workerExecArgv(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let k = 0; k < args.length; k++) {
    const a = args[k];
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '-pe') {
      k++;
      continue;
    }
    if (a.startsWith('--input-type') || a.startsWith('--eval=') || a.startsWith('--print=')) continue;
    out.push(a);
  }
  return out;
}
