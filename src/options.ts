/**
 * Queue options: one typed interface, the defaults (from config/default.json)
 * and their validation, done once when a queue is created.
 */
import type { RedisClientOptions, RedisClusterOptions } from 'redis';
import defaults from '../config/default.json' with { type: 'json' };
import { InvalidArgumentError, InvalidOptionError } from './errors.js';
import { JOB_OPTION_KEYS, PROCESSING_POLICIES, WAITING_POLICIES, checkJobOptions, type DuplicatePolicy, type JobOptions, type WaitingPolicy } from './job-options.js';
import { MAX_TIMER_MS, describe } from './util.js';
import { resolveEncryption, type EncryptionOptions, type ResolvedEncryption } from './crypto.js';
import { checkPlugins, type Plugin } from './hooks.js';

/** Where Redis is: a URL, node-redis client options, or a cluster. */
export type RedisConfig = string | RedisClientOptions | { cluster: RedisClusterOptions };

export type { DuplicatePolicy, WaitingPolicy } from './job-options.js';
export type { EncryptionOptions, ResolvedEncryption } from './crypto.js';

/** How long finished runs' results are kept: for `age` seconds after the run, and/or the newest `count`. */
export interface KeepResults {
  /** seconds after its run finished */
  age?: number;
  /** the newest so many */
  count?: number;
}

/** At most `max` job starts in any `duration` ms (a sliding window). */
export interface RateLimit {
  max: number;
  /** ms */
  duration: number;
}

