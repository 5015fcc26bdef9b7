import test from 'ava';
import { createClient } from 'redis';
import sinon from 'sinon';
import { ConnectionError, Job, createQueue } from '../src/index.js';
import { freePort, startRedisServer } from './helpers/redis-server.js';
import { until, sleep } from './helpers/backends.js';

let n = 0;
const name = () => `conn-${process.pid}-${++n}`;

test('addJob rejects with a clear error within the command timeout when Redis is down', async (t) => {
  const port = await freePort();
  const q = createQueue(name(), { redis: `redis://127.0.0.1:${port}`, commandTimeout: 300 });
  q.on('error', () => undefined);
  t.teardown(() => q.close({ timeout: 100 }));
  const started = Date.now();
  const err = await t.throwsAsync(q.addJob(new Job(1)), { instanceOf: ConnectionError });
  t.regex(err.message, /adding jobs: could not connect to Redis within 300 ms: .*ECONNREFUSED/);
  t.true(Date.now() - started < 2000);
});

test('connection errors reach error listeners, and without one nothing crashes', async (t) => {
  const port = await freePort();
  const heard = createQueue(name(), { redis: `redis://127.0.0.1:${port}`, commandTimeout: 200 });
  const errors = sinon.spy();
  heard.on('error', errors);
  const silent = createQueue(name(), { redis: `redis://127.0.0.1:${port}`, commandTimeout: 200 });
  t.teardown(() => Promise.all([heard.close({ timeout: 100 }), silent.close({ timeout: 100 })]));
  silent.process(async () => undefined);
  await until(() => errors.called, 3000, 'an error event');
  t.true(errors.firstCall.args[0] instanceof ConnectionError);
  await sleep(300); // the silent queue's worker keeps failing to fetch, quietly: no uncaught error
  t.true(errors.args.every(([e]) => e instanceof ConnectionError && e.message.length > 0));
});

test('workers reconnect by themselves and go on when Redis comes back', async (t) => {
  const server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always']);
  t.teardown(() => server.stop());
  const q = createQueue(name(), { redis: server.url, commandTimeout: 500, blockingTimeout: 0.2 });
  q.on('error', () => undefined);
  t.teardown(() => q.close({ timeout: 500 }));
  const ran: string[] = [];
  q.process(async (job) => {
    ran.push(job.id);
  });
  await q.addJob(new Job('before'));
  await until(() => ran.length === 1);

  await server.stop({ hard: true });
  await t.throwsAsync(q.addJob(new Job('while-down')), { instanceOf: ConnectionError });
  await sleep(300);
  await server.start();

  await until(async () => {
    try {
      await q.addJob(new Job('after'));
      return true;
    } catch {
      return false;
    }
  }, 10_000, 'adds to work again');
  await until(() => ran.includes('after'), 10_000, 'the worker to go on');
  t.true(ran.includes('before'));
});

test("a server that may evict keys gets one 'warning'", async (t) => {
  const server = await startRedisServer(['--maxmemory', '100mb', '--maxmemory-policy', 'allkeys-lru']);
  t.teardown(() => server.stop());
  const q = createQueue(name(), { redis: server.url });
  t.teardown(() => q.close());
  const warnings = sinon.spy();
  q.on('warning', warnings);
  await q.addJob(new Job(1));
  await until(() => warnings.called);
  await sleep(50);
  t.true(warnings.calledOnce);
  t.regex(warnings.firstCall.args[0], /allkeys-lru.*noeviction/);
});

test('queue objects on one Redis URL share one connection and release it on close', async (t) => {
  const server = await startRedisServer();
  t.teardown(() => server.stop());
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
  t.teardown(() => server.stop());
  const a = createQueue(name(), { redis: { url: server.url } });
  const b = createQueue(name(), { redis: { url: server.url } });
  const reconnectStrategy = () => 100;
  const c = createQueue(name(), { redis: { url: server.url, socket: { reconnectStrategy } } });
  t.teardown(() => Promise.all([a.close(), b.close(), c.close()]));
  t.is(a.connection, b.connection);
  t.not(a.connection, c.connection);
  t.is(await c.addJob(new Job(1)), 'queued');
});

test('an idle worker sends about one command per blocking timeout', async (t) => {
  // on a server of its own, so other tests' workers do not count
  const server = await startRedisServer();
  t.teardown(() => server.stop());
  const q = createQueue(name(), { redis: server.url, blockingTimeout: 0.5 });
  t.teardown(() => q.close());
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
  // 2 s / 0.5 s = 4 waits, each followed by one claim attempt: no polling
  t.true(worker >= 4 && worker <= 10, `idle worker sent ${worker} commands in 2 s`);
});
