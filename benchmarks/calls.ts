/**
 * Calls: a producer calls a function that a consumer runs and gets its result
 * back. convoy's tasks (`convoy-queue/tasks`, Ivy's delayedCall) against
 * BullMQ's add + job.waitUntilFinished(queueEvents); the only two libraries
 * with a way back for the result (Bee-Queue's job events are left out, raw
 * has none). Written outside the Adapter interface: two libraries, one
 * function each.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { createTaskQueue } from '../src/tasks/index.js';
import type { LibName, Target } from './harness/adapter.js';
import { CONCURRENCY, IN_FLIGHT, timed, type Ctx } from './harness/session.js';
import { inFlight, percentile, withTimeout } from './harness/util.js';

/** Opened fresh for every run: `call(x)` resolves with the remote x + 1. */
interface Caller {
  call(x: number): Promise<unknown>;
  close(): Promise<void>;
}

const QUEUE_NAME = 'bench-calls';
const TASK_NAME = 'bench.inc';
const inc = (x: number) => x + 1;

/** convoy: a producer task queue and a consumer task queue on one queue name, as two processes would have. */
async function convoyCaller(target: Target, concurrency: number): Promise<Caller> {
  // jobTimeout 0 as in the convoy adapter: BullMQ runs no per-job timer either.
  const opts = { redis: target.url, jobTimeout: 0 };
  const producer = createTaskQueue(QUEUE_NAME, opts);
  const consumer = createTaskQueue(QUEUE_NAME, opts);
  for (const q of [producer, consumer]) q.registerTask(inc, { name: TASK_NAME });
  await consumer.listen({ concurrency });
  await producer.queue.stats();
  return {
    call: (x) => producer.delayedCall(TASK_NAME, x),
    close: async () => {
      await Promise.all([producer.close(), consumer.close()]);
    },
  };
}

/** BullMQ: a Queue, a QueueEvents (ready before the first add) and a Worker, each with its own connections. */
async function bullmqCaller(target: Target, concurrency: number): Promise<Caller> {
  const connection = { host: target.host, port: target.port };
  // Completed jobs are kept (its default): waitUntilFinished reads a job finished before it listened from its key.
  const queue = new Queue(QUEUE_NAME, { connection });
  const events = new QueueEvents(QUEUE_NAME, { connection });
  const worker = new Worker<{ x: number }>(QUEUE_NAME, async (job) => inc(job.data.x), {
    connection: { ...connection, maxRetriesPerRequest: null },
    concurrency,
  });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);
  return {
    call: async (x) => {
      const job = await queue.add('inc', { x });
      return job.waitUntilFinished(events);
    },
    close: async () => {
      await Promise.all([worker.close(), events.close(), queue.close()]);
    },
  };
}

/** The libraries with calls; the others are n/a. */
export const CALLERS: Partial<Record<LibName, (target: Target, concurrency: number) => Promise<Caller>>> = {
  convoy: convoyCaller,
  bullmq: bullmqCaller,
};

/** Every call of the whole benchmark gets its own argument, so no two calls share a run (or a kept result). */
let nextArg = 0;

/** One call, its result checked, failing the run rather than hanging when no result comes. */
async function checkedCall(c: Caller, ctx: Ctx): Promise<void> {
  const x = nextArg++;
  const r = await withTimeout(c.call(x), ctx.stallMs, `call ${x}`);
  if (r !== x + 1) throw new Error(`call ${x} returned ${JSON.stringify(r)}, expected ${x + 1}`);
}

/** A run on a clean server with a fresh caller, closed whatever happens. */
async function callSession<T>(lib: LibName, ctx: Ctx, fn: (c: Caller) => Promise<T>): Promise<T> {
  const open = CALLERS[lib];
  if (!open) throw new Error(`${lib} has no calls`);
  await ctx.admin.flushAll();
  const c = await open(ctx.target, CONCURRENCY);
  try {
    return await fn(c);
  } finally {
    await withTimeout(c.close(), 15_000, `${lib}: closing the calls' queues`);
  }
}

export interface CallLatencyRun {
  readonly p50: number;
  readonly p99: number;
}

/** Round trip on an idle queue: one call at a time, from the call until its result is back (ms). */
export function callLatency(lib: LibName, ctx: Ctx, samples: number): Promise<CallLatencyRun> {
  return callSession(lib, ctx, async (c) => {
    await sleep(200); // the consumer finds the queue empty and blocks
    const ms: number[] = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      await checkedCall(c, ctx);
      ms.push(performance.now() - t0);
      await sleep(1);
    }
    return { p50: percentile(ms, 0.5), p99: percentile(ms, 0.99) };
  });
}

export interface CallsRun {
  readonly calls: number;
  readonly seconds: number;
  readonly commands: number;
}

/** `n` calls, IN_FLIGHT at a time, each awaited for its result; consumer concurrency CONCURRENCY. */
export function callThroughput(lib: LibName, ctx: Ctx, n: number): Promise<CallsRun> {
  return callSession(lib, ctx, async (c) => {
    const run = await timed(ctx, n, () => inFlight(Array.from({ length: n }), IN_FLIGHT, () => checkedCall(c, ctx)));
    return { calls: n, seconds: run.seconds, commands: run.commands };
  });
}

/** How the throughput runs call, for the report. */
export const CALLS_SETUP = `${IN_FLIGHT} calls in flight, each awaited for its result, consumer concurrency ${CONCURRENCY}`;
