/**
 * The worker of one queue object: the fetch loop, the concurrency slots, job
 * timeouts, and the batched reporting of results.
 *
 * Slots: `busy` counts slots that hold a running handler or a claim on its way.
 * A finished handler keeps its slot reserved until its result is written; the
 * same script call claims the next job for it, so a busy worker needs one round
 * trip per batch of finished jobs and never exceeds `concurrency`.
 */
import { ActiveJob, decodePayload } from './job.js';
import { JobTimeoutError, QueueClosedError } from './errors.js';
import type { RedisArgument } from 'redis';
import type { ScriptName, ScriptReply } from './scripts.js';
import type { Connection } from './connection.js';
import type { QueueKeys } from './keys.js';
import type { ResolvedOptions } from './options.js';
import { log } from './log.js';

export type AsyncHandler<P = unknown> = (job: ActiveJob<P>) => unknown;
export type CallbackHandler<P = unknown> = (job: ActiveJob<P>, done: (err?: unknown) => void) => void;
export type Handler<P = unknown> = AsyncHandler<P> | CallbackHandler<P>;

/** What the worker needs from its queue. */
export interface WorkerHost {
  readonly keys: QueueKeys;
  readonly options: ResolvedOptions;
  readonly connection: Connection;
  onCompleted(job: ActiveJob, result: unknown): void;
  onFailed(job: ActiveJob, err: Error): void;
  onError(err: unknown, what: string): void;
  /** Run a script on the queue's keys; rejects with a clear error. */
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply>;
  /** Send a plain command; rejects with a clear error. */
  command(args: string[], what: string): Promise<unknown>;
}

/** One claimed run, from claim to written result. */
interface Run {
  readonly job: ActiveJob;
  readonly token: string;
  error?: Error;
  result?: unknown;
  /** The handler has settled (its slot can take the next job). */
  settled: boolean;
  /** The result has been handed to the batch (first of settle or timeout). */
  reported: boolean;
  timer?: NodeJS.Timeout;
  attempts: number;
}

const MAX_REPORT_ATTEMPTS = 8;
/** Jobs claimed or reported per script call: bounds its time and its Lua argument lists. */
const MAX_BATCH = 1000;
const BACKOFF_MS = [50, 100, 250, 500, 1000, 2000];

