/**
 * Bee-Queue: a non-worker queue object to add and a worker one to process.
 * Its fastest honest settings: jobs are removed when they finish, no pub/sub
 * events (no extra connection and no PUBLISH per job), no job objects kept in
 * memory, no delayed-job timer. Stall protection stays on: it is part of what
 * Bee-Queue promises (it costs an SREM per job). Dedup is job.setId: an add
 * whose ID is in the jobs hash is a no-op.
 */
import BeeQueue from 'bee-queue';
import type { Adapter, AdapterFactory, BenchWorker, JobOptions, Target, WorkerOptions } from '../harness/adapter.js';
import { QUEUE_NAME, benchHandler } from '../harness/adapter.js';
import { Completions } from '../harness/completions.js';

function settings(target: Target, isWorker: boolean, delayed = false): BeeQueue.QueueSettings {
  return {
    redis: { host: target.host, port: target.port },
    isWorker,
    getEvents: false,
    sendEvents: false,
    storeJobs: false,
    // Only a worker that must run delayed jobs raises them (a timer and a pub/sub connection);
    // delayedDebounce stays at its default (1 s), as a user would have it.
    activateDelayedJobs: delayed,
    removeOnSuccess: true,
    removeOnFailure: true,
  };
}

async function worker(target: Target, concurrency: number, opts?: WorkerOptions): Promise<BenchWorker> {
  if (opts?.rateLimit) throw new Error('bee has no rate limit');
  const q = new BeeQueue(QUEUE_NAME, settings(target, true, opts?.delayed));
  // 'failed' comes after every failed run (a retried one emits 'retrying' too): only
  // a job whose status is 'failed' failed for good and voids the run.
  const done = new Completions().follow(q, {
    completed: 'succeeded',
    failed: 'failed',
    final: (job: BeeQueue.Job<unknown> | undefined) => !job || job.status === 'failed',
  });
  await q.ready();
  const handler = benchHandler(opts);
  return {
    done,
    run: () => {
      q.process(concurrency, async (job) => {
        handler(job.id);
      });
    },
    close: () => q.close(),
  };
}

export const bee: AdapterFactory = {
  name: 'bee',
  features: ['delay', 'retry'],
  async open(target): Promise<Adapter> {
    const producer = new BeeQueue(QUEUE_NAME, settings(target, false));
    await producer.ready();
    // retries(n) is runs after the first, retried at once (no backoff strategy set).
    const job = (id: string, opts?: JobOptions) => {
      if (opts?.priority !== undefined) throw new Error('bee has no priorities');
      const j = producer.createJob({}).setId(id);
      if (opts?.delay) j.delayUntil(Date.now() + opts.delay);
      if (opts?.attempts !== undefined) j.retries(opts.attempts - 1);
      return j;
    };
    return {
      name: 'bee',
      addOne: async (id, opts) => {
        await job(id, opts).save();
      },
      addBulk: async (ids, opts) => {
        const errors = await producer.saveAll(ids.map((id) => job(id, opts?.(id))));
        const first = errors.values().next();
        if (!first.done) throw first.value;
      },
      waiting: async () => (await producer.checkHealth()).waiting,
      worker: (concurrency, opts) => worker(target, concurrency, opts),
      close: () => producer.close(),
    };
  },
};
