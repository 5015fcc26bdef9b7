/**
 * Per-job options: their type, their validation (when a Job is made, so a bad
 * option writes nothing) and the backoff they describe.
 */
import { InvalidOptionError } from './errors.js';
import { MAX_TIMER_MS, describe } from './util.js';

/** How long to wait before a retry: a fixed delay in ms, or a rule. */
export type Backoff =
  | number
  | {
      type: 'fixed' | 'exponential';
      /** ms: the fixed delay, or the first one of an exponential backoff */
      delay: number;
      /** ms: the longest delay of an exponential backoff. Default: none. */
      maxDelay?: number;
      /** 0..1: each delay is drawn from [delay × (1 − jitter), delay]. Default 0. */
      jitter?: number;
    };

/** An add of an ID that is waiting (queued or scheduled): leave it as it is, replace its payload and options, or debounce it. */
export type WaitingPolicy = 'ignore' | 'replace' | 'debounce';

/** An add of an ID that is processing: ignore it, run the ID once more afterwards, or cancel the run and queue the ID again. */
export type DuplicatePolicy = 'ignore' | 'rerun' | 'supersede';

export interface JobOptions {
  /** Run no sooner than this many ms from now. Give at most one of `delay` and `runAt`. */
  delay?: number;
  /** Run no sooner than this time (a Date, or ms since the epoch). */
  runAt?: Date | number;
  /** Runs allowed in all, the first included. Default 1 (no retry). */
  attempts?: number;
  /** Delay before each retry. Default 0 (retry at once). */
  backoff?: Backoff;
  /** Stalls allowed (its worker stopped renewing its lease) before the job fails for good. Default 1. */
  stallLimit?: number;
  /** This job's run time limit in ms (0 = none). Default: the queue's `jobTimeout`. */
  timeout?: number;
  /** Not started by then (a Date, or ms since the epoch): it fails for good with an ExpiredError and never runs. */
  expiresAt?: Date | number;
  /** 0 to 1,000,000: lower runs first; first in, first out within one priority. Default 0. */
  priority?: number;
  /**
   * The job's group (a customer ID, say): the queue's group concurrency and
   * group rate limit apply to each group apart, and groups take turns. Default: none.
   */
  group?: string;
  /** This add, when the ID is already waiting. Default: the queue's `duplicateWhileWaiting`. */
  duplicateWhileWaiting?: WaitingPolicy;
  /** With `duplicateWhileWaiting: 'debounce'`: the most ms a debounced job waits after the first add of its burst. Default: the queue's `maxWait` (none). */
  maxWait?: number;
  /** This add, when the ID is processing. Default: the queue's `duplicateWhileProcessing`. */
  duplicateWhileProcessing?: DuplicatePolicy;
}

/** The options kept in Redis with a job: only those that matter once it waits. */
export interface StoredJobOptions {
  attempts?: number;
  backoff?: Backoff;
  stallLimit?: number;
  timeout?: number;
  /** ms since the epoch */
  expiresAt?: number;
  priority?: number;
  group?: string;
}

/** How an add treats an ID that is already committed: kept with the add, not with the job. */
export interface AddPolicy {
  waiting?: WaitingPolicy;
  processing?: DuplicatePolicy;
  maxWait?: number;
}

export const JOB_OPTION_KEYS = [
  'delay', 'runAt', 'attempts', 'backoff', 'stallLimit', 'timeout', 'expiresAt', 'priority', 'group', 'duplicateWhileWaiting', 'maxWait', 'duplicateWhileProcessing',
] as const;

export const WAITING_POLICIES: readonly WaitingPolicy[] = ['ignore', 'replace', 'debounce'];
export const PROCESSING_POLICIES: readonly DuplicatePolicy[] = ['ignore', 'rerun', 'supersede'];

/** Longest group name, in UTF-8 bytes (it becomes part of a key). */
export const MAX_GROUP_BYTES = 256;

function bad(what: string, value: unknown, expected: string): never {
  throw new InvalidOptionError(`job option ${what} must be ${expected}, got ${describe(value)}`);
}

function int(what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    bad(what, value, `an integer from ${min} to ${max}`);
  }
  return value;
}

function time(what: string, value: unknown): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) bad(what, value, 'a valid Date or ms since the epoch');
  return ms;
}

function checkBackoff(value: unknown): Backoff {
  if (typeof value === 'number') return int('backoff', value, 0, MAX_TIMER_MS);
  if (typeof value !== 'object' || value === null) bad('backoff', value, 'ms or { type, delay, maxDelay?, jitter? }');
  const b = value as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!['type', 'delay', 'maxDelay', 'jitter'].includes(k)) bad(`backoff.${k}`, b[k], 'absent (unknown key)');
  }
  if (b.type !== 'fixed' && b.type !== 'exponential') bad('backoff.type', b.type, "'fixed' or 'exponential'");
  const out: Backoff = { type: b.type, delay: int('backoff.delay', b.delay, 0, MAX_TIMER_MS) };
  if (b.maxDelay !== undefined) out.maxDelay = int('backoff.maxDelay', b.maxDelay, 0, MAX_TIMER_MS);
  if (b.jitter !== undefined) {
    if (typeof b.jitter !== 'number' || !(b.jitter >= 0 && b.jitter <= 1)) bad('backoff.jitter', b.jitter, 'a number from 0 to 1');
    out.jitter = b.jitter;
  }
  return out;
}

