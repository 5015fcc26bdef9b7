/**
 * The worker of one queue object: the fetch loop, the concurrency slots and
 * job timeouts. Beside it: lease renewal and stall recovery (src/leases.ts),
 * and the batched reporting of results (src/report.ts).
 *
 * Each claimed run is a small state machine and holds exactly one slot from its
 * claim until it is done:
 *
 *   running ──handler ends──▶ reporting ──result written──▶ done
 *   running ──timeout──▶ overdue ──handler ends──▶ reporting
 *   reporting ──write failed too often──▶ done (its lease lapses: recovered as a stall)
 *
 * A handler that outlives its timeout keeps its slot and its ID's claim (the
 * lease is still renewed) until it really ends, so no more than `concurrency`
 * handlers ever run in one worker and an ID never has two live runs. A finished
 * run's slot is handed to the next claim in the same script call that writes
 * its result: one round trip per batch of finished jobs.
 */
import { ActiveJob, decodePayload, encodePayload } from './job.js';
import { ConvoyError, DecryptionError, ForeignDataError, JobExpiredError, JobTimeoutError, QueueClosedError, RateLimitError, UnrecoverableError } from './errors.js';
import { backoffDelay, type StoredJobOptions } from './job-options.js';
import type { RedisArgument } from 'redis';
import type { ScriptName, ScriptReply } from './scripts.js';
import type { Connection } from './connection.js';
import type { QueueKeys } from './keys.js';
import type { ResolvedOptions } from './options.js';
import { MAX_BATCH, MAX_TIMER_MS, backoff, describeValue, sleep, describe } from './util.js';
import { log } from './log.js';
import { RepeatScheduler } from './repeat.js';
import { Leases } from './leases.js';
import { Reporter } from './report.js';

export type AsyncHandler<P = unknown> = (job: ActiveJob<P>) => unknown;
export type CallbackHandler<P = unknown> = (job: ActiveJob<P>, done: (err?: unknown) => void) => void;
export type Handler<P = unknown> = AsyncHandler<P> | CallbackHandler<P>;

/** What the worker needs from its queue. */
export interface WorkerHost {
  readonly keys: QueueKeys;
  readonly options: ResolvedOptions;
  readonly connection: Connection;
  onStarted(job: ActiveJob): void;
  onCompleted(job: ActiveJob, result: unknown): void;
  onFailed(job: ActiveJob, err: Error): void;
  onRetrying(job: ActiveJob, err: Error, delay: number): void;
  onProgress(job: ActiveJob, value: unknown): void;
  onStalled(ids: string[]): void;
  onError(err: unknown, what: string): void;
  /** Run a script on the queue's keys; rejects with a clear error. */
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply>;
  /** Send a plain command; rejects with a clear error. */
  command(args: string[], what: string): Promise<unknown>;
}

type Phase = 'running' | 'overdue' | 'reporting' | 'done';

/** One claimed run, from claim to written result. */
interface Run {
  readonly job: ActiveJob;
  readonly token: string;
  phase: Phase;
  /** The claim was taken away (lease lapsed, jam guard): the result will change nothing. */
  lost: boolean;
  /** A newer add superseded the run: its signal is aborted; its end is still reported (it frees the ID). */
  superseded?: boolean;
  readonly options: StoredJobOptions;
  error?: Error;
  /** With an error: ms until the retry, or undefined when the job fails for good. */
  retryDelay?: number;
  result?: unknown;
  timer?: NodeJS.Timeout;
  /** Failed attempts to write the result. */
  attempts: number;
}

/** The wake-up marker pause() leaves for idle workers (resume and adds leave '1'). */
const PAUSE_MARKER = 'p';

