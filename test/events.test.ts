/**
 * The event stream: every state change appends its event in the script that
 * makes it, and a listener in any process (createQueueEvents) sees each event
 * once, in order, across a killed connection and a Redis restart.
 */
import { fork, type ChildProcess } from 'node:child_process';
import test from 'ava';
import { createClient } from 'redis';
import { Job, createQueue, createQueueEvents, type QueueEvent, type QueueOptions } from '../src/index.js';
import { forEachBackend, sleep, until } from './helpers/backends.js';
import { startRedisServer } from './helpers/redis-server.js';

interface Seen {
  event: string;
  id: string;
  eventId: string;
}

/** A listener process for queue `name`; its events arrive in `seen`. */
async function listener(t: { teardown(fn: () => unknown): void }, redis: unknown, name: string): Promise<{ child: ChildProcess; seen: Seen[] }> {
  const child = fork(new URL('./fixtures/event-listener.ts', import.meta.url), [typeof redis === 'string' ? redis : JSON.stringify(redis), name], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const seen: Seen[] = [];
  let ready = false;
  child.on('message', (m: Seen & { ready?: boolean }) => {
    if (m.ready) ready = true;
    else seen.push(m);
  });
  await until(() => ready, Boolean, { what: 'the listener process to read', timeout: 30_000 });
  return { child, seen };
}

/** Each job's events in order, and no event twice. */
function assertPerJob(t: { deepEqual(a: unknown, b: unknown, m?: string): void; is(a: unknown, b: unknown, m?: string): void }, seen: Seen[], ids: string[]) {
  // an entry holds the events of one script call (a batch): an event is its entry, kind and job
  t.is(new Set(seen.map((e) => `${e.eventId} ${e.event} ${e.id}`)).size, seen.length, 'no event delivered twice');
  const order = seen.map((e) => e.eventId.split('-').map(Number));
  t.is(order.findIndex((x, i) => i > 0 && (x[0] < order[i - 1][0] || (x[0] === order[i - 1][0] && x[1] < order[i - 1][1]))), -1, 'in stream order');
  const byId = new Map<string, string[]>();
  for (const e of seen) byId.set(e.id, [...(byId.get(e.id) ?? []), e.event]);
  const wrong = ids.filter((id) => byId.get(id)?.join() !== 'added,active,completed');
  t.deepEqual(wrong.map((id) => [id, byId.get(id)]), [], 'each job: added, active, completed');
}

forEachBackend((test, ctx) => {
  test('a listener in another process sees every event of 1,000 jobs, in order, each once', async (t) => {
    const q = ctx.queue({ concurrency: 16 });
    const { seen } = await listener(t, ctx.backend.redis, q.name);
    const ids = Array.from({ length: 1000 }, (_, i) => `j${i}`);
    q.process(async () => 'ok');
    await q.addJobs(ids.map((id) => new Job(id)));
    await until(() => seen.filter((e) => e.event === 'completed').length, (n) => n === 1000, { what: '1,000 completed events', timeout: 60_000 });
    assertPerJob(t, seen, ids);
  });

  test('every kind of state change is told, with what it needs', async (t) => {
    const q = ctx.queue({ jobTimeout: 0 });
    const events = createQueueEvents(q.name, { redis: ctx.backend.redis });
    t.teardown(() => events.close());
    const got: QueueEvent[] = [];
    events.on('event', (e) => got.push(e));
    await events.ready;
    q.process(async (job) => {
      await job.updateProgress({ pct: 50 });
      if (job.id === 'bad') throw Object.assign(new Error('no'), { code: 'E_NO' });
      return { n: 1 };
    });
    await q.addJob(new Job('ok'));
    await q.addJob(new Job('bad', undefined, { attempts: 2 }));
    await q.addJob(new Job('later', undefined, { delay: 60_000 }));
    await q.pause();
    await q.resume();
    await until(() => got.filter((e) => e.event === 'failed').length, (n) => n === 1, { what: 'the failed event', timeout: 15_000 });
    await q.removeJob('later');
    await until(() => got.some((e) => e.event === 'removed'), Boolean, { what: 'the removed event', timeout: 15_000 });
    const of = (id: string) => got.filter((e) => e.id === id).map((e) => e.event);
    t.deepEqual(of('ok'), ['added', 'active', 'progress', 'completed']);
    t.deepEqual(of('bad'), ['added', 'active', 'progress', 'retrying', 'active', 'progress', 'failed']);
    t.deepEqual(of('later'), ['scheduled', 'removed']);
    t.true(got.some((e) => e.event === 'paused') && got.some((e) => e.event === 'resumed'));
    const find = <E extends QueueEvent['event']>(event: E, id: string) => got.find((e) => e.event === event && e.id === id) as Extract<QueueEvent, { event: E }>;
    t.deepEqual(find('completed', 'ok').result, { n: 1 });
    t.deepEqual(find('progress', 'ok').progress, { pct: 50 });
    t.is(find('scheduled', 'later').delay, 60_000);
    t.is(find('retrying', 'bad').attempt, 1);
    t.is(find('failed', 'bad').attempt, 2);
    t.is(find('failed', 'bad').error.code, 'E_NO');
    t.is(find('failed', 'bad').error.message, 'no');
  });

  test('the async iterator yields the events; close() ends it', async (t) => {
    const q = ctx.queue();
    const events = createQueueEvents(q.name, { redis: ctx.backend.redis });
    await events.ready;
    const got: string[] = [];
    const reading = (async () => {
      for await (const e of events) {
        got.push(`${e.event}:${e.id}`);
        if (got.length === 2) await events.close();
      }
    })();
    await q.addJobs([new Job('a'), new Job('b'), new Job('c')]);
    await reading;
    t.deepEqual(got, ['added:a', 'added:b']);
  });

  test('from: an event ID reads on after it, so a listener can resume where another stopped', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job('a'));
    const [[first]] = (await ctx.backend.inspect.sendCommand(['XRANGE', q.keys.events, '-', '+'])) as Array<[string]>;
    await q.addJob(new Job('b'));
    const events = createQueueEvents(q.name, { redis: ctx.backend.redis, from: first });
    t.teardown(() => events.close());
    const got: string[] = [];
    events.on('added', (e) => got.push(e.id));
    await until(() => got.length, (n) => n >= 1, { what: 'the event after `from`', timeout: 10_000 });
    await sleep(200);
    t.deepEqual(got, ['b']);
    t.throws(() => createQueueEvents(q.name, { from: 'soon' }), { message: /from/ });
  });

  test('events: false writes no stream; keepResults: false keeps no result', async (t) => {
    const q = ctx.queue({ events: false, keepResults: false });
    q.process(async () => 'r');
    await q.addJob(new Job('a'));
    await until(async () => (await q.stats()).committed, (n) => n === 0, { what: 'the job to complete', timeout: 10_000 });
    await q.pause();
    t.is(await ctx.backend.inspect.exists(q.keys.events), 0);
    t.is(await ctx.backend.inspect.exists(q.keys.results), 0);
    t.is(await q.getJob('a'), null);
  });

  test('a completion and the claim it makes are one stream entry, read back as their events in order', async (t) => {
    const q = ctx.queue({ concurrency: 1 });
    await q.addJobs([new Job('first'), new Job('second')]);
    const events = createQueueEvents(q.name, { redis: ctx.backend.redis, from: '0' });
    t.teardown(() => events.close());
    const got: QueueEvent[] = [];
    events.on('event', (e) => got.push(e));
    q.process(async (job) => `r-${job.id}`);
    await until(() => got.filter((e) => e.event === 'completed').length, (n) => n === 2, { what: 'two completed events', timeout: 15_000 });
    // one complete call wrote 'completed' of the first job and 'active' of the second: one entry, in that order
    const done = got.find((e) => e.event === 'completed' && e.id === 'first')!;
    const next = got.find((e) => e.event === 'active' && e.id === 'second')!;
    t.is(done.eventId, next.eventId, 'one entry');
    t.is(got.indexOf(next), got.indexOf(done) + 1, 'completed, then active');
    t.like(done, { result: 'r-first' });
    t.like(next, { attempt: 1 });
    const entries = (await ctx.backend.inspect.sendCommand(['XRANGE', q.keys.events, done.eventId, done.eventId])) as Array<[string, string[]]>;
    t.deepEqual(entries[0][1], ['event', 'completed', 'id', 'first', 'result', '"r-first"', 'event', 'active', 'id', 'second', 'attempt', '1']);
  });

  test('eventsMaxLen trims the stream to about that many entries (a batch of events of one call is one entry)', async (t) => {
    const q = ctx.queue({ eventsMaxLen: 100 });
    // one add per call: one entry each
    for (let i = 0; i < 1000; i++) await q.addJob(new Job(i));
    const len = Number(await ctx.backend.inspect.sendCommand(['XLEN', q.keys.events]));
    t.true(len >= 100 && len < 400, `kept ${len}`);
  });
});

