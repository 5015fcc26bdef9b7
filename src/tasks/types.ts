/**
 * The public types of Ivy's tasks: what a task is, its options, a call's
 * options and result, and the statuses a call goes through.
 */
import type { Backoff, QueueOptions } from '../index.js';

/** A task: an async (or plain) function of JSON arguments, or a Node-style one (`{ callback: true }`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type TaskFunction = (...args: any[]) => unknown;

/** A Node-style callback: `(err)` or `(null, ...results)`. */
export type TaskCallback = (err: Error | null, ...results: unknown[]) => void;

export interface TaskOptions {
  /**
   * The task's name, unique per task queue; "package.module.function" reads well.
   * @default the function's name (an anonymous function needs one)
   */
  name?: string;
  /**
   * The task is Node-style: its last argument is a callback `(err, ...results)`,
   * and its result is the array `results` (Ivy's task result). Told by this
   * option, never guessed from `fn.length`.
   * @default false: the result is what the function returns (or resolves)
   */
  callback?: boolean;
  /**
   * Calls with equal arguments that overlap share one run and all get its
   * result; false: every call runs on its own.
   * @default true
   */
  unique?: boolean;
  /**
   * Runs allowed in all, the first included.
   * @default 1
   */
  attempts?: number;
  /**
   * Each run's time limit in ms (0 = none).
   * @default the queue's jobTimeout
   */
  timeout?: number;
  /**
   * Delay before each retry.
   * @default 0
   */
  backoff?: Backoff;
  /**
   * 0 to 1,000,000: lower runs first.
   * @default 0
   */
  priority?: number;
}

export const TASK_OPTION_KEYS: ReadonlyArray<keyof TaskOptions> = ['name', 'callback', 'unique', 'attempts', 'timeout', 'backoff', 'priority'];

export interface TaskQueueOptions extends QueueOptions {
  /**
   * ms between a producer's reads of the queue's kept results of its calls
   * still waiting: the fallback for a missed message (a subscriber that lost
   * its connection also reads them as soon as it is back). The queue must
   * keep results: `keepResults: false` is refused.
   * @default 5000
   */
  fallbackInterval?: number;
}

/** Options of one call (`callWith`). */
export interface CallOptions {
  /**
   * Reject with a TaskTimeoutError when no result came within this many ms
   * (the task itself goes on).
   * @default none: wait as long as it takes
   */
  timeout?: number;
}

/**
 * Ivy's task statuses: `scheduled` (waiting in the queue, or for a retry),
 * `running`, `errored` (failed for good), `successful` (done on the consumer,
 * result kept) and `done` (successful, and a producer got it).
 */
export type TaskStatus = 'scheduled' | 'running' | 'errored' | 'successful' | 'done';

/** A call: its job ID (for `status`) and its result. */
export interface TaskCall<R = unknown> {
  id: string;
  result: Promise<R>;
}

/** The job payload of a call. */
export interface TaskPayload {
  task: string;
  arguments: unknown[];
}