export interface QueueOptions {
  /**
   * Where Redis is: a `redis://`, `rediss://` or `unix://` URL, node-redis client
   * options, or `{ cluster: <createCluster options> }`.
   * @default the `CONVOY_REDIS_URL` or `REDIS_URL` environment variable, else `'redis://127.0.0.1:6379'`
   */
  redis?: RedisConfig;
  /**
   * First part of every key: `<prefix>:{<queue>}:…`.
   * @default 'convoy'
   */
  prefix?: string;
  /**
   * Most handlers this queue object runs at once.
   * @default 1
   */
  concurrency?: number;
  /**
   * The original module's name for `concurrency`; give one of the two.
   * @default 1
   */
  concurrentWorkers?: number;
  /**
   * A handler that runs longer fails with a JobTimeoutError (ms, 0 = no limit).
   * @default 5000
   */
  jobTimeout?: number;
  /**
   * How long an idle worker blocks on Redis per call (s).
   * @default 5
   */
  blockingTimeout?: number;
  /**
   * A running job whose worker stops renewing its lease for this long (ms) is
   * recovered as stalled: back to the queue, or failed for good past its
   * `stallLimit`. Workers renew every `stallTimeout / 3`.
   * @default 30000
   */
  stallTimeout?: number;
  /**
   * A Redis call that takes longer rejects with a ConnectionError (ms).
   * @default 5000
   */
  commandTimeout?: number;
  /**
   * An add of an ID that is processing: `'ignore'` it, `'rerun'` the ID once
   * more afterwards (with the newest payload), or `'supersede'` the run (it is
   * cancelled and the ID queued again with the new payload, never beside the
   * old run). A job's own option wins.
   * @default 'ignore'
   */
  duplicateWhileProcessing?: DuplicatePolicy;
  /**
   * An add of an ID that is waiting (queued or scheduled): `'ignore'` it,
   * `'replace'` its payload and options (it keeps its place), or `'debounce'`
   * it (new payload, due `delay` after this add). A job's own option wins.
   * @default 'ignore'
   */
  duplicateWhileWaiting?: WaitingPolicy;
  /**
   * With `'debounce'`: the most ms a job waits after the first add of its
   * burst, however often it is debounced.
   * @default none
   */
  maxWait?: number;
  /**
   * The queue's rate limit, set in Redis when this queue object first
   * connects (as `setRateLimit` does; `null` removes it). Left out, the limit
   * in Redis stays as it is.
   * @default undefined
   */
  rateLimit?: RateLimit | null;
  /**
   * Run `jamGuard(jamGuardIdle)` in this process every so many ms (0 = never).
   * @default 0
   */
  jamGuardInterval?: number;
  /**
   * Idle time (s) after which the periodic jam guard requeues a job.
   * @default 2 × jobTimeout, or 60 without a jobTimeout
   */
  jamGuardIdle?: number;
  /**
   * Entries kept in the queue's error log.
   * @default 1000
   */
  errorLogSize?: number;
  /**
   * Seconds the error log lives after its last entry.
   * @default 604800 (7 days)
   */
  errorLogTtl?: number;
  /**
   * Largest payload accepted, in bytes of JSON.
   * @default 4194304 (4 MiB)
   */
  maxPayloadBytes?: number;
  /**
   * Job options every job added through this queue object gets, unless the
   * job gives its own (key by key; a job's `delay` or `runAt` replaces both).
   * @default none
   */
  defaultJobOptions?: JobOptions;
  /**
   * Computes the delay (ms) before a retry in the worker, instead of each
   * job's `backoff`: `(attempt, error) => ms`, `attempt` being the run that failed.
   * @default none
   */
  backoffStrategy?: (attempt: number, error: Error) => number;
  /**
   * Keep payloads, progress and error records encrypted in Redis (AES-256-GCM):
   * `{ keys: { [id]: 32-byte Buffer }, current: id }`. New data is written with
   * `current`; data written with any other key in `keys` still reads, so keys
   * can rotate. Job IDs and job options stay plain. `maxPayloadBytes` counts
   * the plain JSON.
   * @default none
   */
  encryption?: EncryptionOptions;
  /**
   * Append each state change of a job (added, scheduled, active, progress,
   * completed, retrying, failed, stalled, removed) and of the queue (paused,
   * resumed, obliterated) to the queue's event stream, in the script that
   * makes it (see `createQueueEvents`). `false` writes none, for the last bit
   * of speed; `waitForResult` then polls the kept result.
   * @default true
   */
  events?: boolean;
  /**
   * About how many events the stream keeps (`XADD MAXLEN ~`): a listener
   * that falls further behind loses the oldest.
   * @default 10000
   */
  eventsMaxLen?: number;
  /**
   * Keep each finished run's result (what its handler resolved, as JSON) or
   * final error with its ID, for `waitForResult` and `getJob`: for `age`
   * seconds and/or the newest `count` (both bounds hold; `{}` keeps them
   * all). Trimmed by the scripts that keep them. `false` keeps none.
   * @default { age: 3600 }
   */
  keepResults?: KeepResults | false;
  /**
   * Hooks called in the process where each thing happens: `onJobAdded` in
   * the producer, the others in the worker. A hook that throws or rejects is
   * reported as an 'error' event and changes nothing.
   * @default []
   */
  plugins?: Plugin[];
}

/**
 * The known option keys: the one list unknown keys are checked against. Being a
 * Record of QueueOptions' keys, it fails to compile when the two disagree.
 */
const OPTION_KEYS: Readonly<Record<keyof QueueOptions, true>> = {
  redis: true,
  prefix: true,
  concurrency: true,
  concurrentWorkers: true,
  jobTimeout: true,
  blockingTimeout: true,
  commandTimeout: true,
  duplicateWhileProcessing: true,
  duplicateWhileWaiting: true,
  maxWait: true,
  rateLimit: true,
  jamGuardInterval: true,
  jamGuardIdle: true,
  errorLogSize: true,
  errorLogTtl: true,
  maxPayloadBytes: true,
  encryption: true,
  events: true,
  eventsMaxLen: true,
  keepResults: true,
  plugins: true,
  stallTimeout: true,
  defaultJobOptions: true,
  backoffStrategy: true,
};

