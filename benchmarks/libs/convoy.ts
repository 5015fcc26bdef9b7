/**
 * convoy-queue: one queue object adds, another runs the worker (as in a real
 * deployment; in one process they share the library's command connection).
 * jobTimeout 0 because the peers run no per-job timer by default either; the
 * blocking timeout is the library default, which is what the idle cost
 * scenario should show a user.
 */
import { createQueue, Job, type ActiveJob, type Queue } from '../../src/index.js';
import type { Adapter, AdapterFactory, BenchWorker, StartHook, Target } from '../harness/adapter.js';
import { QUEUE_NAME } from '../harness/adapter.js';
import { Completions } from '../harness/completions.js';

/** Resolves once the queue's connection is up, so setup stays out of the timed part. */
async function connected(q: Queue): Promise<void> {
  await q.stats();
}

async function worker(target: Target, concurrency: number, onStart?: StartHook): Promise<BenchWorker> {
  const q = createQueue(QUEUE_NAME, { redis: target.url, concurrency, jobTimeout: 0 });
  const done = new Completions().follow(q, { completed: 'completed', failed: 'failed' });
  await connected(q);
  return {
    done,
    run: () =>
      q.process(async (job: ActiveJob) => {
        onStart?.(job.id);
      }),
    close: () => q.close(),
  };
}

export const convoy: AdapterFactory = {
  name: 'convoy',
  async open(target): Promise<Adapter> {
    const producer = createQueue(QUEUE_NAME, { redis: target.url });
    await connected(producer);
    return {
      name: 'convoy',
      addOne: async (id) => {
        await producer.addJob(new Job(id));
      },
      addBulk: async (ids) => {
        await producer.addJobs(ids.map((id) => new Job(id)));
      },
      waiting: async () => (await producer.stats()).queued,
      worker: (concurrency, onStart) => worker(target, concurrency, onStart),
      close: () => producer.close(),
    };
  },
};
