import test from 'ava';
import { createClient } from 'redis';
import sinon from 'sinon';
import { ConnectionError, Job, createQueue } from '../src/index.js';
import { freePort, startRedisServer } from './helpers/redis-server.js';
import { BUSY_MARGIN_MS, until, sleep, withTimeout } from './helpers/backends.js';

let n = 0;
const name = () => `conn-${process.pid}-${++n}`;

test('addJob rejects with a clear error within the command timeout when Redis is down', async (t) => {
  const port = await freePort();
  const q = createQueue(name(), { redis: `redis://127.0.0.1:${port}`, commandTimeout: 300 });
  q.on('error', () => undefined);
  t.teardown(() => withTimeout(q.close({ timeout: 100 }), 15_000, 'closing the queue'));
  const started = Date.now();
  const err = await t.throwsAsync(q.addJob(new Job(1)), { instanceOf: ConnectionError });
  t.regex(err.message, /adding jobs: could not connect to Redis within 300 ms: .*ECONNREFUSED/);
  const took = Date.now() - started;
  t.true(took < 300 + BUSY_MARGIN_MS, `rejected after ${took} ms with commandTimeout 300`);
});

test('connection errors reach error listeners, and without one nothing crashes', async (t) => {
  const port = await freePort();
  const heard = createQueue(name(), { redis: `redis://127.0.0.1:${port}`, commandTimeout: 200 });
  const errors = sinon.spy();
  heard.on('error', errors);
  const silent = createQueue(name(), { redis: `redis://127.0.0.1:${port}`, commandTimeout: 200 });
  t.teardown(() => withTimeout(Promise.all([heard.close({ timeout: 100 }), silent.close({ timeout: 100 })]), 15_000, 'closing the queues'));
  silent.process(async () => undefined);
  await until(() => errors.callCount, (n) => n >= 1, 'an error event');
  t.true(errors.firstCall.args[0] instanceof ConnectionError);
  await sleep(300); // the silent queue's worker keeps failing to fetch, quietly: no uncaught error
  t.true(errors.args.every(([e]) => e instanceof ConnectionError && e.message.length > 0));
});

test('workers reconnect by themselves and go on when Redis comes back', async (t) => {
  const server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always']);
  t.teardown(() => withTimeout(server.stop(), 20_000, 'stopping the redis-server'));
  // The worker and the set-up run under the default command timeout: a busy
  // machine may take longer than a short one just to connect.
  const q = createQueue(name(), { redis: server.url, blockingTimeout: 0.2 });
  q.on('error', () => undefined);
  // A short command timeout only for the call made while Redis is down.
  const probe = createQueue(q.name, { redis: server.url, commandTimeout: 500 });
  probe.on('error', () => undefined);
  t.teardown(() => withTimeout(Promise.all([q.close({ timeout: 500 }), probe.close({ timeout: 500 })]), 15_000, 'closing the queues'));
  const ran: string[] = [];
  q.process(async (job) => {
    ran.push(job.id);
  });
  await q.addJob(new Job('before'));
  await until(() => ran, (r) => r.length === 1, "the job 'before' to run");
  // the short-timeout connection is up before the fault (retried: its set-up is not what is tested)
  await until(() => probe.countQueued(), () => true, 'the short-timeout connection to come up');

  await server.stop({ hard: true });
  await t.throwsAsync(probe.addJob(new Job('while-down')), { instanceOf: ConnectionError });
  await sleep(300);
  await server.start();

  await until(
    () => q.addJob(new Job('after')),
    () => true,
    'adds to work again after the restart',
  );
  await until(() => ran, (r) => r.includes('after'), "the worker to go on and run 'after'");
  t.true(ran.includes('before'));
});

test("a server that may evict keys gets one 'warning'", async (t) => {
  const server = await startRedisServer(['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru']);
  t.teardown(() => withTimeout(server.stop(), 20_000, 'stopping the redis-server'));
  const q = createQueue(name(), { redis: server.url });
  t.teardown(() => withTimeout(q.close({ timeout: 1000 }), 15_000, 'closing the queue'));
  const warnings = sinon.spy();
  q.on('warning', warnings);
  await q.addJob(new Job(1));
  await until(() => warnings.callCount, (n) => n >= 1, 'warnings to be called');
  await sleep(50);
  t.true(warnings.calledOnce);
  t.regex(warnings.firstCall.args[0], /allkeys-lru.*noeviction/);
});

test('queue objects on one Redis URL share one connection and release it on close', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => withTimeout(server.stop(), 20_000, 'stopping the redis-server'));
  const a = createQueue(name(), { redis: server.url });
  const b = createQueue(name(), { redis: server.url });
  t.is(a.connection, b.connection);
  await a.addJob(new Job(1));
  await a.close();
  t.is(await b.addJob(new Job(1)), 'queued', 'b still works after a closed');
  await b.close();
  const c = createQueue(name(), { redis: server.url });
  t.not(c.connection, a.connection, 'a new connection after all closed');
  await c.close();
});

test('equal option objects share a connection; options holding functions do not', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => withTimeout(server.stop(), 20_000, 'stopping the redis-server'));
  const a = createQueue(name(), { redis: { url: server.url } });
  const b = createQueue(name(), { redis: { url: server.url } });
  const reconnectStrategy = () => 100;
  const c = createQueue(name(), { redis: { url: server.url, socket: { reconnectStrategy } } });
  t.teardown(() => withTimeout(Promise.all([a.close(), b.close(), c.close()]), 15_000, 'closing the queues'));
  t.is(a.connection, b.connection);
  t.not(a.connection, c.connection);
  t.is(await c.addJob(new Job(1)), 'queued');
});

test('an idle worker sends about one command per blocking timeout', async (t) => {
  // on a server of its own, so other tests' workers do not count
  const server = await startRedisServer();
  t.teardown(() => withTimeout(server.stop(), 20_000, 'stopping the redis-server'));
  const q = createQueue(name(), { redis: server.url, blockingTimeout: 0.5 });
  t.teardown(() => withTimeout(q.close({ timeout: 1000 }), 15_000, 'closing the queue'));
  q.process(async () => undefined);
  await sleep(300);
  const inspect = createClient({ url: server.url });
  await inspect.connect();
  t.teardown(() => inspect.destroy());
  await inspect.sendCommand(['CONFIG', 'RESETSTAT']);
  await sleep(2000);
  const stats = String(await inspect.sendCommand(['INFO', 'commandstats']));
  const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  const worker = calls('blpop') + calls('evalsha') + calls('eval');
  // 2 s / 0.5 s = 4 waits, each followed by one claim attempt: no polling (a busy
  // machine can only make it fewer; polling would be hundreds)
  t.true(worker >= 1 && worker <= 10, `idle worker sent ${worker} commands in 2 s (at most 4 waits + 4 claims + 2 expected)`);
});
