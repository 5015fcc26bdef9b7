/**
 * `convoy-queue/tasks`: Ivy's tasks (register a function, call it from a
 * producer, run it on a consumer, get its result back) on a convoy queue.
 */
export { TaskQueue, createTaskQueue } from './task-queue.js';
export type { CallOptions, TaskCall, TaskCallback, TaskFunction, TaskOptions, TaskPayload, TaskQueueOptions, TaskStatus } from './task-queue.js';
export { TaskTimeoutError, UnknownTaskError } from './errors.js';
// a failed call rejects with the core's RemoteJobError (re-exported here for convenience)
export { RemoteJobError } from '../index.js';
export type { RemoteError } from './notifier.js';
