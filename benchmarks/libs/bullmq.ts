/**
 * BullMQ: a Queue to add and a Worker to process, each with its own ioredis
 * connection as BullMQ requires (the Worker opens a blocking one as well).
 * removeOnComplete/removeOnFail true is its fastest setting: no completed set
 * to maintain. Dedup is the jobId option: an add whose job key exists is a no-op.
 */
import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import type { Adapter, AdapterFactory, BenchWorker, JobOptions, Target, WorkerOptions } from '../harness/adapter.js';
import { QUEUE_NAME, benchHandler } from '../harness/adapter.js';
import { Completions } from '../harness/completions.js';

const JOB_NAME = 'job';

/**
 * The job's options: its ID, and delay/attempts/priority only when asked (no
 * backoff: retried at once). BullMQ's priority 0 means none and 1 is the most
 * urgent, so ours p is its p + 1: every job of a priority run is prioritized.
 */
function jobOpts(id: string, opts?: JobOptions): JobsOptions {
  if (!opts) return { jobId: id };
  return {
    jobId: id,
    ...(opts.delay !== undefined ? { delay: opts.delay } : {}),
    ...(opts.attempts !== undefined ? { attempts: opts.attempts } : {}),
    ...(opts.priority !== undefined ? { priority: opts.priority + 1 } : {}),
  };
}

async function worker(target: Target, concurrency: number, opts?: WorkerOptions): Promise<BenchWorker> {
  const handler = benchHandler(opts);
  const w = new Worker(
    QUEUE_NAME,
    async (job) => {
      handler(job.id!, job.processedOn);
    },
    {
      // Workers must not give up on blocking commands: BullMQ refuses otherwise.
      connection: { host: target.host, port: target.port, maxRetriesPerRequest: null },
      concurrency,
      autorun: false,
      // BullMQ's limiter: one counter per queue that every worker shares, reset every `duration` ms (a fixed window).
      ...(opts?.rateLimit ? { limiter: { max: opts.rateLimit.max, duration: opts.rateLimit.duration } } : {}),
    },
  );
  // 'failed' comes after every failed run, retried or not: only a job out of attempts voids the run
  // (moveToFailed has counted the run by then).
  const done = new Completions().follow(w, {
    completed: 'completed',
    failed: 'failed',
    final: (job: Job | undefined) => !job || job.attemptsMade >= (job.opts.attempts ?? 1),
  });
  await w.waitUntilReady();
  return {
    done,
    run: () => {
      w.run().catch((err: unknown) => done.fail(err));
    },
    close: () => w.close(),
  };
}

export const bullmq: AdapterFactory = {
  name: 'bullmq',
  features: ['delay', 'retry', 'priority', 'rate-limit'],
  async open(target): Promise<Adapter> {
    const queue = new Queue(QUEUE_NAME, {
      connection: { host: target.host, port: target.port },
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
    });
    await queue.waitUntilReady();
    return {
      name: 'bullmq',
      addOne: async (id, opts) => {
        await queue.add(JOB_NAME, {}, jobOpts(id, opts));
      },
      addBulk: async (ids, opts) => {
        await queue.addBulk(ids.map((id) => ({ name: JOB_NAME, data: {}, opts: jobOpts(id, opts?.(id)) })));
      },
      waiting: () => queue.getWaitingCount(),
      worker: (concurrency, opts) => worker(target, concurrency, opts),
      close: () => queue.close(),
    };
  },
};
