/**
 * Bee-Queue: a non-worker queue object to add and a worker one to process.
 * Its fastest honest settings: jobs are removed when they finish, no pub/sub
 * events (no extra connection and no PUBLISH per job), no job objects kept in
 * memory, no delayed-job timer. Stall protection stays on: it is part of what
 * Bee-Queue promises (it costs an SREM per job). Dedup is job.setId: an add
 * whose ID is in the jobs hash is a no-op.
 */
import BeeQueue from 'bee-queue';
import type { Adapter, AdapterFactory, BenchWorker, StartHook, Target } from '../harness/adapter.js';
import { QUEUE_NAME } from '../harness/adapter.js';
import { Completions } from '../harness/completions.js';

function settings(target: Target, isWorker: boolean): BeeQueue.QueueSettings {
  return {
    redis: { host: target.host, port: target.port },
    isWorker,
    getEvents: false,
    sendEvents: false,
    storeJobs: false,
    activateDelayedJobs: false,
    removeOnSuccess: true,
    removeOnFailure: true,
  };
}

async function worker(target: Target, concurrency: number, onStart?: StartHook): Promise<BenchWorker> {
  const q = new BeeQueue(QUEUE_NAME, settings(target, true));
  const done = new Completions().follow(q, { completed: 'succeeded', failed: 'failed' });
  await q.ready();
  return {
    done,
    run: () => {
      q.process(concurrency, async (job) => {
        onStart?.(job.id);
      });
    },
    close: () => q.close(),
  };
}

export const bee: AdapterFactory = {
  name: 'bee',
  async open(target): Promise<Adapter> {
    const producer = new BeeQueue(QUEUE_NAME, settings(target, false));
    await producer.ready();
    const job = (id: string) => producer.createJob({}).setId(id);
    return {
      name: 'bee',
      addOne: async (id) => {
        await job(id).save();
      },
      addBulk: async (ids) => {
        const errors = await producer.saveAll(ids.map(job));
        const first = errors.values().next();
        if (!first.done) throw first.value;
      },
      waiting: async () => (await producer.checkHealth()).waiting,
      worker: (concurrency, onStart) => worker(target, concurrency, onStart),
      close: () => producer.close(),
    };
  },
};
