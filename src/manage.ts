/**
 * Managing jobs by ID: look a job up, list a state, remove, retry, drain,
 * obliterate, and the registry of live workers. Each state change is one Lua
 * script (scripts/get-job.lua, list-jobs.lua, remove-job.lua, retry-failed.lua,
 * drain.lua, obliterate.lua, workers.lua); Queue's methods delegate here.
 */
import type { RedisArgument } from 'redis';
import { Job, decodePayload } from './job.js';
import { InvalidOptionError, QueueBusyError, QueueClosedError } from './errors.js';
import type { StoredJobOptions } from './job-options.js';
import type { QueueKeys } from './keys.js';
import type { ResolvedOptions } from './options.js';
import type { ScriptName, ScriptReply } from './scripts.js';
import type { JobErrorRecord } from './queue.js';
import { describeValue } from './util.js';

/** The states a job can be found in by ID. */
export type JobState = 'queued' | 'scheduled' | 'processing' | 'failed';

const STATES: readonly JobState[] = ['queued', 'scheduled', 'processing', 'failed'];

/** What the queue keeps for one job ID. */
export interface JobInfo<P = unknown> {
  id: string;
  state: JobState;
  payload: P | undefined;
  /** The job options kept with it (attempts, backoff, stallLimit, timeout, expiresAt); `{}` when none. */
  options: StoredJobOptions;
  /**
   * Runs so far: the failed runs since it was last added (or retried), plus
   * one while it is processing; so for a processing job it equals its
   * handler's `job.attempt`, and for a failed job it counts every run that
   * failed, the last included. Runs that stalled or jammed are not counted.
   */
  attempt: number;
  /**
   * When it was added (ms since the epoch, the producer's clock): kept with the
   * options of jobs added with options. A job without options keeps nothing
   * but its ID (and payload), so it has no addedAt.
   */
  addedAt?: number;
  /** scheduled: when it falls due (ms since the epoch, Redis clock). */
  runAt?: number;
  /** processing: when its current run was claimed (ms since the epoch, Redis clock). */
  startedAt?: number;
  /** processing: the progress its current run reported last, if any. */
  progress?: unknown;
  /** failed: its last error. */
  lastError?: JobErrorRecord;
}

/** A live worker of the queue, as its last lease renewal left it. */
export interface WorkerInfo {
  /** a random ID per worker (one per queue object that called process) */
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  /** the IDs it was running at its last renewal */
  running: string[];
  /** its last renewal (ms since the epoch, Redis clock) */
  lastSeen: number;
}

/** What the management calls need from their queue. */
export interface ManageHost {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly options: ResolvedOptions;
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply>;
}

/** IDs per script call: bounds the time one call holds Redis and its Lua argument lists. */
const PAGE = 1000;

/** Fields per job in the get-job and list-jobs replies (after the ID in list-jobs). */
const FIELDS = 7;

export class JobManager<P = unknown> {
  constructor(
    private readonly host: ManageHost,
    /** Whether the queue's close() was called. */
    private readonly closed: () => boolean,
  ) {}

  private open(): void {
    if (this.closed()) throw new QueueClosedError(`queue ${this.host.name} is closed`);
  }

  async getJob(id: string | number): Promise<JobInfo<P> | null> {
    const key = new Job(id).id;
    this.open();
    const reply = (await this.host.run('getJob', [key], 'reading a job')) as ScriptReply[] | null;
    if (!reply) return null;
    return this.info(key, reply[0] as JobState, reply, 1, true);
  }

  async listJobs(state: JobState, options: { offset?: number; limit?: number } = {}): Promise<JobInfo<P>[]> {
    if (!STATES.includes(state)) {
      throw new InvalidOptionError(`listJobs takes a state (${STATES.map((s) => `'${s}'`).join(', ')}), got ${describeValue(state)}`);
    }
    const { offset, limit } = pageOptions('listJobs', options);
    this.open();
    const out: JobInfo<P>[] = [];
    for (let at = offset; out.length < limit; ) {
      const page = Math.min(limit - out.length, PAGE);
      const reply = (await this.host.run('listJobs', [state, String(at), String(page)], `listing ${state} jobs`)) as ScriptReply[];
      for (let i = 0; i < reply.length; i += FIELDS) out.push(this.info(String(reply[i]), state, reply, i + 1, false));
      if (reply.length / FIELDS < page) break;
      at += page;
    }
    return out;
  }