export class Worker {
  private running = true;
  private busy = 0;
  private readonly stopper = new AbortController();
  private readonly runs = new Set<Run>();
  private pending: Run[] = [];
  private flushScheduled = false;
  private inFlight = 0;
  private slotWaiter?: (queueEmpty: boolean) => void;
  private idleWaiters: Array<() => void> = [];
  private abandoned = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly host: WorkerHost,
    private readonly handler: Handler,
  ) {
    this.loop = this.fetchLoop();
  }

  /** Stop claiming; resolves when in-flight runs are done and reported, or `timeout` ms pass. */
  async stop(timeout?: number): Promise<void> {
    this.running = false;
    this.stopper.abort();
    this.slotWaiter?.(false);
    const drained = this.loop.then(() => this.whenIdle());
    if (timeout === undefined) return drained;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = await Promise.race([
      drained.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeout))),
    ]);
    clearTimeout(timer);
    if (gaveUp) {
      // The runs left stay in processing; a jam guard sweep puts them back.
      this.abandoned = true;
      for (const run of this.runs) run.job.abort(new QueueClosedError('queue closed before the job finished'));
      log('%s: gave up waiting for %d running jobs', this.host.keys.queued, this.runs.size);
    }
  }

  private whenIdle(): Promise<void> {
    if (this.runs.size === 0 && this.inFlight === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (this.runs.size === 0 && this.inFlight === 0 && this.pending.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async fetchLoop(): Promise<void> {
    const { keys, options, connection } = this.host;
    let rearm = false;
    let skipClaim = false;
    let failures = 0;
    while (this.running) {
      const free = Math.min(options.concurrency - this.busy, MAX_BATCH);
      if (free <= 0) {
        skipClaim = await new Promise<boolean>((resolve) => (this.slotWaiter = resolve));
        this.slotWaiter = undefined;
        continue;
      }
      try {
        if (!skipClaim) {
          this.busy += free;
          let reply: ScriptReply;
          try {
            reply = await this.host.run('claim', [String(free), rearm ? '1' : '0'], 'claiming jobs');
          } catch (err) {
            this.busy -= free;
            throw err;
          }
          const got = this.startRuns(reply as ScriptReply[], 0, free);
          rearm = false;
          failures = 0;
          if (got === free || !this.running) continue;
        }
        skipClaim = false;
        // The queue is empty: block until an add leaves a wake-up marker.
        rearm = await connection.waitPop(keys.wake, options.blockingTimeout, this.stopper.signal);
        failures = 0;
      } catch (err) {
        if (!this.running) break;
        this.host.onError(err, 'fetching jobs');
        await this.sleep(BACKOFF_MS[Math.min(failures++, BACKOFF_MS.length - 1)]);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.stopper.signal;
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Start the runs of a claim reply, read from `offset` as a token followed by
   * (id, payload) pairs, for `reserved` slots already counted in `busy`.
   * Returns how many started; the slots left over are given back.
   */
  private startRuns(reply: ScriptReply[], offset: number, reserved: number): number {
    const got = reply.length > offset ? (reply.length - offset - 1) / 2 : 0;
    this.busy -= reserved - got;
    if (got > 0) {
      const token = String(reply[offset]);
      for (let i = offset + 1; i < reply.length; i += 2) {
        this.start(String(reply[i]), token, reply[i + 1] as string | null);
      }
    }
    if (got < reserved) this.slotFreed(true);
    return got;
  }

  private start(id: string, token: string, payloadJson: string | null): void {
    const startedAt = Math.floor(Number(token) / 1000);
    let payload: unknown;
    let decodeError: Error | undefined;
    try {
      payload = decodePayload(payloadJson, this.host.keys.payload, id);
    } catch (err) {
      decodeError = err as Error;
    }
    const run: Run = { job: new ActiveJob(id, payload, startedAt), token, settled: false, reported: false, attempts: 0 };
    this.runs.add(run);
    if (decodeError) {
      this.settle(run, decodeError);
      return;
    }
    const { jobTimeout } = this.host.options;
    if (jobTimeout > 0) {
      run.timer = setTimeout(() => {
        const err = new JobTimeoutError(`job ${id} timed out after ${jobTimeout} ms`);
        run.job.abort(err);
        this.report(run, err);
      }, jobTimeout);
    }
    this.invoke(run);
  }

  private invoke(run: Run): void {
    const handler = this.handler;
    if (handler.length >= 2) {
      let called = false;
      const done = (err?: unknown) => {
        if (called) return;
        called = true;
        this.settle(run, err == null ? undefined : toError(err));
      };
      try {
        const ret = (handler as CallbackHandler)(run.job, done) as unknown;
        if (ret instanceof Promise) ret.catch(done);
      } catch (err) {
        done(err ?? new Error('handler threw'));
      }
      return;
    }
    let ret: unknown;
    try {
      ret = (handler as AsyncHandler)(run.job);
    } catch (err) {
      this.settle(run, toError(err));
      return;
    }
    if (ret instanceof Promise) {
      ret.then(
        (result) => this.settle(run, undefined, result),
        (err) => this.settle(run, toError(err)),
      );
    } else {
      this.settle(run, undefined, ret);
    }
  }

  /** The handler is over: report its result unless the timeout already did. */
  private settle(run: Run, error?: Error, result?: unknown): void {
    run.settled = true;
    clearTimeout(run.timer);
    if (run.reported) {
      // Timed out earlier: its failure is written; only the slot is free now.
      log('job %s finished after its timeout; its result is ignored', run.job.id);
      this.runs.delete(run);
      this.busy--;
      this.slotFreed(false);
      this.checkIdle();
      return;
    }
    run.result = result;
    this.report(run, error);
  }

  private report(run: Run, error?: Error): void {
    run.reported = true;
    run.error = error;
    this.pending.push(run);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Write the batch of results: one call for completions, one for failures. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (this.abandoned) return;
    const done = batch.filter((r) => !r.error);
    const failed = batch.filter((r) => r.error);
    for (let i = 0; i < done.length; i += MAX_BATCH) void this.write(done.slice(i, i + MAX_BATCH), false);
    for (let i = 0; i < failed.length; i += MAX_BATCH) void this.write(failed.slice(i, i + MAX_BATCH), true);
  }

  private async write(batch: Run[], failed: boolean): Promise<void> {
    const { options } = this.host;
    // Each settled run's slot is refilled by this call, unless we are stopping.
    const freed = batch.filter((r) => r.settled).length;
    const claim = this.running ? freed : 0;
    const args: string[] = [String(claim), '0'];
    if (failed) args.push(String(options.errorLogSize), String(options.errorLogTtl));
    for (const run of batch) {
      args.push(run.job.id, run.token);
      if (failed) args.push(errorJson(run.job.id, run.error!));
    }
    this.inFlight++;
    let reply: ScriptReply[];
    try {
      reply = (await this.host.run(failed ? 'fail' : 'complete', args, 'reporting job results')) as ScriptReply[];
    } catch (err) {
      this.inFlight--;
      this.retry(batch, err);
      return;
    }
    this.inFlight--;
    const flags = String(reply[0]);
    for (let i = 0; i < batch.length; i++) {
      const run = batch[i];
      if (run.settled) this.runs.delete(run);
      if (flags[i] !== '1') {
        log('job %s: its claim was taken away (jam guard); this late result changed nothing', run.job.id);
      } else if (failed) {
        this.host.onFailed(run.job, run.error!);
      } else {
        this.host.onCompleted(run.job, run.result);
      }
    }
    this.busy -= freed - claim;
    if (claim > 0) this.startRuns(reply, 1, claim);
    else if (freed > 0) this.slotFreed(false);
    this.checkIdle();
  }

  /** A result could not be written (Redis down): try again later, then give up to the jam guard. */
  private retry(batch: Run[], err: unknown): void {
    this.host.onError(err, 'reporting job results');
    const again: Run[] = [];
    for (const run of batch) {
      if (++run.attempts < MAX_REPORT_ATTEMPTS && !this.abandoned) {
        again.push(run);
      } else if (run.settled) {
        log('job %s: result not written after %d attempts; the jam guard will requeue it', run.job.id, run.attempts);
        this.runs.delete(run);
        this.busy--;
        this.slotFreed(false);
      }
    }
    if (again.length) {
      const delay = BACKOFF_MS[Math.min(again[0].attempts - 1, BACKOFF_MS.length - 1)];
      this.inFlight++;
      setTimeout(() => {
        this.inFlight--;
        this.pending.push(...again);
        this.flush();
      }, delay);
    }
    this.checkIdle();
  }

  private slotFreed(queueEmpty: boolean): void {
    this.slotWaiter?.(queueEmpty);
  }
}

function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : `handler failed with ${JSON.stringify(err) ?? String(err)}`);
}

function errorJson(id: string, err: Error): string {
  return JSON.stringify({ id, name: err.name, message: err.message, stack: err.stack, time: Date.now() });
}
