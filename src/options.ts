/**
 * Queue options: one typed interface, the defaults (from config/default.json)
 * and their validation, done once when a queue is created.
 */
import type { RedisClientOptions, RedisClusterOptions } from 'redis';
import defaults from '../config/default.json' with { type: 'json' };
import { InvalidOptionError } from './errors.js';
import { checkJobOptions, type JobOptions } from './job-options.js';

/** Where Redis is: a URL, node-redis client options, or a cluster. */
export type RedisConfig = string | RedisClientOptions | { cluster: RedisClusterOptions };

export type DuplicatePolicy = 'ignore' | 'rerun';

export interface QueueOptions {
  /** Redis URL or node-redis options. Default: `CONVOY_REDIS_URL`, `REDIS_URL`, then config/default.json. */
  redis?: RedisConfig;
  /** First part of every key: `<prefix>:{<queue>}:…`. Default `convoy`. */
  prefix?: string;
  /** Most handlers this queue object runs at once. Default 1. */
  concurrency?: number;
  /** The original module's name for `concurrency`. */
  concurrentWorkers?: number;
  /** A handler that runs longer fails with a JobTimeoutError (ms, 0 = no limit). Default 5000. */
  jobTimeout?: number;
  /** How long an idle worker blocks on Redis per call (s). Default 5. */
  blockingTimeout?: number;
  /** A running job whose worker stops renewing its lease for this long (ms) is recovered as stalled. Default 30000. */
  stallTimeout?: number;
  /** A Redis call that takes longer rejects with a ConnectionError (ms). Default 5000. */
  commandTimeout?: number;
  /** An add of an ID that is processing: ignore it, or run the ID once more afterwards. Default `ignore`. */
  duplicateWhileProcessing?: DuplicatePolicy;
  /** Run `jamGuard(jamGuardIdle)` in this process every so many ms (0 = never). Default 0. */
  jamGuardInterval?: number;
  /** Idle time (s) after which the periodic jam guard requeues a job. Default: 2 × jobTimeout, or 60 s without one. */
  jamGuardIdle?: number;
  /** Entries kept in the queue's error log. Default 1000. */
  errorLogSize?: number;
  /** Seconds the error log lives after its last entry. Default 7 days. */
  errorLogTtl?: number;
  /** Largest payload accepted, in bytes of JSON. Default 4 MiB. */
  maxPayloadBytes?: number;
  /** Options every job added through this queue object gets, unless the job gives its own. Default none. */
  defaultJobOptions?: JobOptions;
  /** Computes the delay (ms) before a retry in the worker, instead of each job's `backoff`. Default none. */
  backoffStrategy?: (attempt: number, error: Error) => number;
}

export interface ResolvedOptions {
  readonly redis: RedisConfig;
  readonly prefix: string;
  readonly concurrency: number;
  readonly jobTimeout: number;
  readonly blockingTimeout: number;
  readonly commandTimeout: number;
  readonly stallTimeout: number;
  readonly duplicateWhileProcessing: DuplicatePolicy;
  readonly jamGuardInterval: number;
  readonly jamGuardIdle: number;
  readonly errorLogSize: number;
  readonly errorLogTtl: number;
  readonly maxPayloadBytes: number;
  readonly defaultJobOptions: JobOptions | undefined;
  readonly backoffStrategy: ((attempt: number, error: Error) => number) | undefined;
}

// A name or prefix becomes part of every key: no hash-tag braces, glob
// characters, whitespace or control characters, so it cannot leave its tag.
const SAFE_NAME = /^[^\s{}*?[\]\\\p{Cc}]{1,200}$/u;

