/**
 * The public face: a queue object publishes jobs, runs a worker, sweeps jams
 * and reports counts. The state changes themselves are Lua scripts in scripts/.
 * The work is done beside it: publishing in publish.ts, every Redis call and
 * the worker's events in host.ts, and the helpers named in the sections below.
 */
import { EventEmitter } from 'node:events';
import type { RedisArgument } from 'redis';
import { ActiveJob, Job } from './job.js';
import { Connection } from './connection.js';
import { AlreadyProcessingError, InvalidArgumentError, InvalidOptionError, QueueClosedError } from './errors.js';
import { queueKeys, type QueueKeys } from './keys.js';
import { callOptions, checkCallNumber, resolveOptions, type QueueOptions, type ResolvedOptions } from './options.js';
import { MAX_TIMER_MS, describe } from './util.js';
import type { ScriptName, ScriptReply } from './scripts.js';
import { Worker, type AsyncHandler, type CallbackHandler, type Handler } from './worker.js';
import type { Jsonify } from './jsonify.js';
import { sweep } from './jam-guard.js';
import { JobManager, type FailedJob, type JobInfo, type ListState, type WorkerInfo } from './manage.js';
import { ResultWaiters } from './results.js';
import { FlowControl } from './control.js';
import type { RateLimit } from './options.js';
import { RepeatManager, type RepeatArgs, type RepeatInfo, type RepeatSchedule } from './repeat.js';
import { sandboxes, type SandboxOptions, type Sandboxes } from './sandbox/index.js';
import { QueueHost } from './host.js';
import { Publisher, type AddOutcome } from './publish.js';

export type { FailedJob, JobErrorRecord, JobInfo, JobState, ListState, WorkerInfo } from './manage.js';
export type { RepeatArgs, RepeatBounds, RepeatInfo, RepeatJobOptions, RepeatSchedule } from './repeat.js';
export type { AddOutcome } from './publish.js';

export interface QueueStats {
  queued: number;
  scheduled: number;
  committed: number;
  processing: number;
  failed: number;
  /** pause() holds the queue's workers back */
  paused: boolean;
}

/** The events of a `Queue<P>` and their listeners' arguments. */
export interface QueueEvents<P = unknown> {
  /** a handler resolved (or called `done()`) and its result was written */
  completed: [job: ActiveJob<P>, result: unknown];
  /** a handler threw, rejected, called `done(err)` or timed out, and the failure was written */
  failed: [job: ActiveJob<P>, error: Error];
  /** a failed run with attempts left goes to scheduled (or queued) after `delay` ms */
  retrying: [job: ActiveJob<P>, error: Error, delay: number];
  /** a handler stored progress with `job.updateProgress(value)` */
  progress: [job: ActiveJob<P>, value: unknown];
  /** a jam guard sweep of this queue object requeued these jobs */
  jammed: [jobs: Job<Jsonify<P>>[]];
  /** this process's lease renewal recovered these stalled runs (back in the queue, or failed for good past their stallLimit) */
  stalled: [ids: string[]];
  /** an error of the background work (fetching, reporting results, the periodic jam guard) */
  error: [error: Error];
  /** a warning about the Redis setup (eviction enabled), once on connect */
  warning: [message: string];
}

/** A listener of a queue event. */
export type QueueListener<P, E extends keyof QueueEvents<P>> = (...args: QueueEvents<P>[E]) => void;

/**
 * The typed listener methods of a queue (declared here, not taken from the
 * generic EventEmitter typings, which older `@types/node` do not have): an
 * unknown event name or a listener of the wrong shape is a type error.
 */
