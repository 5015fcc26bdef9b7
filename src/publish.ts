/**
 * Publishing: addJob and addJobs check each job and encode its payload and
 * options at once, then queue it for the end of the tick; the adds made in the
 * same tick go to Redis together, ADD_CHUNK IDs per add script call
 * (scripts/add.lua). Queue's addJob and addJobs delegate here.
 */
import type { RedisArgument } from 'redis';
import { Job, encodePayload } from './job.js';
import { InvalidArgumentError } from './errors.js';
import { withDefaults, type JobOptions } from './job-options.js';
import type { ResolvedOptions } from './options.js';
import type { ScriptName, ScriptReply } from './scripts.js';
import type { HookName, Plugin } from './hooks.js';
import { describe } from './util.js';

/**
 * What happened to an added job: queued now, scheduled now, already waiting
 * (queued or scheduled; left as it was), running right now, or already
 * waiting and replaced by this add (`duplicateWhileWaiting` 'replace' or 'debounce').
 */
export type AddOutcome = 'queued' | 'scheduled' | 'committed' | 'processing' | 'replaced';
const OUTCOMES: Record<string, AddOutcome> = { 0: 'queued', 1: 'committed', 2: 'processing', 3: 'scheduled', 4: 'replaced' };

/** What publishing needs from its queue. */
export interface PublishHost {
  readonly options: ResolvedOptions;
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply>;
  /** Call a plugin hook (only queues with plugins get here). */
  hook<N extends HookName>(name: N, ...args: Parameters<NonNullable<Plugin[N]>>): void;
}

interface PendingAdd {
  /** the job as given, for the onJobAdded hook */
  job: Job<unknown>;
  id: string;
  payload: string;
  /** options JSON kept in Redis, or '' */
  options: string;
  /** ms from now, or '' (none, or 0 where that says nothing) */
  delay: string;
  /** the add's own duplicate policies (waiting, processing, maxWait; '' = the queue's), when it gives any */
  policy?: string[];
  resolve(outcome: AddOutcome): void;
  reject(err: Error): void;
}

/** IDs per add script call: bounds the time one call holds Redis. */
const ADD_CHUNK = 1000;

export class Publisher<P = unknown> {
  private adds: PendingAdd[] = [];
  private addsInFlight = new Set<Promise<void>>();

  constructor(
    private readonly host: PublishHost,
    /** Throws the queue's QueueClosedError once its close() was called. */
    private readonly assertOpen: (call: string) => void,
  ) {}

  addJob(job: Job<P>): Promise<AddOutcome> {
    try {
      return this.enqueue([this.prepare(job, 'addJob')])[0];
    } catch (err) {
      return Promise.reject(err);
    }
  }

  addJobs(jobs: readonly Job<P>[]): Promise<AddOutcome[]> {
    try {
      this.assertOpen('addJobs');
      if (!Array.isArray(jobs)) throw new InvalidArgumentError(`addJobs takes an array of Job, got ${describe(jobs)}`);
      const prepared = jobs.map((j, i) => this.prepare(j, `addJobs: jobs[${i}]`));
      return Promise.all(this.enqueue(prepared));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private prepare(job: Job<P>, call: string): Omit<PendingAdd, 'resolve' | 'reject'> {
    this.assertOpen('addJob');
    if (!(job instanceof Job)) {
      throw new InvalidArgumentError(`${call} takes a Job, as in q.addJob(new Job(id, payload)); got ${describe(job)}`);
    }
    const defaults = this.host.options.defaultJobOptions;
    const { stored, delay, policy } = defaults ? withDefaults(job.options, defaults) : job.prepared;
    // 'replace' tells "no delay" (keep the due time) from a delay of 0 (due now).
    const gives = (o: JobOptions | undefined) => o !== undefined && (o.delay !== undefined || o.runAt !== undefined);
    const timed = (gives(job.options) || gives(defaults)) && (policy?.waiting ?? this.host.options.duplicateWhileWaiting) === 'replace';
    return {
      job: job as Job<unknown>,
      id: job.id,
      payload: encodePayload(job.payload, this.host.options.maxPayloadBytes, this.host.options.encryption),
      // Jobs with options also keep when they were added (getJob's addedAt).
      options: stored ? JSON.stringify({ ...stored, addedAt: Date.now() }) : '',
      delay: delay || timed ? String(delay) : '',
      policy: policy && [policy.waiting ?? '', policy.processing ?? '', policy.maxWait === undefined ? '' : String(policy.maxWait)],
    };
  }

  private enqueue(items: Omit<PendingAdd, 'resolve' | 'reject'>[]): Promise<AddOutcome>[] {
    const wasEmpty = this.adds.length === 0;
    const promises = items.map(
      (item) => new Promise<AddOutcome>((resolve, reject) => this.adds.push({ job: item.job, id: item.id, payload: item.payload, options: item.options, delay: item.delay, policy: item.policy, resolve, reject })),
    );
    if (wasEmpty && items.length) process.nextTick(() => this.flushAdds());
    return promises;
  }

  /** Send the adds of this tick now (close() does, before the connection goes). */
  flushAdds(): void {
    const batch = this.adds;
    if (!batch.length) return;
    this.adds = [];
    for (let i = 0; i < batch.length; i += ADD_CHUNK) {
      const chunk = batch.slice(i, i + ADD_CHUNK);
      const { duplicateWhileProcessing, duplicateWhileWaiting, maxWait } = this.host.options;
      const args: string[] = [duplicateWhileProcessing, duplicateWhileWaiting, maxWait === undefined ? '' : String(maxWait), String(chunk.length)];
      for (const a of chunk) args.push(a.id);
      // Only the jobs that carry anything, then only those with their own policies (see add.lua).
      const carrying = args.push('0') - 1;
      const policies: string[] = [];
      chunk.forEach((a, k) => {
        if (a.payload || a.options || a.delay) args.push(String(k + 1), a.payload, a.options, a.delay);
        if (a.policy) policies.push(String(k + 1), ...a.policy);
      });
      args[carrying] = String((args.length - carrying - 1) / 4);
      for (const p of policies) args.push(p);
      const sent = this.host.run('add', args, 'adding jobs').then(
        (codes) => {
          const s = String(codes);
          chunk.forEach((a, k) => a.resolve(OUTCOMES[s[k]]));
          if (this.host.options.plugins.length) chunk.forEach((a, k) => this.host.hook('onJobAdded', a.job, OUTCOMES[s[k]]));
        },
        (err: Error) => chunk.forEach((a) => a.reject(err)),
      );
      this.addsInFlight.add(sent);
      void sent.finally(() => this.addsInFlight.delete(sent));
    }
  }

  /** Resolves when every add sent so far has its answer. */
  async settled(): Promise<void> {
    while (this.addsInFlight.size) await Promise.allSettled([...this.addsInFlight]);
  }
}
