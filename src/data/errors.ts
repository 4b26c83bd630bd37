// The error every bad input in the data layer raises: a message that names the
// file, folder, label or option, what was expected and what was found.
import { UsageError } from '../util/errors.js';

export class DataError extends Error {
  override name = 'DataError';
  /** The file or folder the error is about, when there is one. */
  readonly path: string | undefined;

  constructor(message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = options.path;
  }
}

/**
 * A malformed dataset spec string (its syntax, an unknown dataset or option,
 * a bad or repeated option value): a usage error, exit 2 at the command line.
 */
export class DataSpecError extends UsageError {
  override name = 'DataSpecError';
}

export { messageOf } from '../util/errors.js';