function oneOf<T extends string>(what: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) bad(what, value, allowed.map((a) => `'${a}'`).join(', ').replace(/, ([^,]*)$/, ' or $1'));
  return value as T;
}

/**
 * Check a job's options. Returns what is kept in Redis (undefined when nothing
 * is: a job without options costs nothing), its delay in ms from now, and the
 * duplicate policies of this add (undefined when it gives none).
 */
export function checkJobOptions(options: unknown): { stored?: StoredJobOptions; delay: number; policy?: AddPolicy } {
  if (options === undefined) return { delay: 0 };
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(`job options must be an object, got ${describe(options)}`);
  }
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(JOB_OPTION_KEYS as readonly string[]).includes(k)) {
      throw new InvalidOptionError(`unknown job option ${JSON.stringify(k)}; the job options are ${JOB_OPTION_KEYS.join(', ')}`);
    }
  }
  if (o.delay !== undefined && o.runAt !== undefined) {
    throw new InvalidOptionError('give at most one of the job options delay and runAt');
  }
  let delay = 0;
  if (o.delay !== undefined) delay = int('delay', o.delay, 0, Number.MAX_SAFE_INTEGER);
  if (o.runAt !== undefined) delay = Math.max(0, Math.ceil(time('runAt', o.runAt) - Date.now()));
  const stored: StoredJobOptions = {};
  if (o.attempts !== undefined) stored.attempts = int('attempts', o.attempts, 1, 1_000_000);
  if (o.backoff !== undefined) stored.backoff = checkBackoff(o.backoff);
  if (o.stallLimit !== undefined) stored.stallLimit = int('stallLimit', o.stallLimit, 0, 1_000_000);
  if (o.timeout !== undefined) stored.timeout = int('timeout', o.timeout, 0, MAX_TIMER_MS);
  if (o.expiresAt !== undefined) stored.expiresAt = time('expiresAt', o.expiresAt);
  // priority 0 is the default: kept only when it says something
  if (o.priority !== undefined && int('priority', o.priority, 0, 1_000_000) > 0) stored.priority = o.priority as number;
  if (o.group !== undefined) {
    if (typeof o.group !== 'string' || o.group === '' || Buffer.byteLength(o.group) > MAX_GROUP_BYTES || !o.group.isWellFormed()) {
      bad('group', o.group, `a well-formed, non-empty string of at most ${MAX_GROUP_BYTES} bytes`);
    }
    stored.group = o.group;
  }
  const policy: AddPolicy = {};
  if (o.duplicateWhileWaiting !== undefined) policy.waiting = oneOf('duplicateWhileWaiting', o.duplicateWhileWaiting, WAITING_POLICIES);
  if (o.duplicateWhileProcessing !== undefined) policy.processing = oneOf('duplicateWhileProcessing', o.duplicateWhileProcessing, PROCESSING_POLICIES);
  if (o.maxWait !== undefined) policy.maxWait = int('maxWait', o.maxWait, 1, Number.MAX_SAFE_INTEGER);
  return { stored: Object.keys(stored).length ? stored : undefined, delay, policy: Object.keys(policy).length ? policy : undefined };
}

/**
 * A job's own options over the queue's `defaultJobOptions`, key by key (its
 * delay or runAt replaces both defaults), checked as checkJobOptions does.
 */
export function withDefaults(own: JobOptions | undefined, defaults: JobOptions | undefined): ReturnType<typeof checkJobOptions> {
  if (!defaults) return checkJobOptions(own);
  const o = own ?? {};
  const base: JobOptions = 'delay' in o || 'runAt' in o ? { ...defaults, delay: undefined, runAt: undefined } : defaults;
  const merged = Object.fromEntries(Object.entries({ ...base, ...o }).filter(([, v]) => v !== undefined));
  return checkJobOptions(merged);
}

/** The delay before retry number `attempt` (the attempt that failed, 1-based). */
export function backoffDelay(backoff: Backoff | undefined, attempt: number): number {
  if (backoff === undefined) return 0;
  if (typeof backoff === 'number') return backoff;
  let delay = backoff.type === 'exponential' ? backoff.delay * 2 ** (attempt - 1) : backoff.delay;
  if (backoff.maxDelay !== undefined) delay = Math.min(delay, backoff.maxDelay);
  if (backoff.jitter) delay -= Math.random() * backoff.jitter * delay;
  return Math.min(Math.round(delay), MAX_TIMER_MS);
}
