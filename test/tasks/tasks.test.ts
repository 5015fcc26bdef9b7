/**
 * Ivy's tasks (`convoy-queue/tasks`): calls by name and by function, the
 * callback forms, shared runs of equal calls across producers and processes,
 * errors, unknown tasks, refused arguments, timeouts, statuses, one channel
 * per producer, and the queue's kept result as the fallback for a missed
 * message or a lost subscriber.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createClient, createCluster } from 'redis';
import { InvalidArgumentError, InvalidPayloadError, InvalidOptionError, JobRemovedError, type RedisConfig } from '../../src/index.js';
import { RemoteJobError, TaskTimeoutError, UnknownTaskError, createTaskQueue, type TaskQueue, type TaskQueueOptions } from '../../src/tasks/index.js';
import { forEachBackend, until, withTimeout, type Backend } from '../helpers/backends.js';
import type { RedisCluster } from '../helpers/cluster.js';

/** A gate a task waits at until the test opens it. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** A raw command on every node of the backend (one for standalone); the replies. */
async function everyNode(backend: Backend, args: string[]): Promise<unknown[]> {
  const topology = (backend as Partial<{ topology: RedisCluster }>).topology;
  if (!topology) return [await backend.inspect.sendCommand(args)];
  const replies: unknown[] = [];
  for (const { url } of topology.rootNodes) {
    const c = createClient({ url });
    c.on('error', () => undefined);
    await c.connect();
    try {
      replies.push(await c.sendCommand(args));
    } finally {
      c.destroy();
    }
  }
  return replies;
}

/** Subscribers of a channel, plain or sharded (a cluster's task channels are sharded), over all nodes. */
async function subscribers(backend: Backend, channel: string): Promise<number> {
  let n = 0;
  for (const command of ['NUMSUB', 'SHARDNUMSUB']) {
    const replies = (await everyNode(backend, ['PUBSUB', command, channel])) as Array<[string, number]>;
    n += replies.reduce((sum, r) => sum + Number(r[1]), 0);
  }
  return n;
}

/** The producer channels of queue `name` subscribed now, plain or sharded, over all nodes. */
async function producerChannels(backend: Backend, name: string): Promise<string[]> {
  const pattern = `convoy:{${name}}:producer:*`;
  const replies = [...(await everyNode(backend, ['PUBSUB', 'CHANNELS', pattern])), ...(await everyNode(backend, ['PUBSUB', 'SHARDCHANNELS', pattern]))];
  return [...new Set((replies as string[][]).flat().map(String))].sort();
}

/** Keys of queue `name` matching `<prefix>:{name}:<pattern>`, over all nodes. */
async function keysOf(backend: Backend, name: string, pattern: string): Promise<string[]> {
  // a cluster's replicas list their masters' keys again
  return [...new Set(((await everyNode(backend, ['KEYS', `convoy:{${name}}:${pattern}`])) as string[][]).flat().map(String))].sort();
}

/**
 * The pub/sub connections of the producer whose channel is `channel` (its
 * connections are named after the channel's random part), over all nodes:
 * each with its node, client ID and subscription counts.
 */
async function subscriberClients(backend: Backend, channel: string): Promise<Array<{ node: number; id: string; subscriptions: number }>> {
  const name = `convoy-tasks-${channel.split(':').at(-1)}`;
  const lists = (await everyNode(backend, ['CLIENT', 'LIST'])) as string[];
  return lists.flatMap((list, node) =>
    String(list)
      .split('\n')
      .map((line) => Object.fromEntries(line.split(' ').map((f) => f.split('=', 2))) as Record<string, string>)
      .filter((c) => c.name === name && /P/.test(c.flags ?? ''))
      .map((c) => ({ node, id: c.id, subscriptions: Number(c.sub) + Number(c.psub) + Number(c.ssub ?? 0) })),
  );
}

