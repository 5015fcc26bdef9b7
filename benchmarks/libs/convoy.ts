/**
 * convoy-queue: one queue object adds, another runs the worker (as in a real
 * deployment; in one process they share the library's command connection).
 * jobTimeout 0 because the peers run no per-job timer by default either; the
 * blocking timeout is the library default, which is what the idle cost
 * scenario should show a user.
 */
import { createQueue, Job, type ActiveJob, type Queue } from '../../src/index.js';
import type { Adapter, AdapterFactory, BenchWorker, JobOptions, Target, WorkerOptions } from '../harness/adapter.js';
import { QUEUE_NAME, benchHandler } from '../harness/adapter.js';
import { Completions } from '../harness/completions.js';

/** Resolves once the queue's connection is up, so setup stays out of the timed part. */
async function connected(q: Queue): Promise<void> {
  await q.stats();
}

/** Options only when there are some, so plain jobs take the plain path. */
function job(id: string, opts?: JobOptions): Job {
  return opts ? new Job(id, undefined, { delay: opts.delay, attempts: opts.attempts, priority: opts.priority }) : new Job(id);
}

async function worker(target: Target, concurrency: number, opts?: WorkerOptions): Promise<BenchWorker> {
  const q = createQueue(QUEUE_NAME, { redis: target.url, concurrency, jobTimeout: 0, ...(opts?.rateLimit ? { rateLimit: opts.rateLimit } : {}) });
  // 'failed' is a failure for good here; a run that will be retried emits 'retrying'.
  const done = new Completions().follow(q, { completed: 'completed', failed: 'failed' });
  await connected(q);
  // The rateLimit option is set as the queue connects: make sure it is in place before the timed part.
  if (opts?.rateLimit && (await q.getRateLimit())?.max !== opts.rateLimit.max) throw new Error('convoy: the rateLimit option was not set');
  const handler = benchHandler(opts);
  return {
    done,
    run: () =>
      q.process(async (job: ActiveJob) => {
        handler(job.id, job.startedAt);
      }),
    close: () => q.close(),
  };
}

export const convoy: AdapterFactory = {
  name: 'convoy',
  features: ['delay', 'retry', 'priority', 'rate-limit'],
  async open(target): Promise<Adapter> {
    const producer = createQueue(QUEUE_NAME, { redis: target.url });
    await connected(producer);
    return {
      name: 'convoy',
      addOne: async (id, opts) => {
        await producer.addJob(job(id, opts));
      },
      addBulk: async (ids, opts) => {
        await producer.addJobs(ids.map((id) => job(id, opts?.(id))));
      },
      waiting: async () => (await producer.stats()).queued,
      worker: (concurrency, opts) => worker(target, concurrency, opts),
      close: () => producer.close(),
    };
  },
};
