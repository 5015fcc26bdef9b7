/**
 * `convoy-queue/tasks`: Ivy's tasks (register a function, call it from a
 * producer, run it on a consumer, get its result back) on a convoy queue.
 */
export { TaskQueue, createTaskQueue } from './task-queue.js';
export type { CallOptions, TaskCall, TaskCallback, TaskFunction, TaskOptions, TaskPayload, TaskQueueOptions, TaskStatus } from './task-queue.js';
export { TaskTimeoutError, UnknownTaskError } from './errors.js';
export { RemoteJobError } from './remote.js';
export type { RemoteError } from './notifier.js';
