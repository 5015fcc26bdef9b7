/**
 * Results and events: a producer waits for a job's result (or its error, from
 * another process's worker), and a listener follows the queue's event stream.
 * Run: `npx tsx examples/results.ts`. Uses REDIS_URL when set (touching only
 * this example's own keys), otherwise a private redis-server it starts and stops.
 */
import { Job, RemoteJobError, createQueue, createQueueEvents } from '../src/index.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const server = process.env.REDIS_URL ? undefined : await startRedisServer();
const redis = process.env.REDIS_URL ?? server!.url;
const name = `invoices-${process.pid}`;

// A listener: in any process, from now on ('$'), reconnecting by itself.
const events = createQueueEvents(name, { redis });
events.on('event', (e) => console.log(`event ${e.event} ${e.id}`));
await events.ready;

// The worker: what its handler resolves is the job's result.
const worker = createQueue<{ amount: number }>(name, { redis, keepResults: { age: 3600, count: 10_000 } });
worker.process(async (job) => {
  if (job.payload.amount < 0) throw Object.assign(new Error('negative amount'), { code: 'E_AMOUNT' });
  return { invoice: `INV-${job.id}`, total: job.payload.amount * 1.2 };
});

// The producer: every caller that adds the same ID gets the result of its one run.
const producer = createQueue<{ amount: number }>(name, { redis });
await producer.addJob(new Job('order-7', { amount: 100 }));
console.log('result:', await producer.waitForResult('order-7', { timeout: 10_000 }));
console.log('getJob:', await producer.getJob('order-7'));

await producer.addJob(new Job('order-8', { amount: -5 }));
try {
  await producer.waitForResult('order-8', { timeout: 10_000 });
} catch (err) {
  if (!(err instanceof RemoteJobError)) throw err;
  console.log(`failed in the worker: ${err.remote.name}: ${err.message} (code ${String(err.remote.code)})`);
}

await new Promise((resolve) => setTimeout(resolve, 200)); // the listener's last events
await producer.obliterate(); // this example's keys go
await Promise.all([producer.close(), worker.close(), events.close()]);
await server?.stop();
