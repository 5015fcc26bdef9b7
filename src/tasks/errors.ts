/** The errors of the tasks layer (`convoy-queue/tasks`); like every convoy-queue error, they are ConvoyErrors. */
import { ConvoyError, UnrecoverableError } from '../index.js';

/**
 * A task name (or function) that is not registered on this task queue. A
 * producer's call of one is refused at once; a consumer that gets a job of one
 * fails it for good (an UnrecoverableError: no retries), and its failure
 * record names the task.
 */
export class UnknownTaskError extends UnrecoverableError {
  override name = 'UnknownTaskError';
}

/** A call's `timeout` passed before its result came; the task itself goes on. */
export class TaskTimeoutError extends ConvoyError {
  override name = 'TaskTimeoutError';
}