export interface ResolvedOptions {
  readonly redis: RedisConfig;
  readonly prefix: string;
  readonly concurrency: number;
  readonly jobTimeout: number;
  readonly blockingTimeout: number;
  readonly commandTimeout: number;
  readonly stallTimeout: number;
  readonly duplicateWhileProcessing: DuplicatePolicy;
  readonly duplicateWhileWaiting: WaitingPolicy;
  readonly maxWait: number | undefined;
  readonly rateLimit: RateLimit | null | undefined;
  readonly jamGuardInterval: number;
  readonly jamGuardIdle: number;
  readonly errorLogSize: number;
  readonly errorLogTtl: number;
  readonly maxPayloadBytes: number;
  readonly defaultJobOptions: JobOptions | undefined;
  readonly backoffStrategy: ((attempt: number, error: Error) => number) | undefined;
  readonly encryption: ResolvedEncryption | undefined;
  readonly events: boolean;
  readonly eventsMaxLen: number;
  readonly keepResults: Readonly<KeepResults> | false;
  readonly plugins: readonly Plugin[];
}

// A name or prefix becomes part of every key: no hash-tag braces, glob
// characters, whitespace or control characters, so it cannot leave its tag.
const SAFE_NAME = /^[^\s{}*?[\]\\\p{Cc}]{1,200}$/u;

function fail(what: string, value: unknown, expected: string): never {
  throw new InvalidOptionError(`${what} must be ${expected}, got ${describe(value)}`);
}

/**
 * Refuse keys of an options object that are not in `known`, suggesting the
 * nearest known key: "unknown option `concurrncy`; did you mean `concurrency`?".
 */
export function checkKeys(what: string, opts: object, known: readonly string[]): void {
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    const near = nearest(key, known);
    const hint = near ? `; did you mean \`${near}\`?` : ` (${what} takes ${known.map((k) => `\`${k}\``).join(', ')})`;
    throw new InvalidOptionError(`unknown ${what} \`${key}\`${hint}`);
  }
}

/** The known key closest to `key`, if it is close enough to be a typo of it. */
function nearest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : distance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

function checkName(what: string, value: unknown): string {
  if (typeof value !== 'string' || !SAFE_NAME.test(value) || !value.isWellFormed()) {
    fail(what, value, 'a well-formed string of 1 to 200 characters without whitespace, control characters, braces, *, ?, [, ] or \\');
  }
  return value;
}


