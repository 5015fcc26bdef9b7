/**
 * Lease renewal, and the stall recovery that rides on it: every
 * stallTimeout / 3, one script call (scripts/renew.lua) renews the leases of
 * a worker's runs, recovers the runs of workers whose leases lapsed, and keeps
 * the worker's entry in the registry of live workers (getWorkers). A run that
 * is no longer the worker's, or that a newer add superseded, has its signal
 * aborted.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { RedisArgument } from 'redis';
import type { ActiveJob } from './job.js';
import { ConvoyError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { ScriptName, ScriptReply } from './scripts.js';
import { MAX_BATCH } from './util.js';

/** What lease renewal needs from the worker's queue (the worker's WorkerHost). */
export interface LeaseHost {
  readonly options: ResolvedOptions;
  onStalled(ids: string[]): void;
  onError(err: unknown, what: string): void;
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply>;
}

/** What renewal reads and marks of a run (the worker's Run says what each is). */
export interface LeasedRun {
  readonly job: ActiveJob;
  readonly token: string;
  lost: boolean;
  superseded?: boolean;
}

/** What lease renewal needs from its worker. */
export interface LeaseOwner {
  /** The runs whose leases to renew. */
  runs(): LeasedRun[];
  /** Whether the worker handed its runs back: then it renews nothing. */
  abandoned(): boolean;
  /** A reply says when the earliest repeat occurrence is due (the repeat scheduler's dueIn). */
  dueIn(ms: ScriptReply): void;
}

/** Stalled runs recovered per renewal call. */
const RECOVER_BATCH = 500;

export class Leases {
  /** The worker's ID in the registry of live workers, and what it says of itself there. */
  private readonly id = randomUUID();
  private readonly about: { id: string; host: string; pid: number; concurrency: number };
  /** The registry info last sent; renewals send it again only when it changed. */
  private sentInfo = '';
  private renewing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly host: LeaseHost,
    private readonly worker: LeaseOwner,
  ) {
    const { stallTimeout, concurrency } = host.options;
    this.about = { id: this.id, host: hostname(), pid: process.pid, concurrency };
    // Renew well within the lease, so one slow or failed renewal does not lose it.
    this.timer = setInterval(() => void this.renew(), Math.max(10, Math.floor(stallTimeout / 3)));
    this.timer.unref();
    void this.renew();
  }

  /** Renew no more (the worker stopped). */
  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Renew the leases of this worker's runs and recover the runs of workers
   * whose leases lapsed: one call per interval, whatever the number of runs.
   */
  private async renew(): Promise<void> {
    if (this.renewing || this.worker.abandoned()) return;
    this.renewing = true;
    const { options } = this.host;
    try {
      const runs = this.worker.runs();
      const info = JSON.stringify({ ...this.about, running: runs.map((r) => r.job.id) });
      for (let i = 0; i === 0 || i < runs.length; i += MAX_BATCH) {
        const chunk = runs.slice(i, i + MAX_BATCH);
        const sent = i === 0 && info !== this.sentInfo ? info : '';
        const args = [String(options.stallTimeout), String(i === 0 ? RECOVER_BATCH : 0), String(options.errorLogSize), String(options.errorLogTtl), this.id, sent];
        for (const run of chunk) args.push(run.job.id, run.token);
        const reply = (await this.host.run('renew', args, 'renewing leases')) as ScriptReply[];
        if (sent) this.sentInfo = sent;
        this.worker.dueIn(reply[4]);
        if (Number(reply[3]) === 1) {
          // The registry lost this worker (it was away for two leases): tell it again now.
          this.sentInfo = '';
          setImmediate(() => void this.renew());
        }
        const flags = String(reply[0]);
        chunk.forEach((run, k) => {
          if (flags[k] === '2' && !run.superseded) {
            // Still this worker's claim (its lease is renewed) until the handler ends, so the new run never overlaps it.
            run.superseded = true;
            run.job.abort(new ConvoyError(`job ${run.job.id} was superseded by a newer add; its result will change nothing and the ID runs again with the new payload`));
          }
          if (flags[k] !== '0' || run.lost) return;
          run.lost = true;
          run.job.abort(new ConvoyError(`job ${run.job.id} was taken from this worker (its lease lapsed, the jam guard requeued it or it was removed)`));
        });
        const stalled = [...(reply[1] as ScriptReply[]), ...(reply[2] as ScriptReply[])].map(String);
        if (stalled.length) this.host.onStalled(stalled);
      }
    } catch (err) {
      this.host.onError(err, 'renewing leases');
    } finally {
      this.renewing = false;
    }
  }
}