export class Worker {
  private running = true;
  /** Slots in use: claims on their way plus runs not yet done. */
  private busy = 0;
  private readonly stopper = new AbortController();
  private readonly runs = new Set<Run>();
  private slotWaiter?: (queueEmpty: boolean) => void;
  private idleWaiters: Array<() => void> = [];
  private abandoned = false;
  /** When (local clock) the earliest scheduled job falls due, as the last claim said. */
  private dueAt = Infinity;
  /** The queue is paused (as the last claim or a pause marker said): wait for resume() before claiming. */
  private paused = false;
  /** No claim before this time (local clock): the rate limit's window, or a RateLimitError's wait. */
  private heldUntil = 0;
  /** Ends the fetch loop's wait on the wake list early. */
  private nudge?: () => void;
  /** Fires the occurrences of the queue's repeatable jobs (src/repeat.ts). */
  readonly repeats: RepeatScheduler;
  /** Writes the results of finished runs (src/report.ts). */
  private readonly reporter: Reporter<Run>;
  /** Renews the runs' leases (src/leases.ts). */
  private readonly leases: Leases;
  private readonly loop: Promise<void>;

  constructor(
    private readonly host: WorkerHost,
    private readonly handler: Handler,
  ) {
    this.repeats = new RepeatScheduler(host);
    this.reporter = new Reporter<Run>(host, {
      claiming: () => this.running,
      abandoned: () => this.abandoned,
      release: (run) => this.release(run),
      passOn: (batch, claimed, reply) => this.passOn(batch, claimed, reply),
    });
    this.leases = new Leases(host, {
      runs: () => [...this.runs],
      abandoned: () => this.abandoned,
      dueIn: (ms) => this.repeats.dueIn(ms),
    });
    this.loop = this.fetchLoop();
  }

