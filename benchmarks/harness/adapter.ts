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

/** Called by every library's handler as its first statement (the latency probe). */
export type StartHook = (id: string) => void;

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
  /** Add one job with this unique ID. */
  addOne(id: string): Promise<void>;
  /** Add one chunk of jobs in the library's bulk way. */
  addBulk(ids: readonly string[]): Promise<void>;
  /** Jobs waiting to be processed (the dedup check reads this). */
  waiting(): Promise<number>;
  /** A worker with `concurrency` slots running a no-op async handler. */
  worker(concurrency: number, onStart?: StartHook): Promise<BenchWorker>;
  /** Close the producer side; workers are closed by whoever opened them. */
  close(): Promise<void>;
}

export interface AdapterFactory {
  readonly name: LibName;
  open(target: Target): Promise<Adapter>;
}

/** Every adapter uses the same queue name, so keys only differ by library prefix. */
export const QUEUE_NAME = 'bench';
