// SIGINT / SIGTERM / SIGHUP as an AbortSignal: the first asks long work to
// stop after its current step (it saves and reports); a second one exits at
// once. SIGHUP (the terminal or SSH session closed) is a request to stop like
// SIGTERM: by default it would end the process without saving.

/** The signals that ask long work to stop. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** `stopping` says what the first signal does (default: finishing the current step, then saving). */
export async function withStopSignals<T>(fn: (signal: AbortSignal) => Promise<T>, stopping = 'finishing the current step, then saving'): Promise<T> {
  const ctl = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) {
      process.stderr.write(`\n${sig} again: exiting now\n`);
      process.exit(130);
    }
    // after SIGHUP the terminal may be gone: a failed write must not end the run before it saves
    if (sig === 'SIGHUP') for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
    process.stderr.write(`\n${sig}: ${stopping} (send it again to exit now)\n`);
    ctl.abort(sig);
  };
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  try {
    return await fn(ctl.signal);
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
}