/** One raw command on node `node` of the backend (as everyNode numbers them). */
async function onNode(backend: Backend, node: number, args: string[]): Promise<unknown> {
  const topology = (backend as Partial<{ topology: RedisCluster }>).topology;
  if (!topology) return backend.inspect.sendCommand(args);
  const c = createClient({ url: topology.rootNodes[node].url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await c.sendCommand(args);
  } finally {
    c.destroy();
  }
}

const show = (redis: RedisConfig) => (typeof redis === 'string' ? redis : JSON.stringify(redis));

forEachBackend((test, ctx) => {
  /** A task queue closed when the test ends. */
  const tasksOn = (t: { teardown(fn: () => Promise<unknown>): void }, name: string, options: TaskQueueOptions = {}): TaskQueue => {
    // A generous commandTimeout: each test opens a dozen connections at once, on a busy box.
    const q = createTaskQueue(name, { redis: ctx.backend.redis, commandTimeout: 20_000, ...options });
    q.on('error', () => undefined);
    t.teardown(() => withTimeout(q.close({ timeout: 1000 }), 10_000, `closing task queue ${q.name}`));
    return q;
  };

  async function factorial(n: number): Promise<number> {
    return n <= 1 ? 1 : n * (await factorial(n - 1));
  }

  test('a task called by name and by function returns its result, also to a callback', async (t) => {
    const name = ctx.name();
    const consumer = tasksOn(t, name);
    consumer.registerTask(factorial, { name: 'testpackage.factorial', attempts: 3, timeout: 60_000 });
    await consumer.listen({ concurrency: 4 });
    const producer = tasksOn(t, name);
    producer.registerTask(factorial, { name: 'testpackage.factorial', attempts: 3, timeout: 60_000 });
    t.is(await producer.delayedCall('testpackage.factorial', 5), 120);
    t.is(await producer.delayedCall(factorial, 6), 720);
    const viaCallback = await new Promise<unknown[]>((resolve) => producer.delayedCall(factorial, 4, (err, ...rest) => resolve([err, ...rest])));
    t.deepEqual(viaCallback, [null, 24]);
    // The job: { task, arguments }, its ID the task name and a hash of the arguments.
    const { id, result } = producer.call(factorial, 3);
    t.regex(id, /^testpackage\.factorial:[0-9a-f]{32}$/);
    t.is(await result, 6);
  });

  test('Node-style callback tasks return the array of their results; errors reach the caller', async (t) => {
    const name = ctx.name();
    const divide = (a: number, b: number, cb: (err: Error | null, ...r: unknown[]) => void) => {
      if (b === 0) return cb(Object.assign(new RangeError('division by zero'), { code: 'EDIVZERO' }));
      setImmediate(() => cb(null, Math.floor(a / b), a % b));
    };
    const [consumer, producer] = [tasksOn(t, name), tasksOn(t, name)];
    for (const q of [consumer, producer]) q.registerTask(divide, { callback: true });
    await consumer.listen();
    t.deepEqual(await producer.delayedCall('divide', 17, 5), [3, 2]);
    // Ivy's callback form gets the results spread, as the task gave them.
    t.deepEqual(await new Promise((resolve) => producer.delayedCall(divide, 9, 4, (err, q, r) => resolve([err, q, r]))), [null, 2, 1]);
    const err = await t.throwsAsync(producer.delayedCall(divide, 1, 0), { instanceOf: RemoteJobError, message: 'division by zero' });
    t.like(err?.remote, { name: 'RangeError', code: 'EDIVZERO' });
  });

  test('a task that throws reaches the caller as a RemoteJobError with the name, message, code and cause', async (t) => {
    const name = ctx.name();
    class PaymentError extends Error {
      override name = 'PaymentError';
      code = 'E_CARD';
    }
    const charge = async (amount: number) => {
      throw new PaymentError(`declined: ${amount}`, { cause: new TypeError('card expired') });
    };
    const [consumer, producer] = [tasksOn(t, name), tasksOn(t, name)];
    for (const q of [consumer, producer]) q.registerTask(charge, { name: 'billing.charge', attempts: 2 });
    await consumer.listen();
    const call = producer.call('billing.charge', 30);
    const err = await t.throwsAsync(call.result, { instanceOf: RemoteJobError });
    t.is(err?.message, 'declined: 30');
    t.like(err?.remote, { name: 'PaymentError', message: 'declined: 30', code: 'E_CARD', cause: { name: 'TypeError', message: 'card expired' } });
    t.regex(String(err?.remote.stack), /PaymentError: declined: 30/);
    t.is(err?.jobId, call.id);
    t.is(await producer.status(call.id), 'errored');
  });

  // Serial: 5 processes of 10 producers each are a load of their own.
  test.serial('50 producers in 5 processes call the same task with the same arguments at once: it runs once, and all get its result', async (t) => {
    t.timeout(120_000);
    const name = ctx.name();
    const counter = `count:{${name}}`;
    const ran = gate();
    const consumer = tasksOn(t, name);
    consumer.registerTask(
      async ({ n }: { n: number }) => {
        await ctx.backend.inspect.sendCommand(['INCR', counter]);
        await ran.wait;
        return n * 6;
      },
      { name: 'shared.slow' },
    );
    const children = Array.from({ length: 5 }, () => {
      const child = fork(new URL('../fixtures/task-producers.ts', import.meta.url), [show(ctx.backend.redis), name, '10'], { execArgv: ['--import', 'tsx'], stdio: 'ignore' });
      t.teardown(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
      const ready = new Promise<void>((resolve, reject) => {
        child.on('message', (m: { ready?: boolean }) => m.ready && resolve());
        child.once('exit', (code) => reject(new Error(`a producer process exited (${code}) before it was ready`)));
      });
      const results = new Promise<unknown[]>((resolve, reject) => {
        child.on('message', (m: { results?: unknown[] }) => m.results && resolve(m.results));
        child.once('exit', (code) => reject(new Error(`a producer process exited (${code}) before it sent its results`)));
      });
      return { child, ready, results };
    });
    await withTimeout(Promise.all(children.map((c) => c.ready)), 60_000, 'the producer processes starting');
    for (const c of children) c.child.send('go');
    // Every producer registered for the ID (its add goes at the same time): then the consumer starts.
    const probe = consumer.call('shared.slow', { n: 7 });
    const callers = `convoy:{${name}}:callers:${probe.id}`;
    await until(() => ctx.backend.inspect.sCard(callers), (n) => n >= 51, { what: 'all 51 producers to register', timeout: 60_000 });
    await consumer.listen({ concurrency: 4 });
    await until(() => ctx.backend.inspect.sendCommand(['GET', counter]), (v) => String(v) === '1', 'the task to start');
    ran.open();
    const all = (await withTimeout(Promise.all(children.map((c) => c.results)), 60_000, 'the producers results')).flat();
    t.deepEqual(all, Array(50).fill(42));
    t.is(await probe.result, 42);
    t.is(String(await ctx.backend.inspect.sendCommand(['GET', counter])), '1', 'the task body ran once');
  });

  test('a run past its time limit fails with JobTimeoutError: its producer gets that, never the result the task returns later', async (t) => {
    const name = ctx.name();
    const [consumer, producer] = [tasksOn(t, name), tasksOn(t, name)];
    // The body's timer is due well after the run's limit: the limit always fires first.
    const slowpoke = () => new Promise((resolve) => setTimeout(() => resolve('late'), 600));
    for (const q of [consumer, producer]) q.registerTask(slowpoke, { name: 'slowpoke', timeout: 200 });
    await consumer.listen();
    const call = producer.call('slowpoke');
    const err = await t.throwsAsync(withTimeout(call.result, 20_000, 'the call to end'), { instanceOf: RemoteJobError });
    t.is(err?.remote.name, 'JobTimeoutError');
    t.is(await producer.status(call.id), 'errored');
  });

  test('a consumer that gets a task it has not registered fails it for good with UnknownTaskError, names the task, and goes on', async (t) => {
    const name = ctx.name();
    const consumer = tasksOn(t, name);
    consumer.registerTask(factorial);
    await consumer.listen();
    const producer = tasksOn(t, name);
    producer.registerTask(factorial);
    producer.registerTask(async (s: string) => s.toUpperCase(), { name: 'text.shout', attempts: 5 });
    const err = await t.throwsAsync(producer.delayedCall('text.shout', 'hi'), { instanceOf: RemoteJobError });
    t.is(err?.remote.name, 'UnknownTaskError');
    t.regex(err!.message, /task "text\.shout" is not registered on this consumer/);
    const [failed] = await producer.queue.getFailed();
    t.is(failed.id, err!.jobId);
    t.deepEqual(failed.payload, { task: 'text.shout', arguments: ['hi'] }, 'nothing lost: the call is kept');
    t.regex(failed.lastError?.message ?? '', /text\.shout/);
    t.is(failed.count, 1, 'no retries');
    t.is(await producer.delayedCall(factorial, 5), 120, 'the consumer goes on');
  });

  test('a call of a task not registered on the producer, or with arguments JSON would change, is refused at once and writes nothing', async (t) => {
    const name = ctx.name();
    const producer = tasksOn(t, name);
    producer.registerTask(factorial);
    await t.throwsAsync(producer.delayedCall('nope', 1), { instanceOf: UnknownTaskError, message: /task "nope" is not registered/ });
    await t.throwsAsync(producer.delayedCall(async () => 1), { instanceOf: UnknownTaskError });
    t.throws(() => producer.call('nope'), { instanceOf: UnknownTaskError });
    t.deepEqual(await new Promise((resolve) => producer.delayedCall('nope', (err) => resolve(err?.name))), 'UnknownTaskError');
    class Point {
      x = 1;
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    const bad: Array<[unknown, RegExp]> = [
      [undefined, /arguments\[0\] is a undefined/],
      [{ a: undefined }, /arguments\[0\]\.a is a undefined/],
      [{ f: () => 1 }, /is a function/],
      [new Date(), /is a Date/],
      [Number.NaN, /is NaN/],
      [-0, /is -0/],
      [Infinity, /is Infinity/],
      [new Point(), /is a Point/],
      [sparse, /arguments\[0\]\[1\] is a hole/],
      [cyclic, /cycle/],
      [10n, /bigint/],
    ];
    for (const [arg, message] of bad) {
      await t.throwsAsync(producer.delayedCall(factorial, arg), { instanceOf: InvalidPayloadError, message }, String(message));
    }
    t.deepEqual(await producer.queue.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 0, paused: false });
    t.deepEqual(await producerChannels(ctx.backend, name), [], 'a producer subscribes only for its first call sent');
    t.deepEqual(await keysOf(ctx.backend, name, 'callers:*'), []);
  });

  test('equal arguments give one ID whatever the order of their keys', async (t) => {
    const producer = tasksOn(t, ctx.name());
    producer.registerTask(async (o: object) => o, { name: 'echo' });
    producer.registerTask(async (o: object) => o, { name: 'echo.each', unique: false });
    const a = producer.call('echo', { x: 1, y: { b: 2, a: [1, { d: 1, c: 2 }] } });
    const b = producer.call('echo', { y: { a: [1, { c: 2, d: 1 }], b: 2 }, x: 1 });
    const c = producer.call('echo', { x: 1, y: { b: 2, a: [{ d: 1, c: 2 }, 1] } });
    t.is(a.id, b.id);
    t.not(a.id, c.id);
    const [e1, e2] = [producer.call('echo.each', 1), producer.call('echo.each', 1)];
    t.not(e1.id, e2.id);
    t.regex(e1.id, /^echo\.each:[0-9a-f-]{36}$/);
    for (const call of [a, b, c, e1, e2]) call.result.catch(() => undefined); // no consumer: they end when the queue closes
    await producer.queue.drain();
  });

  test('registering: names are unique per task queue; the same function again is a no-op', (t) => {
    const q = tasksOn(t, ctx.name());
    async function job() {
      return 1;
    }
    q.registerTask(job);
    q.registerTask(job);
    t.throws(() => q.registerTask(async () => 2, { name: 'job' }), { instanceOf: InvalidArgumentError, message: /already registered .* with another function/ });
    t.throws(() => q.registerTask(job, { name: 'job2' }), { instanceOf: InvalidArgumentError, message: /already registered as task "job"/ });
    t.throws(() => q.registerTask(() => 1, { name: '' }), { instanceOf: InvalidArgumentError, message: /needs a name for an anonymous function/ });
    t.throws(() => q.registerTask((() => () => 1)()), { instanceOf: InvalidArgumentError });
    t.throws(() => q.registerTask(job, { nmae: 'x' } as never), { instanceOf: InvalidOptionError, message: /unknown task option `nmae`/ });
    t.throws(() => q.registerTask(async () => 1, { name: 'x', attempts: 0 }), { instanceOf: InvalidOptionError });
    t.throws(() => q.registerTask(async () => 1, { name: 'y', callback: 'yes' as never }), { instanceOf: InvalidOptionError });
  });

  test('a call with a timeout rejects with TaskTimeoutError; the task goes on and ends successful (no producer waited)', async (t) => {
    const name = ctx.name();
    const slow = gate();
    const [consumer, producer] = [tasksOn(t, name), tasksOn(t, name)];
    for (const q of [consumer, producer]) q.registerTask(async () => slow.wait.then(() => 'late'), { name: 'slow' });
    await consumer.listen();
    const started = Date.now();
    await t.throwsAsync(producer.callWith({ timeout: 300 }, 'slow'), { instanceOf: TaskTimeoutError, message: /had no result within 300 ms/ });
    t.true(Date.now() - started >= 290);
    const { id } = producer.call('slow');
    await until(() => producer.status(id), (s) => s === 'running', 'the task to run');
    slow.open();
    await until(() => consumer.status(id), (s) => s === 'done', 'the call still waiting to get it');
    await t.throwsAsync(producer.callWith({ timeout: -1 }, 'slow'), { instanceOf: InvalidOptionError });
    await t.throwsAsync(producer.callWith({ timout: 5 } as never, 'slow'), { instanceOf: InvalidOptionError, message: /unknown call option `timout`/ });
  });

  test('status() walks scheduled → running → successful → done; null for an unknown ID', async (t) => {
    const name = ctx.name();
    const g = gate();
    const [consumer, producer] = [tasksOn(t, name), tasksOn(t, name)];
    for (const q of [consumer, producer]) q.registerTask(async (x: number) => g.wait.then(() => x + 1), { name: 'inc' });
    t.is(await producer.status('inc:nothing'), null);
    const call = producer.call('inc', 1);
    t.is(await until(() => producer.status(call.id), (s) => s !== null, 'the call to be added'), 'scheduled');
    await consumer.listen();
    await until(() => producer.status(call.id), (s) => s === 'running', 'the task to run');
    // A call that gave up: its outcome is kept, but no producer got it.
    const early = producer.callWith({ timeout: 50 }, 'inc', 1);
    await t.throwsAsync(early, { instanceOf: TaskTimeoutError });
    g.open();
    t.is(await call.result, 2);
    await until(() => producer.status(call.id), (s) => s === 'done', 'the call to be done');
    const lonely = producer.callWith({ timeout: 1 }, 'inc', 5);
    const lonelyId = (await t.throwsAsync(lonely, { instanceOf: TaskTimeoutError }))!.message.split(' ')[2];
    t.is(await until(() => producer.status(lonelyId), (s) => s !== 'scheduled' && s !== 'running' && s !== null, 'the lonely call to end'), 'successful');
  });

  test('a missed message (the producer cannot listen) is covered by the kept result', async (t) => {
    const name = ctx.name();
    const g = gate();
    // The producer connects as a user of its own, so its channels can be taken away.
    const user = `producer-${name}`;
    await everyNode(ctx.backend, ['ACL', 'SETUSER', user, 'on', '>secret', '~*', '&*', '+@all']);
    t.teardown(() => everyNode(ctx.backend, ['ACL', 'DELUSER', user]));
    const redis = ctx.backend.redis;
    const auth = { username: user, password: 'secret' };
    const producerRedis = (typeof redis === 'string' ? { url: redis, ...auth } : { cluster: { ...(redis as { cluster: object }).cluster, defaults: auth } }) as RedisConfig;
    const consumer = tasksOn(t, name);
    const producer = tasksOn(t, name, { redis: producerRedis, fallbackInterval: 300 });
    // no run time limit: the test takes its time before it opens the gate
    for (const q of [consumer, producer]) q.registerTask(async () => g.wait.then(() => 'kept'), { name: 'gated', timeout: 0 });
    await consumer.listen();
    const call = producer.call('gated');
    await until(() => producer.status(call.id), (s) => s === 'running', 'the task to run');
    const [channel] = await producerChannels(ctx.backend, name);
    t.is(await subscribers(ctx.backend, channel), 1);
    // Redis drops the producer's subscription (and refuses it again): the message is lost.
    await everyNode(ctx.backend, ['ACL', 'SETUSER', user, 'resetchannels']);
    await until(() => subscribers(ctx.backend, channel), (n) => n === 0, 'the subscription to go');
    g.open();
    t.is(await withTimeout(call.result, 20_000, 'the result, read from the kept result'), 'kept');
    t.is(await subscribers(ctx.backend, channel), 0, 'it never listened again');
    await until(() => producer.status(call.id), (s) => s === 'done', 'the producer that read the kept result to mark the call done');
  });

  test("a producer whose subscriber connection is killed while a call waits still gets the result, and subscribes again", async (t) => {
    const name = ctx.name();
    const g = gate();
    const consumer = tasksOn(t, name);
    const producer = tasksOn(t, name, { fallbackInterval: 200 });
    for (const q of [consumer, producer]) q.registerTask(async (x: number) => g.wait.then(() => x * 2), { name: 'double', timeout: 0 });
    await consumer.listen();
    const call = producer.call('double', 21);
    await until(() => producer.status(call.id), (s) => s === 'running', 'the task to run');
    const [channel] = await until(() => producerChannels(ctx.backend, name), (c) => c.length === 1, 'the producer channel');
    const [client] = await until(() => subscriberClients(ctx.backend, channel), (c) => c.length === 1, "the producer's subscriber connection");
    t.is(client.subscriptions, 1);
    await onNode(ctx.backend, client.node, ['CLIENT', 'KILL', 'ID', client.id]);
    g.open();
    t.is(await withTimeout(call.result, 20_000, 'the result after the subscriber was killed'), 42);
    // node-redis reconnects and subscribes the channel again: the next call is notified as before.
    await until(() => subscriberClients(ctx.backend, channel), (c) => c.length === 1 && c[0].id !== client.id && c[0].subscriptions === 1, 'a new subscriber connection');
    t.is(await withTimeout(producer.delayedCall('double', 5), 20_000, 'a call after the reconnect'), 10);
  });

  test('identical calls from two producers share one run: the body runs once and both get its result', async (t) => {
    const name = ctx.name();
    const g = gate();
    let runs = 0;
    const body = async (s: string) => {
      runs++;
      await g.wait;
      return s.repeat(2);
    };
    const [consumer, p1, p2] = [tasksOn(t, name), tasksOn(t, name), tasksOn(t, name)];
    for (const q of [consumer, p1, p2]) q.registerTask(body, { name: 'twice', timeout: 0 });
    await consumer.listen({ concurrency: 4 });
    const [a, b] = [p1.call('twice', 'ab'), p2.call('twice', 'ab')];
    t.is(a.id, b.id);
    const callers = `convoy:{${name}}:callers:${a.id}`;
    await until(() => ctx.backend.inspect.sCard(callers), (n) => n === 2, 'both producers to register');
    await until(() => p1.status(a.id), (s) => s === 'running', 'the run to start');
    g.open();
    t.deepEqual(await withTimeout(Promise.all([a.result, b.result]), 20_000, 'both results'), ['abab', 'abab']);
    t.is(runs, 1, 'the body ran once');
    t.is(await ctx.backend.inspect.exists(callers), 0, 'the callers set goes with the message');
    await until(() => p2.status(b.id), (s) => s === 'done', 'the call to be done');
  });

  test('a call whose registration lands after the run it joined ended reads the kept result at once (no lost wake-up)', async (t) => {
    const name = ctx.name();
    const g = gate();
    const consumer = tasksOn(t, name);
    // fallbackInterval a minute: only the read after the registration can end the call in time
    const [first, late] = [tasksOn(t, name), tasksOn(t, name, { fallbackInterval: 60_000 })];
    for (const q of [consumer, first, late]) q.registerTask(async (x: number) => g.wait.then(() => x * 3), { name: 'triple', timeout: 0 });
    for (const q of [consumer, first, late]) q.registerTask(async () => 'pong', { name: 'ping' });
    await consumer.listen({ concurrency: 2 });
    t.is(await late.delayedCall('ping'), 'pong'); // the late producer is subscribed
    const a = first.call('triple', 7);
    await until(() => first.status(a.id), (s) => s === 'running', 'the run to start');
    // The late producer's registration is held back until the run has ended; its add joins the run.
    const notifier = (late as unknown as { notifier: { join(id: string): Promise<unknown> } }).notifier;
    const join = notifier.join.bind(notifier);
    const released = gate();
    notifier.join = async (id: string) => {
      await released.wait;
      return join(id);
    };
    const b = late.call('triple', 7);
    await until(() => late.queue.getJob(b.id), (j) => j?.state === 'processing', 'the late add to join the run');
    g.open();
    t.is(await a.result, 21);
    await until(() => late.status(b.id), (s) => s === 'done', 'the run to end, its message sent to the first producer only');
    released.open();
    t.is(await withTimeout(b.result, 20_000, 'the late call, from the read after its registration'), 21);
  });

  test('a producer holds one channel, subscribed once, whatever the number of calls in flight', async (t) => {
    const name = ctx.name();
    const g = gate();
    const consumer = tasksOn(t, name);
    const producer = tasksOn(t, name);
    for (const q of [consumer, producer]) q.registerTask(async (x: number) => g.wait.then(() => x + 1), { name: 'inc', timeout: 0 });
    const calls = Array.from({ length: 50 }, (_, i) => producer.call('inc', i));
    for (const c of calls) c.result.catch(() => undefined); // rejected by the teardown's close if the test fails first
    await until(() => keysOf(ctx.backend, name, 'callers:*'), (k) => k.length === 50, 'all 50 calls to register');
    const channels = await producerChannels(ctx.backend, name);
    t.is(channels.length, 1, `one channel: ${channels.join(' ')}`);
    t.regex(channels[0], new RegExp(`^convoy:\\{${name}\\}:producer:[0-9a-f]{16}$`));
    t.is(await subscribers(ctx.backend, channels[0]), 1);
    const clients = await subscriberClients(ctx.backend, channels[0]);
    t.deepEqual(clients.map((c) => c.subscriptions), [1], 'its subscriber holds that one subscription');
    await consumer.listen({ concurrency: 8 });
    g.open();
    t.deepEqual(await withTimeout(Promise.all(calls.map((c) => c.result)), 30_000, 'the 50 results'), Array.from({ length: 50 }, (_, i) => i + 1));
    t.deepEqual(await producerChannels(ctx.backend, name), channels, 'kept until close()');
    t.deepEqual(await keysOf(ctx.backend, name, 'callers:*'), [], 'every callers set went with its message');
    await producer.close();
    await until(() => producerChannels(ctx.backend, name), (c) => c.length === 0, 'the channel to go with close()');
  });

  test('a task queue needs the kept results: keepResults: false is refused', (t) => {
    t.throws(() => createTaskQueue(ctx.name(), { redis: ctx.backend.redis, keepResults: false }), { instanceOf: InvalidOptionError, message: /keepResults/ });
  });

  test('a call whose job is removed while it waits rejects with JobRemovedError', async (t) => {
    const name = ctx.name();
    const producer = tasksOn(t, name, { fallbackInterval: 100 });
    producer.registerTask(factorial);
    const call = producer.call(factorial, 4);
    await until(() => producer.status(call.id), (s) => s === 'scheduled', 'the call to be added');
    t.true(await producer.queue.removeJob(call.id));
    await t.throwsAsync(withTimeout(call.result, 20_000, 'the call to end'), { instanceOf: JobRemovedError, message: /is not in the queue/ });
  });

  test('with encryption, messages carry no outcome: the producer reads the kept result, decrypted', async (t) => {
    const name = ctx.name();
    const encryption = { keys: { k1: randomBytes(32) }, current: 'k1' };
    const [consumer, producer] = [tasksOn(t, name, { encryption }), tasksOn(t, name, { encryption })];
    for (const q of [consumer, producer]) q.registerTask(async (s: string) => `secret ${s}`, { name: 'seal' });
    for (const q of [consumer, producer]) q.registerTask(async () => Promise.reject(new Error('sealed failure')), { name: 'sealfail' });
    await consumer.listen();
    t.is(await producer.delayedCall('seal', 'a'), 'secret a');
    // Listen on the producer's channel beside it.
    const [channel] = await producerChannels(ctx.backend, name);
    const sharded = (ctx.backend as Partial<{ topology: RedisCluster }>).topology !== undefined;
    type Listening = Pick<ReturnType<typeof createCluster>, 'connect' | 'destroy' | 'on' | 'subscribe' | 'sSubscribe'>;
    const redis = ctx.backend.redis as string | { cluster: { rootNodes: Array<{ url: string }> } };
    const listener = (typeof redis === 'string' ? createClient({ url: redis }) : createCluster({ rootNodes: redis.cluster.rootNodes })) as unknown as Listening;
    listener.on('error', () => undefined);
    await listener.connect();
    t.teardown(() => listener.destroy());
    const heard: string[] = [];
    await (sharded ? listener.sSubscribe(channel, (m) => heard.push(m)) : listener.subscribe(channel, (m) => heard.push(m)));
    const call = producer.call('seal', 'b');
    t.is(await call.result, 'secret b');
    const err = await t.throwsAsync(producer.delayedCall('sealfail'), { instanceOf: RemoteJobError, message: 'sealed failure' });
    await until(() => heard.length, (n) => n === 2, 'both messages on the channel');
    t.deepEqual(heard.map((m) => JSON.parse(m) as unknown), [[call.id], [err!.jobId]], 'the IDs only');
  });

  test('close() rejects the calls still waiting; calls after close are refused', async (t) => {
    const producer = tasksOn(t, ctx.name());
    producer.registerTask(factorial);
    const call = producer.call(factorial, 3);
    await until(() => producer.status(call.id), (s) => s === 'scheduled', 'the call to be added');
    const rejected = t.throwsAsync(call.result, { message: /closed before the result came/ });
    await producer.close();
    await rejected;
    await t.throwsAsync(producer.delayedCall(factorial, 1), { message: /is closed/ });
  });
});
