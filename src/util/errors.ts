// Errors a person can act on. A UsageError is bad input (exit 2); other
// errors are failures (exit 1). Both print one clear message, no stack.

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Work stopped by SIGINT/SIGTERM before it finished (exit 130, as a shell reports Ctrl-C); what was saved is said in the message. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

/** The message of an unknown thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Formats an error for the terminal: the message, plus the stack when BIT_DEBUG is set. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error && !err.message.includes(err.cause.message) ? `\n  caused by: ${err.cause.message}` : '';
    return process.env.BIT_DEBUG ? `${err.stack ?? err.message}${cause}` : `${err.message}${cause}`;
  }
  return String(err);
}