  /**
   * Stop claiming; resolves when in-flight runs are done and reported. After
   * `timeout` ms, the runs still going are handed back to the head of the
   * queue (their signal aborted, their late results ignored).
   */
  async stop(timeout?: number): Promise<void> {
    this.running = false;
    this.repeats.stop();
    this.stopper.abort();
    this.slotWaiter?.(false);
    const drained = this.loop.then(() => this.whenIdle());
    if (timeout === undefined) {
      await drained;
    } else {
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeout))),
      ]);
      clearTimeout(timer);
      if (gaveUp) await this.abandon();
    }
    this.leases.stop();
  }

  /** Hand back the runs whose handlers are still going; later results of this worker are dropped. */
  private async abandon(): Promise<void> {
    this.abandoned = true;
    const live = [...this.runs].filter((r) => r.phase === 'running' || r.phase === 'overdue');
    for (const run of live) run.job.abort(new QueueClosedError(`the queue closed before job ${run.job.id} finished; it was handed back`));
    log('%s: handing back %d running jobs', this.host.keys.queued, live.length);
    for (let i = 0; i < live.length; i += MAX_BATCH) {
      const args = ['', ...live.slice(i, i + MAX_BATCH).flatMap((r) => [r.job.id, r.token])];
      // Not handed back (Redis is down): their leases lapse and they are recovered as stalls.
      await this.host.run('release', args, 'handing back running jobs').catch((err) => this.host.onError(err, 'handing back running jobs'));
    }
  }

  private whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.runs.size === 0 && this.reporter.idle;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async fetchLoop(): Promise<void> {
    const { keys, options, connection } = this.host;
    const lease = String(options.stallTimeout);
    let rearm = false;
    let skipClaim = false;
    let failures = 0;
    let quiet = 0;
    while (this.running) {
      const free = Math.min(options.concurrency - this.busy, MAX_BATCH);
      if (free <= 0) {
        skipClaim = await new Promise<boolean>((resolve) => (this.slotWaiter = resolve));
        this.slotWaiter = undefined;
        continue;
      }
      try {
        if (this.paused) {
          await this.waitForResume();
          skipClaim = false;
          continue;
        }
        const held = this.heldUntil - Date.now();
        if (held > 0) {
          // at most one claim per window: wait it out, on the resume list,
          // where a changed (raised, lifted) limit leaves a marker
          await connection.waitPop(keys.resume, held / 1000 + 0.25, this.stopper.signal, { ms: held, onLateMarker: () => undefined });
          this.heldUntil = 0;
          skipClaim = false;
          continue;
        }
        if (!skipClaim) {
          this.busy += free;
          let reply: ScriptReply;
          try {
            reply = await this.host.run('claim', [String(free), rearm ? '1' : '0', lease], 'claiming jobs');
          } catch (err) {
            // The claim may have happened all the same: those runs are
            // recovered when their leases lapse.
            this.unreserve(free);
            throw err;
          }
          const got = this.startRuns(reply as ScriptReply[], 0, free);
          rearm = false;
          failures = 0;
          if (got === free || !this.running || this.paused || this.heldUntil > Date.now()) continue;
        }
        skipClaim = false;
        // The queue is empty: block until an add leaves a wake-up marker, or
        // the earliest scheduled job falls due.
        const untilDue = this.dueAt - Date.now();
        if (untilDue <= 0) continue;
        // Block a little past the due time and wake by our own timer at it, or
        // when a result write's claim says to look sooner (an earlier due
        // time, a rate limit window that opens).
        const seconds = Math.min(options.blockingTimeout, untilDue / 1000 + 0.25);
        const early = new Promise<void>((resolve) => (this.nudge = resolve));
        const late = (m: string) => {
          if (this.onMarker(m)) void this.passOnWakeUp();
        };
        const marker = await connection.waitPop(keys.wake, seconds, this.stopper.signal, { ms: untilDue, onLateMarker: late, early });
        this.nudge = undefined;
        rearm = this.onMarker(marker);
        failures = 0;
        // No marker and nothing due: the queue is still empty. Block again,
        // claiming only every third time (a safety net for a lost marker), so
        // an idle worker costs Redis next to nothing.
        if (!rearm && Date.now() < this.dueAt && ++quiet % 3 !== 0) skipClaim = true;
        else quiet = 0;
      } catch (err) {
        if (!this.running) break;
        this.host.onError(err, 'fetching jobs');
        await sleep(backoff(failures++), this.stopper.signal);
      }
    }
    // Woken while stopping: pass the marker on so other idle workers see the jobs.
    if (rearm) await this.passOnWakeUp();
  }

  /**
   * Paused: block until resume() (or a change of the flow control) leaves a
   * marker, then ask whether the queue is still paused (which is not a
   * claim); a wait that ends without a marker asks too (another worker may
   * have taken it).
   */
  private async waitForResume(): Promise<void> {
    const { keys, options, connection } = this.host;
    await connection.waitPop(keys.resume, options.blockingTimeout, this.stopper.signal);
    if (!this.running) return;
    // a marker may be a change of limits, and a wait may end without one: ask (not a claim)
    const paused = await this.host.command(['HGET', keys.control, 'paused'], 'checking whether the queue is paused');
    this.paused = String(paused) === '1';
  }

  /**
   * Whether a wake-up marker came. Repeat-set's marker 'r' (a repeat got an
   * earlier occurrence) also has the repeat scheduler look; it is a wake-up
   * for jobs too, as it may stand in for one. Pause's 'p' is not.
   */
  private onMarker(marker: string | null): boolean {
    if (marker === 'r') void this.repeats.check();
    // pause() leaves a 'p' for each idle worker: it waits for resume() without claiming
    if (marker === PAUSE_MARKER) this.paused = true;
    return marker !== null && marker !== PAUSE_MARKER;
  }

  /** A wake-up marker this worker took but will not act on goes back, if jobs wait. */
  private passOnWakeUp(): Promise<unknown> {
    return this.host.run('claim', ['0', '1', String(this.host.options.stallTimeout)], 'passing on a wake-up').catch(() => undefined);
  }

  /** Give back reserved slots that no run took. */
  private unreserve(n: number, queueEmpty = false): void {
    this.busy -= n;
    if (n > 0) this.slotWaiter?.(queueEmpty);
  }

  /**
   * Start the runs of a claim reply, read from `offset` as a token, the time
   * until the next scheduled job is due, whether the queue holds claims back
   * (paused, or ms to wait), then per job: id, payload, options, failed
   * attempts so far; for `reserved` slots already counted in `busy`.
   * Returns how many started; the slots left over are given back.
   */
  private startRuns(reply: ScriptReply[], offset: number, reserved: number): number {
    const got = (reply.length - offset - 3) / 4;
    // A claim that filled every slot does not look at scheduled jobs: it leaves
    // what an earlier reply said; one that found too few says when the next is due.
    const due = reply[offset + 1];
    const dueBefore = this.dueAt;
    if (due !== null) this.dueAt = Date.now() + Number(due);
    else if (got < reserved) this.dueAt = Infinity;
    const held = reply[offset + 2];
    this.paused = Number(held) === -1;
    this.heldUntil = held !== null && Number(held) > 0 ? Date.now() + Number(held) : 0;
    // a waiting fetch loop wakes for what it did not know when it began to wait
    if (this.heldUntil > 0 || this.paused || this.dueAt < dueBefore) this.nudge?.();
    const token = String(reply[offset]);
    for (let i = offset + 3; i < reply.length; i += 4) {
      this.start(String(reply[i]), token, reply[i + 1] as string | null, reply[i + 2] as string | null, Number(reply[i + 3] ?? 0));
    }
    // Fewer jobs than slots: the queue is empty.
    if (got < reserved) this.unreserve(reserved - got, true);
    return got;
  }

  private start(id: string, token: string, payloadJson: string | null, optionsJson: string | null, failedBefore: number): void {
    const { keys } = this.host;
    const startedAt = Math.floor(Number(token) / 1000);
    let payload: unknown;
    let options: StoredJobOptions = {};
    let job: ActiveJob;
    let broken: Error | undefined;
    const report = (value: unknown) => this.progress(run, value);
    try {
      payload = decodePayload(payloadJson, keys.payload, id, this.host.options.encryption);
      if (optionsJson !== null) {
        const { addedAt: _, ...kept } = decodePayload(optionsJson, keys.options, id) as StoredJobOptions & { addedAt?: number };
        options = kept;
      }
      job = new ActiveJob(id, payload, startedAt, failedBefore + 1, options, report);
    } catch (err) {
      broken = err instanceof ForeignDataError || err instanceof DecryptionError ? err : new ForeignDataError(keys.options, `the options of job ${JSON.stringify(id)} are not valid: ${(err as Error).message}`);
      job = new ActiveJob<unknown>(id, undefined, startedAt, failedBefore + 1, undefined, report);
    }
    const run: Run = { job, token, phase: 'running', lost: false, options, attempts: 0 };
    this.runs.add(run);
    if (!broken && options.expiresAt !== undefined && startedAt > options.expiresAt) {
      broken = new JobExpiredError(`job ${id} expired at ${new Date(options.expiresAt).toISOString()} before it started`);
    }
    if (broken) {
      // It never runs: nothing to retry.
      this.finish(run, broken, undefined, true);
      return;
    }
    const timeout = options.timeout ?? this.host.options.jobTimeout;
    if (timeout > 0) run.timer = setTimeout(() => this.timeOut(run, timeout), timeout);
    this.host.onStarted(job);
    this.invoke(run);
  }

  /** A handler's job.updateProgress: stored with the run (if it is still this worker's), then 'progress'. */
  private async progress(run: Run, value: unknown): Promise<void> {
    const json = encodePayload(value, this.host.options.maxPayloadBytes, this.host.options.encryption);
    if (run.phase !== 'running' && run.phase !== 'overdue') return;
    const stored = await this.host.run('progress', [run.job.id, run.token, json], 'storing progress');
    if (Number(stored) === 1) this.host.onProgress(run.job, value);
  }

  private invoke(run: Run): void {
    const handler = this.handler;
    if (handler.length >= 2) {
      let called = false;
      const done = (err?: unknown) => {
        if (called) return;
        called = true;
        this.finish(run, err == null ? undefined : toError(err));
      };
      try {
        const ret = (handler as CallbackHandler)(run.job, done) as unknown;
        if (ret instanceof Promise) ret.catch((err: unknown) => done(err ?? new Error('handler rejected')));
      } catch (err) {
        done(err ?? new Error('handler threw'));
      }
      return;
    }
    let ret: unknown;
    try {
      ret = (handler as AsyncHandler)(run.job);
    } catch (err) {
      this.finish(run, toError(err));
      return;
    }
    if (ret instanceof Promise) {
      ret.then(
        (result) => this.finish(run, undefined, result),
        (err: unknown) => this.finish(run, toError(err)),
      );
    } else {
      this.finish(run, undefined, ret);
    }
  }

  /** The timeout decides the outcome; the run still holds its slot and claim until its handler ends. */
  private timeOut(run: Run, ms: number): void {
    if (run.phase !== 'running') return;
    run.phase = 'overdue';
    run.error = new JobTimeoutError(`job ${run.job.id} timed out after ${ms} ms`);
    run.job.abort(run.error);
  }

  /** The handler is over (only its first ending counts): report the outcome. */
  private finish(run: Run, error?: Error, result?: unknown, final = false): void {
    if (run.phase === 'running' && error instanceof RateLimitError && !run.lost && !this.abandoned) {
      void this.handBack(run, error);
      return;
    }
    if (run.phase === 'running') {
      clearTimeout(run.timer);
      run.error = error;
      run.result = result;
      if (error) run.retryDelay = final ? undefined : this.retryDelay(run, error);
    } else if (run.phase === 'overdue') {
      run.retryDelay = this.retryDelay(run, run.error!);
      log('job %s ended after its timeout; it fails with the timeout', run.job.id);
    } else {
      return;
    }
    if (run.lost || this.abandoned) {
      // Its claim is gone: writing would change nothing.
      this.release(run);
      return;
    }
    run.phase = 'reporting';
    this.reporter.report(run);
  }

  /**
   * A handler met a rate limit outside: its job goes back to the head of the
   * queue, not counted as an attempt, and the whole queue waits `error.ms`.
   * If that cannot be written, the run's lease lapses and it is recovered as a stall.
   */
  private async handBack(run: Run, error: RateLimitError): Promise<void> {
    clearTimeout(run.timer);
    run.phase = 'reporting';
    const wait = Number.isFinite(error.ms) ? Math.min(Math.max(Math.ceil(error.ms), 1), MAX_TIMER_MS) : 1;
    this.heldUntil = Math.max(this.heldUntil, Date.now() + wait);
    try {
      await this.host.run('release', [String(wait), run.job.id, run.token], 'handing back a rate-limited job');
    } catch (err) {
      this.host.onError(err, 'handing back a rate-limited job');
    } finally {
      this.release(run);
    }
  }

  /** ms until a failed run's retry, or undefined when the job fails for good. */
  private retryDelay(run: Run, error: Error): number | undefined {
    const { attempt } = run.job;
    if (error instanceof UnrecoverableError || attempt >= (run.options.attempts ?? 1)) return undefined;
    const strategy = this.host.options.backoffStrategy;
    if (!strategy) return backoffDelay(run.options.backoff, attempt);
    try {
      const ms = strategy(attempt, error);
      if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return Math.min(Math.round(ms), 2 ** 31 - 1);
      this.host.onError(new ConvoyError(`backoffStrategy returned ${describe(ms)}, not ms >= 0; retrying job ${run.job.id} at once`), 'computing a backoff');
    } catch (err) {
      this.host.onError(err, 'computing a backoff');
    }
    return 0;
  }

  /** Free a run's slot: exactly once per run. */
  private release(run: Run): void {
    if (run.phase === 'done') return;
    run.phase = 'done';
    clearTimeout(run.timer);
    this.runs.delete(run);
    this.unreserve(1);
    this.checkIdle();
  }

  /** A batch's results are written: its runs are done, and their slots pass to the runs the same call claimed. */
  private passOn(batch: Run[], claim: number, reply: ScriptReply[]): void {
    for (const run of batch) {
      run.phase = 'done';
      this.runs.delete(run);
    }
    this.busy -= batch.length - claim;
    if (claim > 0) this.startRuns(reply, 1, claim);
    else this.slotWaiter?.(false);
    this.checkIdle();
  }
}

/** Any value a handler throws or rejects with, as an Error; never throws itself. */
export function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (typeof err === 'string') return new Error(err);
  return new Error(`handler failed with ${describeValue(err)}`);
}
