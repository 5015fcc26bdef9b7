/**
 * Ivy's tasks on convoy-queue: register a function on producer and consumer
 * alike, call it from the producer, get its result back. Run:
 * `npx tsx examples/tasks.ts`. Uses REDIS_URL when set (touching only this
 * example's own keys), otherwise a private redis-server that it starts and stops.
 */
import { createTaskQueue } from '../src/tasks/index.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const server = process.env.REDIS_URL ? undefined : await startRedisServer();
const redis = process.env.REDIS_URL ?? server!.url;
const name = `testpackage-${process.pid}`;

// The shared code base: the same functions, registered by the same names.
async function factorial(n: number): Promise<number> {
  return n <= 1 ? 1 : n * (await factorial(n - 1));
}
function divide(a: number, b: number, callback: (err: Error | null, quotient?: number, rest?: number) => void): void {
  if (b === 0) return callback(new RangeError('division by zero'));
  callback(null, Math.floor(a / b), a % b);
}
function register(tasks: ReturnType<typeof createTaskQueue>): void {
  tasks.registerTask(factorial, { name: 'testpackage.factorial', attempts: 3, timeout: 60_000 });
  tasks.registerTask(divide, { name: 'testpackage.divide', callback: true });
}

// The consumer (usually another process): runs the calls, 4 at a time.
const consumer = createTaskQueue(name, { redis });
register(consumer);
await consumer.listen({ concurrency: 4 });

// The producer: calls them as if they were local.
const tasks = createTaskQueue(name, { redis });
register(tasks);
console.log('5! =', await tasks.delayedCall('testpackage.factorial', 5));
console.log('17 / 5 =', await tasks.delayedCall(divide, 17, 5)); // a callback task's result: [3, 2]
await new Promise<void>((resolve) =>
  tasks.delayedCall(factorial, 6, (err, result) => {
    console.log('6! =', err ?? result, '(Ivy callback form)');
    resolve();
  }),
);
const call = tasks.call(factorial, 10);
console.log(`status of ${call.id}:`, await tasks.status(call.id));
console.log('10! =', await call.result);
try {
  await tasks.delayedCall(divide, 1, 0);
} catch (err) {
  console.log('failed:', (err as Error).name, (err as Error).message);
}

await tasks.queue.obliterate(); // this example's queue keys go (the tasks' ended hashes expire within the hour)
await Promise.all([tasks.close(), consumer.close()]);
await server?.stop();
