/**
 * The core keeps its promises under ordinary faults: a Redis restart or pause
 * around a call, a handler that outlives its timeout or settles twice, a
 * handler that rejects with something that is not an Error, connections that
 * are refused. No jam guard anywhere: only the library's own recovery.
 */
import test from 'ava';
import { createClient } from 'redis';
import { ActiveJob, Job, createQueue, queueKeys, type Queue, type QueueOptions } from '../src/index.js';
import { forEachBackend, sleep, until } from './helpers/backends.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

let n = 0;
const uniqueName = () => `faults-${process.pid}-${++n}`;

/** Handlers that record how many run at once, overall and per ID. */
function tracker() {
  let live = 0;
  let most = 0;
  const liveById = new Map<string, number>();
  let mostById = 0;
  const starts: string[] = [];
  return {
    starts,
    get most() {
      return most;
    },
    get mostById() {
      return mostById;
    },
    get live() {
      return live;
    },
    enter(id: string) {
      starts.push(id);
      most = Math.max(most, ++live);
      const k = (liveById.get(id) ?? 0) + 1;
      liveById.set(id, k);
      mostById = Math.max(mostById, k);
    },
    leave(id: string) {
      live--;
      liveById.set(id, liveById.get(id)! - 1);
    },
  };
}

async function withServer(t: { teardown(fn: () => unknown): void }, args: string[] = []): Promise<RedisServer> {
  const server = await startRedisServer(args);
  t.teardown(() => server.stop());
  return server;
}

function open<P = unknown>(t: { teardown(fn: () => unknown): void }, url: string, opts: QueueOptions & { name?: string } = {}): Queue<P> {
  const { name = uniqueName(), ...rest } = opts;
  const q = createQueue<P>(name, { redis: url, ...rest });
  q.on('error', () => undefined);
  t.teardown(() => q.close({ timeout: 1000 }));
  return q;
}

async function inspector(t: { teardown(fn: () => unknown): void }, url: string) {
  const c = createClient({ url });
  c.on('error', () => undefined);
  await c.connect();
  t.teardown(() => c.destroy());
  return c;
}

// stallTimeout is shortened in these tests only so that a claim whose reply was
// lost is recovered within seconds; nothing else is given that a user might forget.
const QUICK_RECOVERY = { stallTimeout: 2000 };

test('a Redis restart while a job runs strands nothing: every job runs and the queue empties', async (t) => {
  const server = await withServer(t, ['--appendonly', 'yes', '--appendfsync', 'always']);
  // The worker has the tight command timeout of the report; set-up and checks use the default.
  const q = open(t, server.url, { concurrency: 1, commandTimeout: 500, ...QUICK_RECOVERY });
  const producer = open(t, server.url, { name: q.name });
  const seen = tracker();
  q.process(async (job) => {
    seen.enter(job.id);
    await sleep(200);
    seen.leave(job.id);
  });
  await producer.addJobs([1, 2, 3, 4, 5].map((i) => new Job(i)));
  await until(() => seen.starts.length >= 2, Boolean, { what: 'the second job to start', timeout: 10_000 });
  await server.stop({ hard: true });
  await sleep(1500); // longer than commandTimeout: calls in flight time out
  await server.start();
  const c = await inspector(t, server.url);
  let last = '';
  await until(async () => {
    const counts = await Promise.all([c.sCard(q.keys.committed), c.zCard(q.keys.processing), c.lLen(q.keys.queued)]);
    last = `committed/processing/queued ${counts.join('/')}`;
    return counts.every((x) => x === 0);
  }, Boolean, { what: 'the queue to empty after the restart', timeout: 30_000 }).catch((err: Error) => t.fail(`${err.message}; last seen ${last}`));
  t.true(seen.most <= 1, `never more than 1 handler at once (saw ${seen.most})`);
  // (sorted: the order they ran in is not the point, and a run cut by the restart may repeat)
  t.deepEqual([...new Set(seen.starts)].sort(), ['1', '2', '3', '4', '5'], 'every job ran');
  t.is(await producer.addJob(new Job(3)), 'queued', 'a finished ID can be added again');
});