export interface Queue<P = unknown> {
  on<E extends keyof QueueEvents<P>>(event: E, listener: QueueListener<P, E>): this;
  once<E extends keyof QueueEvents<P>>(event: E, listener: QueueListener<P, E>): this;
  off<E extends keyof QueueEvents<P>>(event: E, listener: QueueListener<P, E>): this;
  addListener<E extends keyof QueueEvents<P>>(event: E, listener: QueueListener<P, E>): this;
  removeListener<E extends keyof QueueEvents<P>>(event: E, listener: QueueListener<P, E>): this;
  prependListener<E extends keyof QueueEvents<P>>(event: E, listener: QueueListener<P, E>): this;
  prependOnceListener<E extends keyof QueueEvents<P>>(event: E, listener: QueueListener<P, E>): this;
  emit<E extends keyof QueueEvents<P>>(event: E, ...args: QueueEvents<P>[E]): boolean;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Queue<P = unknown> extends EventEmitter {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly options: ResolvedOptions;
  /** @internal */
  readonly connection: Connection;
  /** The host of the worker, the jam guard and the helpers below: every Redis call, the worker's events (src/host.ts). */
  private readonly host: QueueHost;
  private worker?: Worker;
  /** The sandboxes of the worker's handler, when it runs a handler module. */
  private sandboxes?: Sandboxes;
  private jamTimer?: NodeJS.Timeout;
  private closing?: Promise<void>;
  private readonly onConnectionError = (err: Error) => this.host.onError(err, 'redis connection');
  private readonly publisher: Publisher<P>;
  private readonly manager: JobManager<P>;
  private readonly control: FlowControl;
  private readonly results: ResultWaiters;
  private readonly repeats: RepeatManager<P>;

  constructor(name: string, opts: QueueOptions = {}) {
    super();
    const resolved = resolveOptions(name, opts);
    this.name = resolved.name;
    this.options = resolved.options;
    this.keys = queueKeys(this.options.prefix, this.name);
    this.connection = Connection.acquire(this.options.redis, this.options.commandTimeout);
    this.host = new QueueHost(this);
    const assertOpen = (call: string) => this.#assertOpen(call);
    this.publisher = new Publisher<P>(this.host, assertOpen);
    this.manager = new JobManager<P>(this.host, assertOpen);
    this.control = new FlowControl(this.host, assertOpen);
    this.results = new ResultWaiters(this.host);
    this.repeats = new RepeatManager<P>(this.host, assertOpen, (ms) => this.worker?.repeats.dueIn(ms));
    this.connection.on('error', this.onConnectionError);
    this.connection.ready.then(
      () => {
        for (const w of this.connection.warnings) this.emit('warning', w);
        const { rateLimit } = this.options;
        if (rateLimit !== undefined && !this.closing) {
          this.control.setRateLimit('rateLimit', 'rate', rateLimit).catch((err) => this.host.onError(err, 'setting the rateLimit option'));
        }
      },
      () => undefined,
    );
    if (this.options.jamGuardInterval > 0) {
      this.jamTimer = setInterval(() => {
        this.jamGuard(this.options.jamGuardIdle).catch((err) => this.host.onError(err, 'jam guard'));
      }, this.options.jamGuardInterval);
      this.jamTimer.unref();
    }
  }

  /**
   * Publish a job. Resolves 'queued' when it joined the queue, 'scheduled' when
   * it waits for its delay, 'committed' when the ID was already waiting (and
   * is left as it was), 'replaced' when it was waiting and this add replaced
   * it (duplicateWhileWaiting 'replace' or 'debounce'), and 'processing' when
   * a worker has it (with duplicateWhileProcessing 'rerun' it will then run
   * once more afterwards; with 'supersede' the run is cancelled and the ID runs
   * again with this payload).
   * Adds made in the same tick go to Redis in one call.
   */
  addJob(job: Job<P>): Promise<AddOutcome> {
    return this.publisher.addJob(job);
  }

  /** Publish many jobs; all are checked first, so one bad job writes nothing. */
  addJobs(jobs: readonly Job<P>[]): Promise<AddOutcome[]> {
    return this.publisher.addJobs(jobs);
  }

  /**
   * Run jobs with `handler`, up to `concurrency` at a time. A handler that
   * resolves completes its job; one that throws, rejects, calls done(err) or
   * exceeds jobTimeout fails it.
   */
  process(handler: CallbackHandler<P>): void;
  process(handler: AsyncHandler<P>): void;
  /**
   * Run jobs with the default export of the module `file` (an async function
   * `(job) => result`), in a pool of `concurrency` worker threads or child
   * processes: a CPU-bound handler does not hold up lease renewals, and one
   * that crashes its sandbox fails only its run (with a SandboxError). `file`
   * is a path (a relative one from process.cwd()) or a file URL. The job in the
   * sandbox has id, payload, attempt, startedAt, options, signal and
   * updateProgress; results cross as structured clones (JSON data does), errors
   * as name, message, stack and code (an error named 'UnrecoverableError'
   * fails its job for good). See README, "Sandboxed handlers".
   */
  process(file: string | URL, options: SandboxOptions): void;
  process(handler: Handler<P> | string | URL, options?: SandboxOptions): void {
    this.#assertOpen('process');
    if (typeof handler !== 'function' && typeof handler !== 'string' && !(handler instanceof URL)) {
      throw new InvalidArgumentError(`process takes a handler function, got ${describe(handler)}`);
    }
    if (this.worker) {
      throw new AlreadyProcessingError(`queue ${JSON.stringify(this.name)} is already processing; create another queue object for another handler`);
    }
    this.sandboxes = sandboxes(handler, options);
    this.worker = new Worker(this.host, this.sandboxes?.handler ?? (handler as Handler));
  }

  /** Stop fetching jobs; resolves when the running ones are done (or `timeout` ms pass) and any sandboxes are gone. */
  async stopProcessing(options: { timeout?: number } = {}): Promise<void> {
    const timeout = checkTimeout('stopProcessing', options);
    const { worker, sandboxes } = this;
    if (!worker) return;
    await worker.stop(timeout);
    await sandboxes?.close();
    if (this.worker === worker) [this.worker, this.sandboxes] = [undefined, undefined];
  }

  /**
   * One jam guard sweep: jobs processing for more than `idleSeconds` go back to
   * the queue (their failure count goes up). Returns them. Runs one at a time
   * across all processes; a sweep that finds another running returns [].
   */
  async jamGuard(idleSeconds: number): Promise<Job<Jsonify<P>>[]> {
    this.#assertOpen('jamGuard');
    if (typeof idleSeconds !== 'number' || !Number.isFinite(idleSeconds) || idleSeconds < 0) {
      throw new InvalidArgumentError(`jamGuard takes the idle time in seconds (a number >= 0), got ${describe(idleSeconds)}`);
    }
    const jobs = (await sweep(this.host, idleSeconds)) as Job<Jsonify<P>>[];
    if (jobs.length) this.emit('jammed', jobs);
    return jobs;
  }

  /** Jobs waiting to run now: in the queued list, the prioritized jobs and the groups' jobs. */
  async countQueued(): Promise<number> {
    this.#assertOpen('countQueued');
    return (await this.stats()).queued;
  }

  countScheduled(): Promise<number> {
    return this.count('ZCARD', this.keys.scheduled);
  }

  countCommitted(): Promise<number> {
    return this.count('SCARD', this.keys.committed);
  }

  countProcessing(): Promise<number> {
    return this.count('ZCARD', this.keys.processing);
  }

  countFailed(): Promise<number> {
    return this.count('ZCARD', this.keys.failed);
  }

  private async count(command: string, key: string): Promise<number> {
    this.#assertOpen(`count${key.slice(key.lastIndexOf(':') + 1).replace(/^./, (c) => c.toUpperCase())}`);
    return Number(await this.command([command, key], `${command} ${key}`));
  }

  /** All the counts, read in one script so they agree with each other. */
  async stats(): Promise<QueueStats> {
    this.#assertOpen('stats');
    const [queued, committed, processing, failed, scheduled, paused] = ((await this.run('stats', [], 'reading stats')) as number[]).map(Number);
    return { queued, scheduled, committed, processing, failed, paused: paused === 1 };
  }

  /** Make a scheduled job run now (it joins the tail of the queue). Resolves whether it was scheduled. */
  async promote(id: string | number): Promise<boolean> {
    this.#assertOpen('promote');
    const key = new Job(id).id;
    return Number(await this.run('promote', [key], 'promoting a job')) === 1;
  }

  /** Failure records (of IDs that failed for good), most failures first: until the ID is added again, retried or removed. */
  getFailed(options: { offset?: number; limit?: number } = {}): Promise<FailedJob<P>[]> {
    return this.manager.getFailed(options);
  }

  /** Forget failure records. Resolves how many there were. */
  removeFailed(...ids: Array<string | number>): Promise<number> {
    return this.manager.removeFailed(ids);
  }

  /**
   * Forget failure records whose last failure is more than `olderThan` seconds
   * old: failure records stay until then, so call this now and then. Resolves
   * how many it removed.
   */
  trimFailed(options: { olderThan: number }): Promise<number> {
    return this.manager.trimFailed(options);
  }

  // ---- flow control, kept in Redis for every worker of the queue (src/control.ts)

  /**
   * Pause the queue, for every worker in every process: workers start no job
   * until resume() (idle ones stop at once, busy ones at their next claim);
   * running jobs finish; adds are still accepted. Kept in Redis, so it
   * outlives this queue object.
   */
  pause(): Promise<void> {
    return this.control.pause();
  }

  /** Let the workers start jobs again after pause(); idle ones wake at once. */
  resume(): Promise<void> {
    return this.control.resume();
  }

  /** Whether the queue is paused. */
  isPaused(): Promise<boolean> {
    return this.control.isPaused();
  }

  /**
   * At most `max` job starts in any `duration` ms (a sliding window), across
   * all workers of the queue; `null` removes the limit. A limited worker
   * sleeps until the window opens.
   */
  setRateLimit(limit: RateLimit | null): Promise<void> {
    return this.control.setRateLimit('setRateLimit', 'rate', limit);
  }

  /** The queue's rate limit, or null. */
  getRateLimit(): Promise<RateLimit | null> {
    return this.control.getRateLimit('getRateLimit', 'rate');
  }

  /**
   * At most `n` jobs of the queue processing at once across all workers, on
   * top of each queue object's own `concurrency`; `null` removes the limit.
   */
  setGlobalConcurrency(n: number | null): Promise<void> {
    return this.control.setConcurrency('setGlobalConcurrency', 'concurrency', n);
  }

  /** The queue's global concurrency, or null (unlimited). */
  getGlobalConcurrency(): Promise<number | null> {
    return this.control.getConcurrency('getGlobalConcurrency', 'concurrency');
  }

  /**
   * At most `n` jobs of each group (JobOptions.group) processing at once;
   * `null` removes the limit. Groups take turns, so one group's backlog never
   * holds up another's.
   */
  setGroupConcurrency(n: number | null): Promise<void> {
    return this.control.setConcurrency('setGroupConcurrency', 'groupConcurrency', n);
  }

  /** The queue's group concurrency, or null (unlimited). */
  getGroupConcurrency(): Promise<number | null> {
    return this.control.getConcurrency('getGroupConcurrency', 'groupConcurrency');
  }

  /** At most `max` starts of each group in any `duration` ms (a sliding window per group); `null` removes it. */
  setGroupRateLimit(limit: RateLimit | null): Promise<void> {
    return this.control.setRateLimit('setGroupRateLimit', 'groupRate', limit);
  }

  /** The queue's group rate limit, or null. */
  getGroupRateLimit(): Promise<RateLimit | null> {
    return this.control.getRateLimit('getGroupRateLimit', 'groupRate');
  }

  // ---- managing jobs by ID (src/manage.ts)

  /**
   * What the queue keeps for one ID, read in one step: its state (processing,
   * else scheduled, else queued; or failed when only a failure record is left),
   * payload, options, `attempt` (runs so far: failed runs plus the current
   * one), and per state `runAt`, `startedAt` and `progress`, or `lastError`.
   * `addedAt` is not kept (a job without options costs only its ID), so it is
   * undefined. Resolves null for an ID that is not in the queue. A payload that
   * is not JSON rejects with a ForeignDataError.
   */
  getJob(id: string | number): Promise<JobInfo<P> | null> {
    return this.manager.getJob(id);
  }

  /**
   * A page of the jobs in one state, in its own order: queued next first,
   * scheduled earliest due first, processing oldest claim first, failed as
   * getFailed (most failures first). `limit` defaults to 1000; Redis is read
   * 1000 jobs per call, so a longer list is not one snapshot. A payload that
   * is not JSON is listed as undefined.
   */
  listJobs(state: ListState, options: { offset?: number; limit?: number } = {}): Promise<JobInfo<P>[]> {
    return this.manager.listJobs(state, options);
  }

  /**
   * Take an ID out of whatever state it is in, with everything kept for it
   * (payload, options, attempts, failure record), in one step. A processing
   * run is cancelled: its result changes nothing and its handler's `signal`
   * aborts at its worker's next lease renewal (within stallTimeout / 3).
   * Resolves whether the ID was in the queue. Removing a queued ID costs
   * O(length of the queue) in Redis (LREM).
   */
  removeJob(id: string | number): Promise<boolean> {
    return this.manager.removeJob(id);
  }

  /**
   * Failed IDs go back to the tail of the queue with fresh attempts (payload
   * and options kept); with no IDs, every failure record, 1000 per call. An ID
   * added again meanwhile only loses its failure record. Resolves how many
   * went back to the queue.
   */
  retryFailed(...ids: Array<string | number>): Promise<number> {
    return this.manager.retryFailed(ids);
  }

  /**
   * Remove every waiting job (queued and scheduled) with what is kept for it,
   * 1000 of each per call; running jobs go on. Resolves how many it removed.
   */
  drain(): Promise<number> {
    return this.manager.drain();
  }

  /**
   * Delete every key of the queue, in one script (UNLINK: Redis frees big keys
   * in the background). Rejects with a QueueBusyError while jobs are
   * processing, unless `force`: then their runs are cancelled as by removeJob.
   * Live workers write their registry entry again at their next renewal.
   */
  obliterate(options: { force?: boolean } = {}): Promise<void> {
    return this.manager.obliterate(options);
  }

  /**
   * The live workers of the queue, most recently seen first: those that
   * renewed their leases within the last 2 × stallTimeout (of this queue
   * object, so give all queue objects of a queue the same stallTimeout). A
   * worker that dies drops out within that time.
   */
  getWorkers(): Promise<WorkerInfo[]> {
    return this.manager.getWorkers();
  }

  // ---- results (src/results.ts)

  /**
   * The result of job `id`: of its run that finishes next when it is queued,
   * scheduled or processing, else its kept result (keepResults). Resolves
   * what its handler resolved (as JSON gave it back); rejects with a
   * RemoteJobError (the original error's message; `remote`: its name, stack,
   * code, cause and data) when that run fails for good, a JobRemovedError
   * when the job is removed (or is not in the queue and has no kept result),
   * a WaitTimeoutError after `timeout` ms (default: none). Every caller
   * waiting on one ID gets the one run's outcome; all waits of this queue
   * object share one reader of the event stream. Needs keepResults (an
   * InvalidOptionError otherwise); with `events: false` it polls.
   */
  waitForResult(id: string | number, options?: { timeout?: number }): Promise<unknown> {
    try {
      this.#assertOpen('waitForResult');
      return this.results.wait(id, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---- repeatable jobs (src/repeat.ts)

  /**
   * Add the job `id` at every occurrence of `schedule` (`{ every: ms }` or
   * `{ cron: '0 3 * * *', tz?: 'Europe/Berlin' }`, with optional `startAt`,
   * `endAt` and `limit`), with this payload and these job options, as an add
   * would: an occurrence whose ID is still waiting or processing follows the
   * duplicate policies (by default it does nothing), so runs never overlap nor
   * pile up. The occurrences are fired by the workers of the queue (in any
   * process that called `process()`), once per occurrence; after a time with
   * no worker, one catch-up occurrence runs, then the schedule goes on from
   * now. Idempotent: the same call again (from any number of processes at
   * once) keeps the schedule as it is; another schedule, payload or options
   * replace it in one step. Resolves the next occurrence, or null when the
   * schedule has none (endAt passed; any old schedule of the ID is removed).
   */
  repeat(id: string | number, schedule: RepeatSchedule, ...rest: RepeatArgs<P>): Promise<Date | null> {
    return this.repeats.repeat(id, schedule, ...rest);
  }

  /** Stop repeating the job `id` (a job it added already stays). Resolves whether it was repeating. */
  removeRepeat(id: string | number): Promise<boolean> {
    return this.repeats.removeRepeat(id);
  }

  /** The repeatable jobs of the queue, next occurrence first. */
  listRepeats(): Promise<RepeatInfo<P>[]> {
    return this.repeats.listRepeats();
  }

  /**
   * Send the adds already made, stop processing, let running jobs finish (after
   * `timeout` ms the runs still going go back to the head of the queue, their
   * signal aborted, their late results ignored), and let go of the connections.
   */
  close(options: { timeout?: number } = {}): Promise<void> {
    try {
      checkTimeout('close', options);
    } catch (err) {
      return Promise.reject(err);
    }
    this.closing ??= (async () => {
      // Adds of this tick would otherwise be flushed after the connection is gone.
      this.publisher.flushAdds();
      clearInterval(this.jamTimer);
      await this.stopProcessing(options);
      await this.results.close();
      await this.publisher.settled();
      this.connection.off('error', this.onConnectionError);
      await this.connection.release();
    })();
    return this.closing;
  }

  /** Every public call but close() and stopProcessing() refuses to run after close(). */
  #assertOpen(call: string): void {
    if (this.closing) throw new QueueClosedError(`queue ${JSON.stringify(this.name)} is closed; ${call}() cannot run after close()`);
  }

  // ---- the plumbing (src/host.ts), for tests and tools

  /** @internal Run a script on this queue's keys, with our errors. */
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply> {
    return this.host.run(name, args, what);
  }

  /** @internal Send a plain command, with our errors. */
  command(args: string[], what: string): Promise<unknown> {
    return this.host.command(args, what);
  }
}

/** The `timeout` of close and stopProcessing: undefined (wait as long as it takes) or ms a timer can hold. */
function checkTimeout(call: string, options: { timeout?: number }): number | undefined {
  const { timeout } = callOptions(call, options, ['timeout']);
  if (timeout === undefined) return undefined;
  checkCallNumber(call, 'timeout', timeout, 0, false);
  if (timeout > MAX_TIMER_MS) {
    throw new InvalidOptionError(`${call} option \`timeout\` must be at most ${MAX_TIMER_MS} ms (what a timer can hold), got ${describe(timeout)}`);
  }
  return timeout;
}

/**
 * Create a queue object; many may share one queue name, in any number of
 * processes. `P` is the payload type: when it does not include `undefined`
 * (`createQueue<{ n: number }>('q')`), every job must carry one and handlers
 * get `Jsonify<P>`; the default, `unknown`, leaves payloads optional.
 */
export function createQueue<P = unknown>(name: string, opts?: QueueOptions): Queue<P> {
  return new Queue<P>(name, opts);
}