  /** One job from a reply: score, payload, options, failed runs, progress, last error from `at`. */
  private info(id: string, state: JobState, reply: ScriptReply[], at: number, strict: boolean): JobInfo<P> {
    const { keys } = this.host;
    const [score, payload, options, failedRuns, progress, lastError] = reply.slice(at, at + FIELDS - 1) as Array<string | null>;
    const { addedAt, ...kept } = (decode(options, keys.options, id, strict) as (StoredJobOptions & { addedAt?: number }) | undefined) ?? {};
    const job: JobInfo<P> = {
      id,
      state,
      payload: decode(payload, keys.payload, id, strict) as P | undefined,
      options: kept,
      attempt: Number(failedRuns ?? 0) + (state === 'processing' ? 1 : 0),
    };
    if (typeof addedAt === 'number') job.addedAt = addedAt;
    if (state === 'scheduled') job.runAt = Number(score);
    if (state === 'processing') {
      job.startedAt = Math.floor(Number(score) / 1000);
      if (progress !== null && progress !== undefined) job.progress = decode(progress, keys.progress, id, strict);
    }
    if (state === 'failed' && lastError !== null && lastError !== undefined) job.lastError = parseRecord(lastError);
    return job;
  }

  async removeJob(id: string | number): Promise<boolean> {
    const key = new Job(id).id;
    this.open();
    return Number(await this.host.run('removeJob', [key], 'removing a job')) === 1;
  }

  async retryFailed(ids: Array<string | number>): Promise<number> {
    const list = ids.map((id) => new Job(id).id);
    this.open();
    let retried = 0;
    if (list.length === 0) {
      // Each call takes the first page of failure records, so the next call sees the next ones.
      for (;;) {
        const [back, seen] = (await this.host.run('retryFailed', [String(PAGE)], 'retrying failed jobs')) as number[];
        retried += Number(back);
        if (Number(seen) < PAGE) return retried;
      }
    }
    for (let i = 0; i < list.length; i += PAGE) {
      const [back] = (await this.host.run('retryFailed', [String(PAGE), ...list.slice(i, i + PAGE)], 'retrying failed jobs')) as number[];
      retried += Number(back);
    }
    return retried;
  }

  async drain(): Promise<number> {
    this.open();
    let removed = 0;
    for (;;) {
      const [queued, scheduled] = ((await this.host.run('drain', [String(PAGE)], 'draining the queue')) as number[]).map(Number);
      removed += queued + scheduled;
      if (queued < PAGE && scheduled < PAGE) return removed;
    }
  }

  async obliterate(options: { force?: boolean } = {}): Promise<void> {
    const force = options?.force ?? false;
    if (typeof force !== 'boolean') throw new InvalidOptionError(`obliterate takes { force?: boolean }, got force ${describeValue(force)}`);
    this.open();
    const reply = await this.host.run('obliterate', [force ? '1' : '0'], 'obliterating the queue');
    if (!Array.isArray(reply)) {
      throw new QueueBusyError(`queue ${this.host.name} has ${Number(reply)} jobs processing; stop its workers first, or pass { force: true }`);
    }
  }

  async getWorkers(): Promise<WorkerInfo[]> {
    this.open();
    const window = 2 * this.host.options.stallTimeout;
    const reply = (await this.host.run('workers', [String(window)], 'reading workers')) as Array<string | null>;
    const out: WorkerInfo[] = [];
    for (const json of reply) {
      if (json === null) continue;
      let w: Partial<WorkerInfo>;
      try {
        w = JSON.parse(json) as Partial<WorkerInfo>;
      } catch {
        continue;
      }
      if (typeof w !== 'object' || w === null) continue;
      out.push({
        id: String(w.id),
        host: String(w.host),
        pid: Number(w.pid),
        concurrency: Number(w.concurrency),
        // Lua's cjson writes an empty table as {}.
        running: Array.isArray(w.running) ? w.running.map(String) : [],
        lastSeen: Number(w.lastSeen),
      });
    }
    return out;
  }
}

function pageOptions(method: string, options: { offset?: number; limit?: number }): { offset: number; limit: number } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(`${method} takes { offset?, limit? }, got ${describeValue(options)}`);
  }
  const offset = options.offset ?? 0;
  const limit = options.limit ?? PAGE;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new InvalidOptionError(`${method}: offset must be an integer >= 0, got ${describeValue(offset)}`);
  }
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidOptionError(`${method}: limit must be an integer >= 1, got ${describeValue(limit)}`);
  }
  return { offset, limit };
}

/** Stored JSON back as data: strictly (a ForeignDataError) for one job, leniently (undefined) in a list. */
function decode(json: string | null | undefined, key: string, id: string, strict: boolean): unknown {
  if (json === null || json === undefined) return undefined;
  if (strict) return decodePayload(json, key, id);
  try {
    return decodePayload(json, key, id);
  } catch {
    return undefined;
  }
}

function parseRecord(json: string): JobErrorRecord {
  try {
    return JSON.parse(json) as JobErrorRecord;
  } catch {
    return { message: json, time: 0 };
  }
}