const open = (t: { teardown(fn: () => unknown): void }, url: string, opts: QueueOptions & { name: string }) => {
  const { name, ...rest } = opts;
  const q = createQueue(name, { redis: url, ...rest });
  q.on('error', () => undefined);
  t.teardown(() => q.close({ timeout: 1000 }));
  return q;
};

test('a listener loses no event and sees none twice across a killed connection and a Redis restart (AOF)', async (t) => {
  const server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always']);
  t.teardown(() => server.stop());
  const name = `events-restart-${process.pid}`;
  const { seen } = await listener(t, server.url, name);
  const q = open(t, server.url, { name, concurrency: 8, commandTimeout: 1000, stallTimeout: 2000 });
  q.process(async () => 'ok');
  const ids = Array.from({ length: 600 }, (_, i) => `r${i}`);
  const adding = (async () => {
    for (let i = 0; i < ids.length; i += 50) {
      for (;;) {
        try {
          await q.addJobs(ids.slice(i, i + 50).map((id) => new Job(id)));
          break;
        } catch {
          await sleep(100);
        }
      }
      await sleep(20);
    }
  })();
  const c = createClient({ url: server.url });
  c.on('error', () => undefined);
  await c.connect();
  t.teardown(() => c.destroy());
  await until(() => seen.length, (n) => n > 100, { what: 'some events', timeout: 20_000 });
  // kill the listener's blocking connection (the one blocked in XREAD)
  const list = String(await c.sendCommand(['CLIENT', 'LIST']));
  const blocked = list.split('\n').filter((l) => /cmd=xread/.test(l)).map((l) => /id=(\d+)/.exec(l)![1]);
  t.true(blocked.length >= 1, 'the listener blocks in XREAD');
  for (const id of blocked) await c.sendCommand(['CLIENT', 'KILL', 'ID', id]);
  await until(() => seen.length, (n) => n > 600, { what: 'more events', timeout: 20_000 });
  await server.stop({ hard: true });
  await sleep(1500);
  await server.start();
  await adding;
  await until(() => seen.filter((e) => e.event === 'completed').length, (n) => n >= ids.length, { what: 'every completed event', timeout: 60_000 }).catch(() => undefined);
  // a run cut by the restart may run (and be told) again: each job's events still come in order, each event once
  t.is(new Set(seen.map((e) => `${e.eventId} ${e.event} ${e.id}`)).size, seen.length, 'no event delivered twice');
  const stream = (await createClient({ url: server.url }).on('error', () => undefined).connect().then(async (r) => {
    const all = (await r.sendCommand(['XRANGE', q.keys.events, '-', '+'])) as Array<[string]>;
    r.destroy();
    return all.map(([id]) => id);
  }));
  const entries = seen.map((e) => e.eventId).filter((id, i, all) => i === 0 || id !== all[i - 1]);
  t.deepEqual(entries, stream, 'the listener saw exactly what the stream holds, in its order');
});
