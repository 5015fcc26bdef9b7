/**
 * BullMQ: a Queue to add and a Worker to process, each with its own ioredis
 * connection as BullMQ requires (the Worker opens a blocking one as well).
 * removeOnComplete/removeOnFail true is its fastest setting: no completed set
 * to maintain. Dedup is the jobId option: an add whose job key exists is a no-op.
 */
import { Queue, Worker } from 'bullmq';
import type { Adapter, AdapterFactory, BenchWorker, StartHook, Target } from '../harness/adapter.js';
import { QUEUE_NAME } from '../harness/adapter.js';
import { Completions } from '../harness/completions.js';

const JOB_NAME = 'job';

async function worker(target: Target, concurrency: number, onStart?: StartHook): Promise<BenchWorker> {
  const w = new Worker(
    QUEUE_NAME,
    async (job) => {
      onStart?.(job.id!);
    },
    {
      // Workers must not give up on blocking commands: BullMQ refuses otherwise.
      connection: { host: target.host, port: target.port, maxRetriesPerRequest: null },
      concurrency,
      autorun: false,
    },
  );
  const done = new Completions().follow(w, { completed: 'completed', failed: 'failed' });
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
  async open(target): Promise<Adapter> {
    const queue = new Queue(QUEUE_NAME, {
      connection: { host: target.host, port: target.port },
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
    });
    await queue.waitUntilReady();
    return {
      name: 'bullmq',
      addOne: async (id) => {
        await queue.add(JOB_NAME, {}, { jobId: id });
      },
      addBulk: async (ids) => {
        await queue.addBulk(ids.map((id) => ({ name: JOB_NAME, data: {}, opts: { jobId: id } })));
      },
      waiting: () => queue.getWaitingCount(),
      worker: (concurrency, onStart) => worker(target, concurrency, onStart),
      close: () => queue.close(),
    };
  },
};
