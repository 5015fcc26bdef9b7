/**
 * The Redis key layout of a queue, in one place. Every key of a queue carries the
 * queue name as a Redis Cluster hash tag (`convoy:{name}:…`), so all of them live
 * in one slot and every script can touch them atomically, on a cluster too.
 */
export interface QueueKeys {
  /** list: IDs waiting to run, oldest at the head */
  readonly queued: string;
  /** zset: IDs waiting for a time (a delay, a run-at time, a retry backoff) → due time (ms, Redis clock) */
  readonly scheduled: string;
  /** set: every ID that is queued, scheduled or processing; the dedup check */
  readonly committed: string;
  /** zset: ID → claim time in µs (Redis clock), which is also the claim's fencing token */
  readonly processing: string;
  /** zset: processing ID → lease expiry (ms, Redis clock); renewed by the live worker, recovered when it lapses */
  readonly leases: string;
  /** hash: ID → payload JSON (only jobs that carry one) */
  readonly payload: string;
  /** hash: ID → job options JSON (only jobs added with options) */
  readonly options: string;
  /** hash: ID → failed runs so far (only jobs that failed a run) */
  readonly attempts: string;
  /** hash: ID → stalls so far (only jobs that stalled) */
  readonly stalls: string;
  /** hash: processing ID → progress JSON (only runs that reported progress) */
  readonly progress: string;
  /** set: processing IDs to run once more when the current run ends */
  readonly rerun: string;
  /** zset: ID that failed for good → times it did since it was last added */
  readonly failed: string;
  /** hash: failed ID → its last error JSON */
  readonly failinfo: string;
  /** list: recent errors (JSON), newest first, bounded and with a TTL */
  readonly errors: string;
  /** list: wake-up marker that idle workers block on ('r': a repeatable job got an earlier occurrence, see repeat-set.lua) */
  readonly wake: string;
  /** string: the jam guard's sweep lock */
  readonly lock: string;
  /** zset: live worker ID → last seen (ms, Redis clock), kept by lease renewals */
  readonly workers: string;
  /** hash: live worker ID → its info JSON (host, pid, concurrency, running IDs, last seen) */
  readonly workerinfo: string;
  /** zset: waiting IDs with a priority above 0 → priority × 2^32 + sequence (part of the queued state) */
  readonly prioritized: string;
  /** string: the sequence that keeps equal priorities (and group turns) first in, first out */
  readonly sequence: string;
  /** hash: the queue's flow control, kept in Redis (paused, rate limits, global and group concurrency, limitedUntil) */
  readonly control: string;
  /** zset: the rate limit's sliding window: one member per job start → start time (ms) */
  readonly limiter: string;
  /** list: markers that resume() leaves for workers blocked while the queue was paused */
  readonly resume: string;
  /** zset: group with waiting jobs → its turn (sequence of its last turn; BLOCKED while it may not start a job) */
  readonly groups: string;
  /** hash: group → its runs processing now (only groups with runs) */
  readonly gactive: string;
  /** zset: group held back by its rate limit → when it may start again (ms) */
  readonly glimited: string;
  /** set: processing IDs whose run was superseded by a newer add; they run again, afresh, when it ends */
  readonly superseded: string;
  /** hash: waiting ID debounced with a maxWait → the latest time its burst may run (ms, Redis clock); dropped when it is claimed */
  readonly deadline: string;
  /** zset: repeatable job ID → its next occurrence (ms, Redis clock) */
  readonly repeats: string;
  /** hash: repeatable job ID → its schedule, payload and options (JSON) */
  readonly repeatspec: string;
  /** stream: the queue's events (added, active, completed, ...), trimmed to about eventsMaxLen */
  readonly events: string;
  /** hash: finished ID → its kept result ('r' + result JSON) or final error ('e' + error record) */
  readonly results: string;
  /** zset: ID with a kept result → when its run finished (ms, Redis clock), for trimming */
  readonly resultorder: string;
}

export type KeyName = keyof QueueKeys;

export const KEY_NAMES: readonly KeyName[] = [
  'queued', 'scheduled', 'committed', 'processing', 'leases', 'payload', 'options', 'attempts', 'stalls', 'progress', 'rerun',
  'failed', 'failinfo', 'errors', 'wake', 'lock', 'workers', 'workerinfo', 'prioritized', 'sequence', 'control', 'limiter',
  'resume', 'groups', 'gactive', 'glimited', 'superseded', 'repeats', 'repeatspec', 'deadline', 'events', 'results', 'resultorder',
];

export function queueKeys(prefix: string, name: string): QueueKeys {
  const base = `${prefix}:{${name}}:`;
  const keys = {} as Record<KeyName, string>;
  for (const k of KEY_NAMES) keys[k] = base + k;
  return keys;
}

/** The Redis type each key must have; anything else was written by someone else. */
export const KEY_TYPES: Readonly<Record<KeyName, string>> = {
  queued: 'list',
  scheduled: 'zset',
  options: 'hash',
  attempts: 'hash',
  stalls: 'hash',
  progress: 'hash',
  committed: 'set',
  processing: 'zset',
  leases: 'zset',
  payload: 'hash',
  rerun: 'set',
  failed: 'zset',
  failinfo: 'hash',
  errors: 'list',
  wake: 'list',
  lock: 'string',
  workers: 'zset',
  workerinfo: 'hash',
  prioritized: 'zset',
  sequence: 'string',
  control: 'hash',
  limiter: 'zset',
  resume: 'list',
  groups: 'zset',
  gactive: 'hash',
  glimited: 'zset',
  superseded: 'set',
  repeats: 'zset',
  repeatspec: 'hash',
  deadline: 'hash',
  events: 'stream',
  results: 'hash',
  resultorder: 'zset',
};

/**
 * The keys of one group (created on use, so they are not in QueueKeys): its
 * waiting IDs (list, oldest first) and its rate limit's window (zset).
 * Scripts build the same names from K.groups.
 */
export function groupKeys(keys: QueueKeys, group: string): { list: string; window: string } {
  const base = keys.groups.slice(0, -'groups'.length);
  return { list: `${base}g:${group}`, window: `${base}gw:${group}` };
}
