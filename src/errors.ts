/** Base class of every error convoy-queue raises itself. */
export class ConvoyError extends Error {
  override name = 'ConvoyError';
}

/** A job ID that is not a non-empty string or finite number, or is too long. */
export class InvalidJobIdError extends TypeError {
  override name = 'InvalidJobIdError';
}

/** A payload that is not JSON data, or is too large. */
export class InvalidPayloadError extends TypeError {
  override name = 'InvalidPayloadError';
}

/** A queue name or option value that cannot work. */
export class InvalidOptionError extends TypeError {
  override name = 'InvalidOptionError';
}

/** Redis could not be reached, or did not answer in time. */
export class ConnectionError extends ConvoyError {
  override name = 'ConnectionError';
}

/** A handler ran for longer than `jobTimeout`. */
export class JobTimeoutError extends ConvoyError {
  override name = 'JobTimeoutError';
}

/** A queue method was called after `close()`. */
export class QueueClosedError extends ConvoyError {
  override name = 'QueueClosedError';
}

/** Data in a queue's keys that convoy-queue did not write (wrong type, bad JSON). */
export class ForeignDataError extends ConvoyError {
  override name = 'ForeignDataError';
  constructor(readonly key: string, detail: string) {
    super(`unexpected data in ${key}: ${detail}`);
  }
}

/** Thrown by a handler: its job fails for good at once, whatever attempts it has left. */
export class UnrecoverableError extends ConvoyError {
  override name = 'UnrecoverableError';
}

/** A job was not started before its `expiresAt`: it fails for good and never runs. */
export class JobExpiredError extends ConvoyError {
  override name = 'JobExpiredError';
}

/** obliterate() was refused: jobs are processing (pass `{ force: true }` to obliterate all the same). */
export class QueueBusyError extends ConvoyError {
  override name = 'QueueBusyError';
}
