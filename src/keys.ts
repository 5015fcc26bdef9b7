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
  /** list: wake-up marker that idle workers block on */
  readonly wake: string;
  /** string: the jam guard's sweep lock */
  readonly lock: string;
  /** zset: live worker ID → last seen (ms, Redis clock), kept by lease renewals */
  readonly workers: string;
  /** hash: live worker ID → its info JSON (host, pid, concurrency, running IDs, last seen) */
  readonly workerinfo: string;
}

export type KeyName = keyof QueueKeys;

export const KEY_NAMES: readonly KeyName[] = [
  'queued', 'scheduled', 'committed', 'processing', 'leases', 'payload', 'options', 'attempts', 'stalls', 'progress', 'rerun',
  'failed', 'failinfo', 'errors', 'wake', 'lock', 'workers', 'workerinfo',
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
};
