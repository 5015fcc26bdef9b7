/**
 * The one interface every library adapter implements, so each scenario is
 * written once. An adapter is opened fresh for every run (after FLUSHALL), so
 * no library carries state from one run into the next.
 */
import type { Completions } from './completions.js';

export type LibName = 'convoy' | 'bullmq' | 'bee' | 'raw' | 'raw-batched';

/** The order libraries appear in the report. */
export const LIB_NAMES: readonly LibName[] = ['convoy', 'bullmq', 'bee', 'raw', 'raw-batched'];
/** The libraries convoy is compared with ("vs best peer"); raw is the floor, not a peer. */
export const PEERS: readonly LibName[] = ['bullmq', 'bee'];

/** The private redis-server of the run. */
export interface Target {
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

/**
 * Called by every library's handler as its first statement (the latency probe),
 * with the library's own record of when the job started (ms since the epoch)
 * where it keeps one: what its rate limiter counts.
 */
export type StartHook = (id: string, startedAt?: number) => void;

/**
 * What a library must support beyond plain jobs for a scenario to run it:
 * 'delay', a job that starts no sooner than a given time; 'retry', a job that
 * runs again (at once) after its handler failed, up to a number of runs;
 * 'priority', waiting jobs start most urgent first; 'rate-limit', at most so
 * many starts per time window across all workers of the queue.
 */
export type Feature = 'delay' | 'retry' | 'priority' | 'rate-limit';

/** Per-job options, the same meaning in every library that has the feature. */
export interface JobOptions {
  /** ms from now before the job may start ('delay') */
  readonly delay?: number;
  /** runs in all, the first included, retried at once ('retry') */
  readonly attempts?: number;
  /** 0 (most urgent) to 10 ('priority'); each library maps it onto its own scale */
  readonly priority?: number;
}

/** At most `max` job starts per `duration` ms ('rate-limit'), in the library's own way of counting. */
export interface RateLimit {
  readonly max: number;
  readonly duration: number;
}

export interface WorkerOptions {
  /** The latency probe: the handler's first statement. */
  readonly onStart?: StartHook;
  /** Called next: true makes this run fail (the handler throws), to exercise retries. */
  readonly fail?: (id: string) => boolean;
  /** Delayed jobs will be added: a library that only runs them with a setting turns it on. */
  readonly delayed?: boolean;
  /** The queue's rate limit, set up by this worker as the library has it. */
  readonly rateLimit?: RateLimit;
}

/** The error a handler throws when WorkerOptions.fail says so. */
export class PlannedFailure extends Error {
  constructor(id: string) {
    super(`planned failure of ${id}`);
  }
}

/** The handler every adapter runs: the probe, then a planned failure or nothing. */
export function benchHandler(opts: WorkerOptions | undefined): (id: string, startedAt?: number) => void {
  const onStart = opts?.onStart;
  const fail = opts?.fail;
  if (!fail) return (id, startedAt) => onStart?.(id, startedAt);
  return (id, startedAt) => {
    onStart?.(id, startedAt);
    if (fail(id)) throw new PlannedFailure(id);
  };
}

/** A worker whose connections are open but which takes no job until run(). */
export interface BenchWorker {
  /** Start taking jobs; timing starts just before this call. */
  run(): void;
  /** Jobs whose completion the library has reported (result written to Redis). */
  readonly done: Completions;
  close(): Promise<void>;
}

export interface Adapter {
  readonly name: LibName;
  /** Add one job with this unique ID (options only for a library with their features). */
  addOne(id: string, opts?: JobOptions): Promise<void>;
  /** Add one chunk of jobs in the library's bulk way; `opts` gives each job's options. */
  addBulk(ids: readonly string[], opts?: (id: string) => JobOptions): Promise<void>;
  /** Jobs waiting to be processed (the dedup check reads this). */
  waiting(): Promise<number>;
  /** A worker with `concurrency` slots running a no-op async handler (see benchHandler). */
  worker(concurrency: number, opts?: WorkerOptions): Promise<BenchWorker>;
  /** Close the producer side; workers are closed by whoever opened them. */
  close(): Promise<void>;
}

export interface AdapterFactory {
  readonly name: LibName;
  /** Features beyond plain jobs; scenarios that need one it lacks leave the library out. */
  readonly features: readonly Feature[];
  open(target: Target): Promise<Adapter>;
}

/** For an adapter without the features: refuse options rather than silently ignore them. */
export function noOptions(name: LibName, opts: JobOptions | undefined): void {
  if (opts && (opts.delay !== undefined || opts.attempts !== undefined || opts.priority !== undefined)) throw new Error(`${name} has no job options`);
}

/** Every adapter uses the same queue name, so keys only differ by library prefix. */
export const QUEUE_NAME = 'bench';