function fail(what: string, value: unknown, expected: string): never {
  throw new InvalidOptionError(`${what} must be ${expected}, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return typeof value;
}

function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !SAFE_NAME.test(value) || !value.isWellFormed()) {
    fail(what, value, 'a well-formed string of 1 to 200 characters without whitespace, control characters, braces, *, ?, [, ] or \\');
  }
  return value;
}

/** The longest delay Node's timers take (ms); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function number(what: string, value: unknown, fallback: number, min: number, integer = true, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    const range = max < Number.MAX_SAFE_INTEGER ? `from ${min} to ${max}` : `>= ${min}`;
    fail(what, value, `${integer ? 'an integer' : 'a number'} ${range}`);
  }
  return value;
}

/** The `timeout` of close and stopProcessing: undefined (wait as long as it takes) or ms. */
export function checkStopTimeout(value: unknown): number | undefined {
  return value === undefined ? undefined : timer('timeout', value, 0, 0);
}

/** A duration in ms that becomes a timer. */
function timer(what: string, value: unknown, fallback: number, min: number): number {
  return number(what, value, fallback, min, true, MAX_TIMER_MS);
}

function redisConfig(value: unknown): RedisConfig {
  if (value === undefined) {
    return process.env.CONVOY_REDIS_URL || process.env.REDIS_URL || defaults.redis;
  }
  if (typeof value === 'string') {
    if (!/^rediss?:\/\/|^unix:\/\//.test(value)) fail('redis', value, 'a redis://, rediss:// or unix:// URL');
    return value;
  }
  if (typeof value === 'object' && value !== null) return value as RedisConfig;
  return fail('redis', value, 'a URL or node-redis options');
}

/** Validate a queue's name and options and fill in the defaults. */
export function resolveOptions(name: unknown, opts: QueueOptions = {}): { name: string; options: ResolvedOptions } {
  checkName('queue name', name);
  if (typeof opts !== 'object' || opts === null) fail('options', opts, 'an object');
  if (opts.concurrency !== undefined && opts.concurrentWorkers !== undefined && opts.concurrency !== opts.concurrentWorkers) {
    throw new InvalidOptionError('concurrency and concurrentWorkers name the same option; give one');
  }
  const policy = opts.duplicateWhileProcessing ?? (defaults.duplicateWhileProcessing as DuplicatePolicy);
  if (policy !== 'ignore' && policy !== 'rerun') fail('duplicateWhileProcessing', policy, "'ignore' or 'rerun'");
  const jobTimeout = timer('jobTimeout', opts.jobTimeout, defaults.jobTimeout, 0);
  const idleDefault = defaults.jamGuardIdle || (jobTimeout > 0 ? (2 * jobTimeout) / 1000 : 60);
  return {
    name: name as string,
    options: {
      redis: redisConfig(opts.redis),
      prefix: checkName('prefix', opts.prefix ?? defaults.prefix),
      concurrency: number('concurrency', opts.concurrency ?? opts.concurrentWorkers, defaults.concurrency, 1),
      jobTimeout,
      blockingTimeout: number('blockingTimeout', opts.blockingTimeout, defaults.blockingTimeout, 0.01, false, MAX_TIMER_MS / 2000),
      commandTimeout: timer('commandTimeout', opts.commandTimeout, defaults.commandTimeout, 1),
      stallTimeout: timer('stallTimeout', opts.stallTimeout, defaults.stallTimeout, 30),
      duplicateWhileProcessing: policy,
      jamGuardInterval: timer('jamGuardInterval', opts.jamGuardInterval, defaults.jamGuardInterval, 0),
      jamGuardIdle: number('jamGuardIdle', opts.jamGuardIdle, idleDefault, 0, false),
      errorLogSize: number('errorLogSize', opts.errorLogSize, defaults.errorLogSize, 1),
      errorLogTtl: number('errorLogTtl', opts.errorLogTtl, defaults.errorLogTtl, 1),
      maxPayloadBytes: number('maxPayloadBytes', opts.maxPayloadBytes, defaults.maxPayloadBytes, 1),
      defaultJobOptions: opts.defaultJobOptions === undefined ? undefined : (checkJobOptions(opts.defaultJobOptions), opts.defaultJobOptions),
      backoffStrategy: opts.backoffStrategy === undefined || typeof opts.backoffStrategy === 'function' ? opts.backoffStrategy : fail('backoffStrategy', opts.backoffStrategy, 'a function (attempt, error) => ms'),
    },
  };
}
