/**
 * The batched reporting of a worker's results: the runs that end in the same
 * tick are written together, one script call for completions and one for
 * failures (scripts/complete.lua, fail.lua), up to MAX_BATCH runs per call; a
 * first write also claims the next jobs for the slots it frees. A write that
 * fails is tried again with backoff; after MAX_REPORT_ATTEMPTS the run is
 * given up to stall recovery (no longer renewed, its lease lapses).
 */
import type { RedisArgument } from 'redis';
import type { ActiveJob } from './job.js';
import { ConvoyError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { ScriptName, ScriptReply } from './scripts.js';
import { MAX_BATCH, backoff } from './util.js';
import { errorRecord, resultJson } from './error-record.js';
import { log } from './log.js';

/** What reporting needs from the worker's queue (the worker's WorkerHost). */
export interface ReportHost {
  readonly options: ResolvedOptions;
  onCompleted(job: ActiveJob, result: unknown): void;
  onFailed(job: ActiveJob, err: Error): void;
  onRetrying(job: ActiveJob, err: Error, delay: number): void;
  onError(err: unknown, what: string): void;
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply>;
}

/** What reporting reads and writes of a run (the worker's Run says what each is). */
export interface ReportedRun {
  readonly job: ActiveJob;
  readonly token: string;
  error?: Error;
  retryDelay?: number;
  result?: unknown;
  attempts: number;
}

/** What reporting needs from its worker. */
export interface ReportOwner<R> {
  /** Whether the worker still claims jobs: a first write also claims the next ones. */
  claiming(): boolean;
  /** Whether the worker handed its runs back (stop's timeout): their results are dropped. */
  abandoned(): boolean;
  /** Free a run's slot (its result was dropped, or given up). */
  release(run: R): void;
  /** A batch is written: its runs are done, their slots pass to the `claimed` runs of the reply. */
  passOn(batch: R[], claimed: number, reply: ScriptReply[]): void;
}

const MAX_REPORT_ATTEMPTS = 8;

export class Reporter<R extends ReportedRun> {
  private pending: R[] = [];
  private flushScheduled = false;
  /** Result writes in flight or waiting to be retried. */
  private inFlight = 0;

  constructor(
    private readonly host: ReportHost,
    private readonly worker: ReportOwner<R>,
  ) {}

  /** No result is waiting to be written or being written. */
  get idle(): boolean {
    return this.inFlight === 0 && this.pending.length === 0;
  }

  /** Write the run's result, with the others that end in this tick. */
  report(run: R): void {
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
    const done = batch.filter((r) => !r.error);
    const failed = batch.filter((r) => r.error);
    for (let i = 0; i < done.length; i += MAX_BATCH) void this.write(done.slice(i, i + MAX_BATCH), false, true);
    for (let i = 0; i < failed.length; i += MAX_BATCH) void this.write(failed.slice(i, i + MAX_BATCH), true, true);
  }

  /**
   * Write results. A first attempt also claims the next jobs for the slots it
   * frees; a retry never does, since the first attempt may have claimed them
   * already (with no reply to say so).
   */
  private async write(batch: R[], failed: boolean, first: boolean): Promise<void> {
    const { options } = this.host;
    if (this.worker.abandoned()) {
      for (const run of batch) this.worker.release(run);
      return;
    }
    const claim = first && this.worker.claiming() ? batch.length : 0;
    const args: string[] = [String(claim), '0', String(options.stallTimeout)];
    if (failed) args.push(String(options.errorLogSize), String(options.errorLogTtl));
    for (const run of batch) {
      args.push(run.job.id, run.token);
      if (failed) args.push(errorRecord(run.job.id, run.error!, options.encryption), run.retryDelay === undefined ? '' : String(run.retryDelay));
      else args.push(options.keepResults ? this.resultOf(run) : '');
    }
    this.inFlight++;
    let reply: ScriptReply[];
    try {
      reply = (await this.host.run(failed ? 'fail' : 'complete', args, 'reporting job results')) as ScriptReply[];
    } catch (err) {
      // no longer in flight before retry() decides: a run it gives up on may make the worker idle
      this.inFlight--;
      this.retry(batch, failed, err);
      return;
    }
    this.inFlight--;
    const flags = String(reply[0]);
    for (let i = 0; i < batch.length; i++) {
      const run = batch[i];
      if (flags[i] === '2') {
        log('job %s: its run was superseded by a newer add; this result changed nothing and the ID runs again', run.job.id);
      } else if (flags[i] !== '1') {
        log('job %s: its claim was taken away (stall or jam guard); this late result changed nothing', run.job.id);
      } else if (failed && run.retryDelay !== undefined) {
        this.host.onRetrying(run.job, run.error!, run.retryDelay);
      } else if (failed) {
        this.host.onFailed(run.job, run.error!);
      } else {
        this.host.onCompleted(run.job, run.result);
      }
    }
    this.worker.passOn(batch, claim, reply);
  }

  /** A completed run's result as kept (keepResults); one JSON cannot keep is kept as null, and said. */
  private resultOf(run: R): string {
    const { stored, problem } = resultJson(run.result, this.host.options.maxPayloadBytes, this.host.options.encryption);
    if (problem) this.host.onError(new ConvoyError(`the result of job ${run.job.id} is kept as null: ${problem}`), 'keeping a result');
    return stored;
  }

  /** A result could not be written: try again with backoff, then give up to stall recovery. */
  private retry(batch: R[], failed: boolean, err: unknown): void {
    this.host.onError(err, 'reporting job results');
    const again: R[] = [];
    for (const run of batch) {
      if (++run.attempts < MAX_REPORT_ATTEMPTS && !this.worker.abandoned()) {
        again.push(run);
      } else {
        // No longer renewed, its lease lapses and the job is recovered as a stall.
        log('job %s: result not written after %d attempts; it will be recovered when its lease lapses', run.job.id, run.attempts);
        this.worker.release(run);
      }
    }
    if (!again.length) return;
    this.inFlight++;
    setTimeout(() => {
      this.inFlight--;
      void this.write(again, failed, false);
    }, backoff(again[0].attempts - 1));
  }
}
