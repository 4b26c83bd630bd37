// SIGINT / SIGTERM as an AbortSignal: the first asks long work to stop after
// its current step (it saves and reports); a second one exits at once.

/** `stopping` says what the first signal does (default: finishing the current step, then saving). */
export async function withStopSignals<T>(fn: (signal: AbortSignal) => Promise<T>, stopping = 'finishing the current step, then saving'): Promise<T> {
  const ctl = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) {
      process.stderr.write(`\n${sig} again: exiting now\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: ${stopping} (send it again to exit now)\n`);
    ctl.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(ctl.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