for (const pause of [300, 1200]) {
  test(`a ${pause} ms CLIENT PAUSE (commandTimeout 500) strands nothing and never runs more than concurrency`, async (t) => {
    const server = await withServer(t);
    const q = open(t, server.url, { concurrency: 2, commandTimeout: 500, jobTimeout: 150, ...QUICK_RECOVERY });
    const producer = open(t, server.url, { name: q.name });
    const seen = tracker();
    q.process(async (job) => {
      seen.enter(job.id);
      // some runs outlive their timeout, ignoring their signal
      await sleep(Number(job.id) % 3 === 0 ? 300 : 50);
      seen.leave(job.id);
    });
    const c = await inspector(t, server.url);
    await producer.addJobs(Array.from({ length: 30 }, (_, i) => new Job(i)));
    for (let i = 0; i < 3; i++) {
      await sleep(120);
      await c.sendCommand(['CLIENT', 'PAUSE', String(pause), 'ALL']);
      await sleep(pause);
    }
    let last = '';
    await until(async () => {
      const counts = await Promise.all([c.sCard(q.keys.committed), c.zCard(q.keys.processing)]);
      last = `committed/processing ${counts.join('/')}`;
      return counts.every((x) => x === 0);
    }, Boolean, { what: 'the queue to empty after the pauses', timeout: 30_000 }).catch((err: Error) => t.fail(`${err.message}; last seen ${last}`));
    t.true(seen.most <= 2, `never more than 2 handlers at once (saw ${seen.most})`);
    t.is(seen.mostById, 1, 'no ID ran twice at once');
    // The slot count did not drift: with 2 slots, 6 slow jobs run 2 at a time.
    const before = seen.most;
    await producer.addJobs(Array.from({ length: 6 }, (_, i) => new Job(`after-${i}`)));
    await until(() => seen.starts.filter((s) => s.startsWith('after-')).length === 6 && seen.live === 0, Boolean, { what: 'the jobs after the pauses', timeout: 15_000 });
    t.true(seen.most <= 2, `still never more than 2 at once (saw ${seen.most}, before ${before})`);
  });
}

test('a claim whose reply is lost is recovered by its lease, with no jam guard', async (t) => {
  const server = await withServer(t);
  const c = await inspector(t, server.url);
  const q = open(t, server.url, QUICK_RECOVERY);
  await q.addJob(new Job('lost'));
  // A claim that ran in Redis but whose worker never got the reply, as after a timed-out call.
  await q.run('claim', ['1', '0', String(QUICK_RECOVERY.stallTimeout)], 'test: a claim nobody reads');
  t.is(await c.zCard(q.keys.processing), 1);
  const ran: string[] = [];
  const stalled: string[][] = [];
  q.on('stalled', (ids) => stalled.push(ids));
  q.process(async (job) => {
    ran.push(job.id);
  });
  await until(() => ran.length === 1, Boolean, { what: 'the stalled job to run again', timeout: 15_000 });
  t.deepEqual(ran, ['lost']);
  t.deepEqual(stalled, [['lost']]);
  await until(async () => (await c.sCard(q.keys.committed)) === 0, Boolean, { what: 'the job to finish', timeout: 5000 });
});

test('an idle worker backs off while new connections are refused, instead of spinning', async (t) => {
  const server = await withServer(t);
  const c = await inspector(t, server.url);
  const q = open(t, server.url, { blockingTimeout: 0.2 });
  q.process(async () => undefined);
  await until(async () => /cmd=blpop/.test(String(await c.sendCommand(['CLIENT', 'LIST']))), Boolean, { what: 'the worker to block', timeout: 10_000 });
  const clients = String(await c.sendCommand(['CLIENT', 'LIST'])).trim().split('\n').length;
  // Room for the connections there are, less the one killed below: a new one is refused.
  await c.sendCommand(['CONFIG', 'SET', 'maxclients', String(clients - 1)]);
  const rejected = async () => Number(/rejected_connections:(\d+)/.exec(String(await c.sendCommand(['INFO', 'stats'])))?.[1]);
  const blocked = /id=(\d+)[^\n]*cmd=blpop/.exec(String(await c.sendCommand(['CLIENT', 'LIST'])))?.[1];
  t.truthy(blocked);
  const before = await rejected();
  await c.sendCommand(['CLIENT', 'KILL', 'ID', blocked!]);
  await sleep(3000);
  const attempts = (await rejected()) - before;
  t.true(attempts >= 1, 'it did try to reconnect');
  // Backing off from 50 ms with a cap, a few attempts fit in 3 s; spinning makes thousands.
  t.true(attempts <= 40, `${attempts} connection attempts in 3 s`);
  await c.sendCommand(['CONFIG', 'SET', 'maxclients', '10000']);
  const ran: string[] = [];
  q.on('completed', (job) => ran.push(job.id));
  await q.addJob(new Job('after'));
  await until(() => ran.includes('after'), Boolean, { what: 'the worker to go on once connections are accepted', timeout: 15_000 });
  t.pass();
});

