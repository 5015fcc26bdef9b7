/**
 * Managing jobs by ID: look a job up, list a state, remove, retry, drain,
 * obliterate, failure records, and the registry of live workers. Each state change is one Lua
 * script (scripts/get-job.lua, list-jobs.lua, remove-job.lua, retry-failed.lua,
 * drain.lua, obliterate.lua, workers.lua); Queue's methods delegate here.
 */
import type { RedisArgument } from 'redis';
import { Job, decodePayload } from './job.js';
import { InvalidOptionError, QueueBusyError } from './errors.js';
import { decodeStored, type ResolvedEncryption } from './crypto.js';
import type { StoredJobOptions } from './job-options.js';
import type { QueueKeys } from './keys.js';
import type { ResolvedOptions } from './options.js';
import type { ScriptName, ScriptReply } from './scripts.js';
import type { Jsonify } from './jsonify.js';
import { callOptions, checkCallNumber } from './options.js';
import { describe } from './util.js';

/** The states a job can be found in by ID ('completed': only its kept result is left, see keepResults). */
export type JobState = 'queued' | 'scheduled' | 'processing' | 'failed' | 'completed';

/** The states listJobs lists. */
export type ListState = Exclude<JobState, 'completed'>;

const STATES: readonly ListState[] = ['queued', 'scheduled', 'processing', 'failed'];

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
  /** completed: what its last run's handler resolved (the kept result, as JSON gave it back). */
  result?: unknown;
  /** completed: when its last run finished (ms since the epoch, Redis clock). */
  finishedAt?: number;
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

/** The last failure of a job, as kept in Redis. */
export interface JobErrorRecord {
  message: string;
  name?: string;
  stack?: string;
  /** ms since the epoch */
  time: number;
  /** true when the jam guard requeued the job */
  jammed?: boolean;
  /** the error's `code`, when it had one */
  code?: unknown;
  /** the error's `cause` chain (bounded depth) */
  cause?: unknown;
  /** the error's own enumerable data */
  data?: Record<string, unknown>;
}

export interface FailedJob<P = unknown> {
  id: string;
  /** failed and jammed runs since the ID was last added */
  count: number;
  lastError: JobErrorRecord | null;
  /** as JSON gave it back; `undefined` when the stored payload is not readable */
  payload: Jsonify<P> | undefined;
}

/** What the management calls need from their queue. */
export interface ManageHost {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly options: ResolvedOptions;
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply>;
  command(args: string[], what: string): Promise<unknown>;
}

/** IDs per script call: bounds the time one call holds Redis and its Lua argument lists. */
const PAGE = 1000;

/** Fields per job in the get-job and list-jobs replies (after the ID in list-jobs). */
const FIELDS = 7;

export class JobManager<P = unknown> {
  constructor(
    private readonly host: ManageHost,
    /** Throws the queue's QueueClosedError once its close() was called. */
    private readonly assertOpen: (call: string) => void,
  ) {}

  async getFailed(options: { offset?: number; limit?: number } = {}): Promise<FailedJob<P>[]> {
    this.assertOpen('getFailed');
    const { offset = 0, limit = 1000 } = callOptions('getFailed', options, ['offset', 'limit']);
    checkCallNumber('getFailed', 'offset', offset, 0, true);
    checkCallNumber('getFailed', 'limit', limit, 1, true);
    const out: FailedJob<P>[] = [];
    for (let at = offset; out.length < limit; ) {
      const page = Math.min(limit - out.length, PAGE);
      const reply = (await this.host.run('failed', [String(at), String(page)], 'reading failed jobs')) as ScriptReply[];
      for (let i = 0; i < reply.length; i += 4) {
        const id = String(reply[i]);
        out.push({
          id,
          count: Number(reply[i + 1]),
          lastError: reply[i + 2] === null ? null : this.record(String(reply[i + 2]), id),
          payload: this.decode(reply[i + 3] as string | null, this.host.keys.payload, id, false) as Jsonify<P> | undefined,
        });
      }
      if (reply.length / 4 < page) break;
      at += page;
    }
    return out;
  }

  async removeFailed(ids: Array<string | number>): Promise<number> {
    this.assertOpen('removeFailed');
    const list = ids.map((id) => new Job(id).id);
    let removed = 0;
    for (let i = 0; i < list.length; i += PAGE) {
      removed += Number(await this.host.run('removeFailed', ['', ...list.slice(i, i + PAGE)], 'removing failed jobs'));
    }
    return removed;
  }

  async trimFailed(options: { olderThan: number }): Promise<number> {
    this.assertOpen('trimFailed');
    const { olderThan } = callOptions('trimFailed', options, ['olderThan']);
    checkCallNumber('trimFailed', 'olderThan', olderThan, 0, false);
    const cutoff = String(Date.now() - olderThan! * 1000);
    let removed = 0;
    for (let offset = 0; ; ) {
      const ids = (await this.host.command(['ZRANGE', this.host.keys.failed, String(offset), String(offset + PAGE - 1)], 'trimming failed jobs')) as string[];
      if (!ids.length) return removed;
      const gone = Number(await this.host.run('removeFailed', [cutoff, ...ids], 'trimming failed jobs'));
      removed += gone;
      offset += ids.length - gone;
    }
  }

