// The error every bad input in the data layer raises: a message that names the
// file, folder, label or option, what was expected and what was found.

export class DataError extends Error {
  override name = 'DataError';
  /** The file or folder the error is about, when there is one. */
  readonly path: string | undefined;

  constructor(message: string, options: { path?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.path = options.path;
  }
}

export { messageOf } from '../util/errors.js';