test('close sends the adds made in the same tick', async (t) => {
  const server = await withServer(t);
  const name = uniqueName();
  const q = createQueue(name, { redis: server.url });
  await q.countQueued(); // connected, and now inside a promise continuation
  const added = q.addJob(new Job('last-minute'));
  await q.close();
  t.is(await added, 'queued');
  const c = await inspector(t, server.url);
  t.deepEqual(await c.lRange(queueKeys('convoy', name).queued, 0, -1), ['last-minute']);
});

forEachBackend((test, ctx) => {
  for (const policy of ['rerun', 'ignore'] as const) {
    test(`a timed-out handler that is still running keeps its ID: no second live run (${policy})`, async (t) => {
      const q = ctx.queue({ jobTimeout: 200, duplicateWhileProcessing: policy });
      const seen = tracker();
      q.process(async (job) => {
        seen.enter(job.id);
        await sleep(1000); // ignores its signal
        seen.leave(job.id);
      });
      await q.addJob(new Job('x'));
      await until(() => seen.starts.length === 1, Boolean, { what: 'the first run', timeout: 10_000 });
      await sleep(400); // past the timeout, the handler still running
      t.is(await q.addJob(new Job('x')), 'processing', 'the ID is still held by its live run');
      await until(() => seen.live === 0 && (policy === 'ignore' || seen.starts.length === 2), Boolean, { what: 'the runs to end', timeout: 15_000 });
      await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'the ID to be freed', timeout: 15_000 });
      t.is(seen.mostById, 1, 'never two live runs of one ID');
      t.is(seen.starts.length, policy === 'rerun' ? 2 : 1);
    });
  }

  test('a callback handler that calls done() from its abort listener is reported once and holds one slot', async (t) => {
    const q = ctx.queue({ jobTimeout: 100, concurrency: 1 });
    const seen = tracker();
    const failed: string[] = [];
    q.on('failed', (job) => failed.push(job.id));
    q.process((job: ActiveJob, done: (err?: unknown) => void) => {
      seen.enter(job.id);
      job.signal.addEventListener('abort', () => {
        seen.leave(job.id);
        done(job.signal.reason);
      });
    });
    await q.addJobs(Array.from({ length: 6 }, (_, i) => new Job(i)));
    await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'all six to fail', timeout: 20_000 });
    await sleep(100);
    t.is(seen.most, 1, 'one handler at a time');
    t.deepEqual(failed.sort(), ['0', '1', '2', '3', '4', '5'], "one 'failed' event per job");
    const records = await q.getFailed();
    t.deepEqual(records.map((r) => r.count), [1, 1, 1, 1, 1, 1], 'each failure counted once');
    t.is(await ctx.backend.inspect.lLen(q.keys.errors), 6, 'one error-log entry per job');
  });

  test('a handler that rejects with a cyclic object, a BigInt or undefined fails its job and the worker goes on', async (t) => {
    const q = ctx.queue();
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const values: Record<string, unknown> = { cyclic, big: 10n, undef: undefined, sym: Symbol('s') };
    const errors = new Map<string, Error>();
    q.on('failed', (job, err) => errors.set(job.id, err));
    q.process(async (job) => {
      throw values[job.id];
    });
    await q.addJobs(Object.keys(values).map((k) => new Job(k)));
    await until(() => errors.size === 4, Boolean, { what: 'all four to fail', timeout: 10_000 });
    for (const err of errors.values()) t.true(err instanceof Error);
    t.regex(errors.get('cyclic')!.message, /Circular/);
    t.regex(errors.get('big')!.message, /10n/);
    t.is(await q.countCommitted(), 0);
  });
});