  async getJob(id: string | number): Promise<JobInfo<P> | null> {
    const key = new Job(id).id;
    this.assertOpen('getJob');
    const reply = (await this.host.run('getJob', [key], 'reading a job')) as ScriptReply[] | null;
    if (!reply) return null;
    const job = this.info(key, reply[0] as JobState, reply, 1, true);
    if (job.state === 'completed') {
      job.finishedAt = Number(reply[1]);
      job.result = this.decode(reply[7] as string, this.host.keys.results, key, true);
    }
    return job;
  }

  async listJobs(state: ListState, options: { offset?: number; limit?: number } = {}): Promise<JobInfo<P>[]> {
    if (!STATES.includes(state)) {
      throw new InvalidOptionError(`listJobs takes a state (${STATES.map((s) => `'${s}'`).join(', ')}), got ${describe(state)}`);
    }
    const { offset, limit } = pageOptions('listJobs', options);
    this.assertOpen('listJobs');
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
    const { addedAt, ...kept } = (this.decode(options, keys.options, id, strict) as (StoredJobOptions & { addedAt?: number }) | undefined) ?? {};
    const job: JobInfo<P> = {
      id,
      state,
      payload: this.decode(payload, keys.payload, id, strict) as P | undefined,
      options: kept,
      attempt: Number(failedRuns ?? 0) + (state === 'processing' ? 1 : 0),
    };
    if (typeof addedAt === 'number') job.addedAt = addedAt;
    if (state === 'scheduled') job.runAt = Number(score);
    if (state === 'processing') {
      job.startedAt = Math.floor(Number(score) / 1000);
      if (progress !== null && progress !== undefined) job.progress = this.decode(progress, keys.progress, id, strict);
    }
    if (state === 'failed' && lastError !== null && lastError !== undefined) job.lastError = this.record(lastError, id);
    return job;
  }

  /**
   * Stored JSON back as data: strictly (a ForeignDataError, or a
   * DecryptionError) for one job, leniently (undefined) in a list.
   */
  private decode(json: string | null | undefined, key: string, id: string, strict: boolean): unknown {
    if (json === null || json === undefined) return undefined;
    const enc = this.host.options.encryption;
    if (strict) return decodePayload(json, key, id, enc);
    try {
      return decodePayload(json, key, id, enc);
    } catch {
      return undefined;
    }
  }

  private record(json: string, id: string): JobErrorRecord {
    return parseRecord(json, this.host.keys.failinfo, id, this.host.options.encryption);
  }

  async removeJob(id: string | number): Promise<boolean> {
    const key = new Job(id).id;
    this.assertOpen('removeJob');
    return Number(await this.host.run('removeJob', [key], 'removing a job')) === 1;
  }

  async retryFailed(ids: Array<string | number>): Promise<number> {
    const list = ids.map((id) => new Job(id).id);
    this.assertOpen('retryFailed');
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
    this.assertOpen('drain');
    let removed = 0;
    for (;;) {
      const [count, more] = ((await this.host.run('drain', [String(PAGE)], 'draining the queue')) as number[]).map(Number);
      removed += count;
      if (!more) return removed;
    }
  }

  async obliterate(options: { force?: boolean } = {}): Promise<void> {
    const force = options?.force ?? false;
    if (typeof force !== 'boolean') throw new InvalidOptionError(`obliterate takes { force?: boolean }, got force ${describe(force)}`);
    this.assertOpen('obliterate');
    const reply = await this.host.run('obliterate', [force ? '1' : '0'], 'obliterating the queue');
    if (!Array.isArray(reply)) {
      throw new QueueBusyError(`queue ${this.host.name} has ${Number(reply)} jobs processing; stop its workers first, or pass { force: true }`);
    }
  }

  async getWorkers(): Promise<WorkerInfo[]> {
    this.assertOpen('getWorkers');
    const window = 2 * this.host.options.stallTimeout;
    const reply = (await this.host.run('workers', [String(window)], 'reading workers')) as Array<string | null>;
    const out: WorkerInfo[] = [];
    for (let i = 0; i < reply.length; i += 2) {
      const json = reply[i];
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
        lastSeen: Number(reply[i + 1]),
      });
    }
    return out;
  }
}

function pageOptions(method: string, options: { offset?: number; limit?: number }): { offset: number; limit: number } {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(`${method} takes { offset?, limit? }, got ${describe(options)}`);
  }
  const offset = options.offset ?? 0;
  const limit = options.limit ?? PAGE;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new InvalidOptionError(`${method}: offset must be an integer >= 0, got ${describe(offset)}`);
  }
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidOptionError(`${method}: limit must be an integer >= 1, got ${describe(limit)}`);
  }
  return { offset, limit };
}

/** An error record as data; never throws: one it cannot read or decrypt says so in its message. */
export function parseRecord(json: string, key: string, id: string, enc: ResolvedEncryption | undefined): JobErrorRecord {
  try {
    const record = JSON.parse(json) as JobErrorRecord & { sealed?: unknown };
    if (typeof record?.sealed !== 'string') return record;
    try {
      return JSON.parse(decodeStored(record.sealed, enc, key, `the error record of job ${JSON.stringify(id)}`)) as JobErrorRecord;
    } catch (err) {
      return { name: (err as Error).name, message: (err as Error).message, time: Number(record.time) || 0 };
    }
  } catch {
    return { message: json, time: 0 };
  }
}
