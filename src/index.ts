import { Job, ActiveJob, MAX_ID_BYTES } from './job.js';
import { Queue, createQueue } from './queue.js';
import * as errors from './errors.js';
export type { JobOptions, Backoff } from './job-options.js';

export { Job, ActiveJob, MAX_ID_BYTES, Queue, createQueue };
export type { JobArgs } from './job.js';
export type { Jsonify } from './jsonify.js';
export type { AddOutcome, QueueStats, FailedJob, JobErrorRecord, QueueEvents, QueueListener } from './queue.js';
export type { KeepResults, QueueOptions, ResolvedOptions, RedisConfig, DuplicatePolicy, WaitingPolicy, RateLimit, EncryptionOptions, ResolvedEncryption } from './options.js';
export type { Handler, AsyncHandler, CallbackHandler } from './worker.js';
export type { SandboxOptions, SandboxJob } from './sandbox/index.js';
export type { JobInfo, JobState, ListState, WorkerInfo } from './manage.js';
export { createQueueEvents, QueueEventStream } from './events.js';
export type { QueueEvent, QueueEventMap, QueueEventName, QueueEventsOptions } from './events.js';
export type { Plugin } from './hooks.js';
export type { RepeatArgs, RepeatBounds, RepeatInfo, RepeatJobOptions, RepeatSchedule } from './repeat.js';
export type { QueueKeys } from './keys.js';
export { queueKeys } from './keys.js';
export { describeError } from './error-record.js';
export * from './errors.js';

/** The module's default export (`errors`: every error class convoy-queue raises; all extend ConvoyError), in the shape of the original: `Convoy.createQueue`, `new Convoy.Job(id)`. */
const Convoy = { createQueue, Job, Queue, errors };
export default Convoy;
