/**
 * Every error convoy-queue raises is a ConvoyError. Misuse of the API (a wrong
 * argument, an unknown option, a call after close(), a second process()) throws
 * or rejects with one of the subclasses below, and its message quotes the bad
 * value as it was given (see `describe`).
 */

/** Base class of every error convoy-queue raises itself. */
export class ConvoyError extends Error {
  override name = 'ConvoyError';
}

/** A method was called with an argument of the wrong type or shape (`jamGuard('5')`, `addJobs('x')`). */
export class InvalidArgumentError extends ConvoyError {
  override name = 'InvalidArgumentError';
}

/** A job ID that is not a non-empty string or finite number, or is too long. */
export class InvalidJobIdError extends InvalidArgumentError {
  override name = 'InvalidJobIdError';
}

/** A payload that is not JSON data, or is too large. */
export class InvalidPayloadError extends InvalidArgumentError {
  override name = 'InvalidPayloadError';
}

/** A queue name, option value or option key that cannot work. */
export class InvalidOptionError extends InvalidArgumentError {
  override name = 'InvalidOptionError';
}

/** `process()` was called on a queue object that already runs a handler. */
export class AlreadyProcessingError extends ConvoyError {
  override name = 'AlreadyProcessingError';
}

/** A queue method was called after `close()`. */
export class QueueClosedError extends ConvoyError {
  override name = 'QueueClosedError';
}

/** Redis could not be reached, or did not answer in time. */
export class ConnectionError extends ConvoyError {
  override name = 'ConnectionError';
}

/** A handler ran for longer than `jobTimeout`. */
export class JobTimeoutError extends ConvoyError {
  override name = 'JobTimeoutError';
}

/** Data in a queue's keys that convoy-queue did not write (wrong type, bad JSON). */
export class ForeignDataError extends ConvoyError {
  override name = 'ForeignDataError';
  constructor(readonly key: string, detail: string) {
    super(`unexpected data in ${key}: ${detail}`);
  }
}

/**
 * Data the queue keeps encrypted (the `encryption` option) that this queue
 * object cannot decrypt: its key id is not in `encryption.keys`, the data was
 * changed, or the queue object has no `encryption`. A job whose payload cannot
 * be decrypted fails for good with it and never runs.
 */
export class DecryptionError extends ConvoyError {
  override name = 'DecryptionError';
  constructor(readonly key: string, detail: string) {
    super(`cannot decrypt data in ${key}: ${detail}`);
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

/**
 * Thrown by a handler that met a rate limit outside (an HTTP 429): its job goes
 * back to the head of the queue, not counted as a failure or an attempt, and
 * the whole queue starts no job for `ms` milliseconds.
 */
export class RateLimitError extends ConvoyError {
  override name = 'RateLimitError';
  constructor(
    readonly ms: number,
    message = `rate limited: the queue waits ${ms} ms`,
  ) {
    super(message);
  }
}

/**
 * A sandboxed handler (`process(file, { sandbox })`) could not run its job:
 * its module did not load, or its sandbox died (process.exit, an uncaught
 * exception, out of memory) or was terminated (it ignored its abort).
 */
export class SandboxError extends ConvoyError {
  override name = 'SandboxError';
}

/** An error as it crossed processes: what a failed run's record keeps of it. */
export interface RemoteErrorInfo {
  name: string;
  message: string;
  stack?: string;
  /** the error's `code`, when it had one (JSON data) */
  code?: unknown;
  /** its `cause`: an error as an error record (to a bounded depth), else JSON data */
  cause?: RemoteErrorInfo | unknown;
  /** the error's own enumerable properties (JSON data; dropped past 8 KiB) */
  data?: Record<string, unknown>;
}

/**
 * A job failed for good in a worker (maybe in another process): its message
 * is the original one; `remote` holds the original name, stack, code, cause
 * and own data.
 */
export class RemoteJobError extends ConvoyError {
  override name = 'RemoteJobError';
  readonly remote: RemoteErrorInfo;
  constructor(
    message: string,
    remote?: RemoteErrorInfo,
    /** the job that failed */
    readonly jobId = '',
  ) {
    super(message);
    this.remote = remote ?? { name: 'Error', message };
  }
}

/** The job waited for was removed (removeJob, drain, obliterate), or is not in the queue and has no kept result. */
export class JobRemovedError extends ConvoyError {
  override name = 'JobRemovedError';
}

/** A wait (waitForResult) did not end within its `timeout`. */
export class WaitTimeoutError extends ConvoyError {
  override name = 'WaitTimeoutError';
}