function number(what: string, value: unknown, fallback: number, min: number, integer = true, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    const range = max < Number.MAX_SAFE_INTEGER ? `from ${min} to ${max}` : `>= ${min}`;
    fail(what, value, `${integer ? 'an integer' : 'a number'} ${range}`);
  }
  return value;
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
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) fail('options', opts, 'an object');
  for (const key of Object.keys(opts)) {
    if (!(key in OPTION_KEYS) && (JOB_OPTION_KEYS as readonly string[]).includes(key)) {
      throw new InvalidOptionError(`unknown option \`${key}\`; it is a job option: give it to \`new Job(id, payload, { ${key} })\` or in \`defaultJobOptions\``);
    }
  }
  checkKeys('option', opts, Object.keys(OPTION_KEYS));
  if (opts.concurrency !== undefined && opts.concurrentWorkers !== undefined && opts.concurrency !== opts.concurrentWorkers) {
    throw new InvalidOptionError(
      `concurrency and concurrentWorkers name the same option; give one (got ${describe(opts.concurrency)} and ${describe(opts.concurrentWorkers)})`,
    );
  }
  const policy = opts.duplicateWhileProcessing ?? (defaults.duplicateWhileProcessing as DuplicatePolicy);
  if (!PROCESSING_POLICIES.includes(policy)) fail('duplicateWhileProcessing', policy, "'ignore', 'rerun' or 'supersede'");
  const waiting = opts.duplicateWhileWaiting ?? (defaults.duplicateWhileWaiting as WaitingPolicy);
  if (!WAITING_POLICIES.includes(waiting)) fail('duplicateWhileWaiting', waiting, "'ignore', 'replace' or 'debounce'");
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
      duplicateWhileWaiting: waiting,
      maxWait: opts.maxWait === undefined ? undefined : number('maxWait', opts.maxWait, 0, 1),
      rateLimit: opts.rateLimit === undefined || opts.rateLimit === null ? opts.rateLimit : checkRateLimit('rateLimit', opts.rateLimit),
      jamGuardInterval: timer('jamGuardInterval', opts.jamGuardInterval, defaults.jamGuardInterval, 0),
      jamGuardIdle: number('jamGuardIdle', opts.jamGuardIdle, idleDefault, 0, false),
      errorLogSize: number('errorLogSize', opts.errorLogSize, defaults.errorLogSize, 1),
      errorLogTtl: number('errorLogTtl', opts.errorLogTtl, defaults.errorLogTtl, 1),
      maxPayloadBytes: number('maxPayloadBytes', opts.maxPayloadBytes, defaults.maxPayloadBytes, 1),
      defaultJobOptions: opts.defaultJobOptions === undefined ? undefined : (checkJobOptions(opts.defaultJobOptions), opts.defaultJobOptions),
      backoffStrategy: opts.backoffStrategy === undefined || typeof opts.backoffStrategy === 'function' ? opts.backoffStrategy : fail('backoffStrategy', opts.backoffStrategy, 'a function (attempt, error) => ms'),
      encryption: opts.encryption === undefined ? undefined : resolveEncryption(opts.encryption),
      events: opts.events === undefined || typeof opts.events === 'boolean' ? (opts.events ?? defaults.events) : fail('events', opts.events, 'true or false'),
      eventsMaxLen: number('eventsMaxLen', opts.eventsMaxLen, defaults.eventsMaxLen, 1),
      keepResults: keepResults(opts.keepResults),
      plugins: opts.plugins === undefined ? [] : checkPlugins(opts.plugins),
    },
  };
}

function keepResults(value: unknown): Readonly<KeepResults> | false {
  if (value === undefined) return defaults.keepResults;
  if (value === false) return false;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('keepResults', value, '{ age?, count? } or false');
  checkKeys('keepResults key', value, ['age', 'count']);
  const { age, count } = value as KeepResults;
  return {
    ...(age === undefined ? {} : { age: number('keepResults.age', age, 0, 1, false) }),
    ...(count === undefined ? {} : { count: number('keepResults.count', count, 0, 1) }),
  };
}

/** A rate limit `{ max, duration }`: at least one start per window, a window a timer can hold. */
export function checkRateLimit(what: string, value: unknown): RateLimit {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(what, value, '{ max, duration } or null');
  checkKeys(`${what} key`, value, ['max', 'duration']);
  const { max, duration } = value as Record<string, unknown>;
  if (max === undefined || duration === undefined) fail(what, value, '{ max, duration } with both keys');
  return { max: number(`${what}.max`, max, NaN, 1), duration: timer(`${what}.duration`, duration, NaN, 1) };
}

/**
 * The options object of a method call (`{}` when left out): an object whose
 * keys are all in `known`, else an InvalidArgumentError / InvalidOptionError.
 */
export function callOptions<T extends object>(call: string, opts: T | undefined, known: ReadonlyArray<keyof T & string>): Partial<T> {
  if (opts === undefined) return {};
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new InvalidArgumentError(`${call} takes an options object, got ${describe(opts)}`);
  }
  checkKeys(`${call} option`, opts, known);
  return opts;
}

/** A number in a method call's options: finite, at least `min`, an integer when asked. */
export function checkCallNumber(call: string, name: string, value: unknown, min: number, integer: boolean): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new InvalidOptionError(`${call} option \`${name}\` must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${describe(value)}`);
  }
}
