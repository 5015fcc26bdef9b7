/**
 * Flow control: priorities, pause and resume, the rate limit (and a handler's
 * RateLimitError), the global concurrency, and groups with their concurrency,
 * rate limit and turns. Every control is kept in Redis and holds across queue
 * objects and processes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import test from 'ava';
import { InvalidArgumentError, InvalidOptionError, Job, RateLimitError } from '../src/index.js';
import { forEachBackend, scriptCalls, sleep, until, type Backend } from './helpers/backends.js';

/** The Redis clock in ms (every node of the test cluster runs on this machine's clock). */
async function redisNow(backend: Backend): Promise<number> {
  const [s, us] = (await backend.inspect.sendCommand(['TIME'])) as string[];
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

/**
 * Every window of `duration` ms holds at most `max` of these start times: in
 * sorted order, starts `max` apart are at least `duration` apart.
 */
function windowsHold(starts: number[], max: number, duration: number): string | undefined {
  const s = [...starts].sort((a, b) => a - b);
  for (let i = 0; i + max < s.length; i++) {
    if (s[i + max] - s[i] < duration) return `starts ${i}..${i + max} within ${s[i + max] - s[i]} ms: ${s.slice(i, i + max + 1).join(', ')}`;
  }
  return undefined;
}

/** Track the handlers running at once. */
function gauge() {
  let now = 0;
  let most = 0;
  return {
    enter: () => {
      now++;
      most = Math.max(most, now);
    },
    leave: () => now--,
    get most() {
      return most;
    },
  };
}

test('setRateLimit, setGlobalConcurrency and friends refuse bad values with typed errors', async (t) => {
  const { createQueue } = await import('../src/index.js');
  const q = createQueue('never-connects', { redis: 'redis://127.0.0.1:1' });
  q.on('error', () => undefined);
  await t.throwsAsync(q.setRateLimit({ max: 0, duration: 100 }), { instanceOf: InvalidOptionError });
  await t.throwsAsync(q.setRateLimit({ max: 1 } as never), { instanceOf: InvalidOptionError });
  await t.throwsAsync(q.setRateLimit({ max: 1, duration: 10, burst: 2 } as never), { instanceOf: InvalidOptionError });
  await t.throwsAsync(q.setGroupRateLimit('5' as never), { instanceOf: InvalidOptionError });
  await t.throwsAsync(q.setGlobalConcurrency(0), { instanceOf: InvalidArgumentError });
  await t.throwsAsync(q.setGroupConcurrency(1.5), { instanceOf: InvalidArgumentError });
  t.throws(() => new Job('x', undefined, { priority: -1 }), { instanceOf: InvalidOptionError });
  t.throws(() => new Job('x', undefined, { priority: 1_000_001 }), { instanceOf: InvalidOptionError });
  t.throws(() => new Job('x', undefined, { group: '' }), { instanceOf: InvalidOptionError });
  t.throws(() => createQueue('q', { rateLimit: { max: 1, duration: 0 } }), { instanceOf: InvalidOptionError });
  await q.close();
});

forEachBackend((test, ctx) => {
  test('priorities: behind a backlog of 10,000 jobs of priority 5, a job of priority 0 added last starts next', async (t) => {
    const q = ctx.queue({ concurrency: 1 });
    const jobs = Array.from({ length: 10_000 }, (_, i) => new Job(`p5-${i}`, undefined, { priority: 5 }));
    await q.addJobs(jobs);
    await q.addJob(new Job('urgent', undefined, { priority: 0 }));
    t.is(await q.countQueued(), 10_001);
    const order: string[] = [];
    q.process(async (job) => {
      order.push(job.id);
    });
    await until(() => order.length, (n) => n >= 5, { what: 'five jobs to start', timeout: 20_000 });
    await q.stopProcessing();
    t.is(order[0], 'urgent');
    t.deepEqual(order.slice(1, 5), ['p5-0', 'p5-1', 'p5-2', 'p5-3'], 'first in, first out within a priority');
  });

  test('priorities: lower runs first, first in first out within one, across adds, retries and the plain queue', async (t) => {
    const q = ctx.queue({ concurrency: 1 });
    const adds = [['c3', 3], ['a0', 0], ['b1', 1], ['d3', 3], ['e1', 1], ['f0', 0]] as const;
    for (const [id, priority] of adds) await q.addJob(new Job(id, undefined, { priority, attempts: 2 }));
    const order: string[] = [];
    let failedOnce = false;
    q.process(async (job) => {
      order.push(job.id);
      // a retried job goes back to its own priority
      if (job.id === 'b1' && !failedOnce) {
        failedOnce = true;
        throw new Error('once');
      }
    });
    await until(() => order.length, (n) => n >= 7, { what: 'all runs', timeout: 10_000 });
    // b1's retry goes to the tail of priority 1: after e1, before the priority 3 jobs
    t.deepEqual(order, ['a0', 'f0', 'b1', 'e1', 'b1', 'c3', 'd3']);
  });

  // serial: it counts every script call the server serves
  test.serial('pause: no claim at all while paused, adds are accepted, running jobs finish; resume starts them again', async (t) => {
    const name = ctx.name();
    // long leases: no renewal (a script call too) falls in the counted time
    const q = ctx.queue({ name, concurrency: 2, blockingTimeout: 30, stallTimeout: 600_000 });
    const other = ctx.queue({ name, concurrency: 2, blockingTimeout: 30, stallTimeout: 600_000 });
    const producer = ctx.queue({ name });
    const started: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const handler = async (job: { id: string }) => {
      started.push(job.id);
      if (job.id === 'long') await gate;
    };
    q.process(handler);
    other.process(handler);
    // a job run to its end first: every script the count below sees is loaded already
    await producer.addJob(new Job('warm'));
    await until(() => producer.countCommitted(), (n) => n === 0 && started.includes('warm'), { what: 'a first job to complete', timeout: 10_000 });
    await producer.addJob(new Job('long'));
    await until(() => started.includes('long'), Boolean, { what: 'the long job to start', timeout: 10_000 });
    // both workers registered (pause leaves a marker per live worker) and past their first claim
    await until(() => producer.getWorkers(), (w) => w.length === 2, { what: 'both workers in the registry', timeout: 10_000 });
    await sleep(300);
    await producer.pause();
    t.true(await producer.isPaused());
    t.like(await producer.stats(), { paused: true });
    await sleep(300); // idle workers take their pause markers
    const before = await scriptCalls(ctx.backend);
    t.deepEqual(await producer.addJobs([new Job('a'), new Job('b'), new Job('c')]), ['queued', 'queued', 'queued']);
    release(); // the running job finishes while paused
    await until(() => producer.countProcessing(), (n) => n === 0, { what: 'the running job to finish', timeout: 10_000 });
    await sleep(1000);
    // the add and the long job's completion are the only script calls: no claim
    t.is((await scriptCalls(ctx.backend)) - before, 2, 'script calls while paused: one add, one completion');
    t.deepEqual(started, ['warm', 'long'], 'nothing started while paused');
    t.is(await producer.countQueued(), 3);
    await producer.resume();
    t.false(await producer.isPaused());
    // blockingTimeout is 30 s: only resume's markers can wake the workers this soon
    await until(() => started.length, (n) => n === 5, { what: 'the three jobs to start after resume', timeout: 10_000 });
    t.like(await producer.stats(), { paused: false, queued: 0 });
  });

  test('pause: a job claimed after pause() resolved never starts (claims check it atomically)', async (t) => {
    const name = ctx.name();
    const producer = ctx.queue({ name });
    const workers = [1, 2, 3].map(() => ctx.queue({ name, concurrency: 4 }));
    const starts: number[] = [];
    for (const w of workers) {
      w.process(async (job) => {
        starts.push(job.startedAt);
        await sleep(20);
      });
    }
    const jobs = Array.from({ length: 400 }, (_, i) => new Job(i));
    await producer.addJobs(jobs);
    await until(() => starts.length, (n) => n >= 20, { what: 'jobs to be running', timeout: 10_000 });
    await producer.pause();
    const pausedAt = await redisNow(ctx.backend);
    await sleep(500);
    const late = starts.filter((s) => s > pausedAt);
    t.deepEqual(late, [], 'no claim after pause() resolved');
    t.true((await producer.countQueued()) > 0, 'jobs are left waiting');
    await producer.resume();
    await until(() => producer.countCommitted(), (n) => n === 0, { what: 'all jobs to finish after resume', timeout: 30_000 });
  });

  test('the rate limit: four worker processes, every window of the sliding window holds at most max starts', async (t) => {
    const name = ctx.name();
    const producer = ctx.queue({ name, rateLimit: { max: 5, duration: 400 } });
    await until(() => producer.getRateLimit(), (r) => r?.max === 5, { what: 'the rateLimit option to be set on connect', timeout: 10_000 });
    t.deepEqual(await producer.getRateLimit(), { max: 5, duration: 400 });
    const children = [1, 2, 3, 4].map(() => childWorker(ctx.backend.redis, name, { concurrency: 4 }, 5));
    t.teardown(() => children.forEach((c) => c.kill()));
    await until(() => children.every((c) => c.ready()), Boolean, { what: 'four worker processes', timeout: 60_000 });
    const started = Date.now();
    await producer.addJobs(Array.from({ length: 40 }, (_, i) => new Job(i)));
    await until(() => producer.countCommitted(), (n) => n === 0, { what: 'all 40 jobs to finish', timeout: 60_000 });
    const starts = children.flatMap((c) => c.starts());
    t.log('40 jobs took', Date.now() - started, 'ms');
    t.is(starts.length, 40);
    t.is(windowsHold(starts, 5, 400), undefined);
    t.true(Date.now() - started >= 7 * 400 - 50, 'forty starts at five per 400 ms take at least seven windows');
    const perProcess = children.map((c) => c.starts().length);
    t.true(perProcess.filter((n) => n > 0).length >= 2, `starts spread over the processes: ${perProcess.join(', ')}`);
  });

  test('setRateLimit(null) lifts the limit at once, for a worker that waits for its window', async (t) => {
    const q = ctx.queue({ concurrency: 10, blockingTimeout: 30 });
    await q.setRateLimit({ max: 1, duration: 60_000 });
    const starts: string[] = [];
    q.process(async (job) => {
      starts.push(job.id);
    });
    await q.addJobs([new Job('a'), new Job('b'), new Job('c')]);
    await until(() => starts.length, (n) => n === 1, { what: 'the one start the window allows', timeout: 10_000 });
    await sleep(300);
    t.is(starts.length, 1, 'the window holds the rest back');
    await q.setRateLimit(null);
    t.is(await q.getRateLimit(), null);
    // the window would open in a minute: only the change's marker wakes the worker this soon
    await until(() => starts.length, (n) => n === 3, { what: 'the other jobs to start once the limit is lifted', timeout: 10_000 });
    t.pass();
  });

  test('a RateLimitError puts its job back at the head, uncounted, and the whole queue waits', async (t) => {
    const q = ctx.queue({ concurrency: 1 });
    const runs: Array<{ id: string; attempt: number; at: number }> = [];
    let limitedAt = 0;
    q.process(async (job) => {
      runs.push({ id: job.id, attempt: job.attempt, at: job.startedAt });
      if (job.id === 'a' && runs.length === 1) {
        limitedAt = job.startedAt;
        throw new RateLimitError(700);
      }
    });
    const failed: string[] = [];
    q.on('failed', (job) => failed.push(job.id));
    await q.addJobs([new Job('a', undefined, { attempts: 1 }), new Job('b')]);
    await until(() => runs.length, (n) => n === 3, { what: 'three runs', timeout: 10_000 });
    t.deepEqual(runs.map((r) => r.id), ['a', 'a', 'b'], 'back at the head of the queue');
    t.is(runs[1].attempt, 1, 'not counted as an attempt');
    t.true(runs[1].at - limitedAt >= 700, `the queue waited ${runs[1].at - limitedAt} ms (700 asked)`);
    t.deepEqual(failed, []);
    t.is(await q.countFailed(), 0);
  });

  test('global concurrency: the most running at once, across queue objects, never exceeds n', async (t) => {
    const name = ctx.name();
    const producer = ctx.queue({ name });
    await producer.setGlobalConcurrency(3);
    t.is(await producer.getGlobalConcurrency(), 3);
    const g = gauge();
    const workers = [1, 2, 3].map(() => ctx.queue({ name, concurrency: 4 }));
    for (const w of workers) {
      w.process(async () => {
        g.enter();
        await sleep(30);
        g.leave();
      });
    }
    await producer.addJobs(Array.from({ length: 60 }, (_, i) => new Job(i)));
    await until(() => producer.countCommitted(), (n) => n === 0, { what: 'all 60 jobs to finish', timeout: 60_000 });
    t.true(g.most <= 3, `most at once: ${g.most}`);
    t.true(g.most >= 2, `the limit is used, not just obeyed: ${g.most}`);
    await producer.setGlobalConcurrency(null);
    t.is(await producer.getGlobalConcurrency(), null);
  });

  test('a worker that stops frees its global slot for the others at once', async (t) => {
    const name = ctx.name();
    const producer = ctx.queue({ name });
    await producer.setGlobalConcurrency(1);
    const first = ctx.queue({ name, blockingTimeout: 30 });
    const second = ctx.queue({ name, blockingTimeout: 30 });
    const ran: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    first.process(async (job) => {
      ran.push(`first:${job.id}`);
      await gate;
    });
    await producer.addJob(new Job('a'));
    await until(() => ran.length, (n) => n === 1, { what: 'the first job', timeout: 10_000 });
    second.process(async (job) => {
      ran.push(`second:${job.id}`);
    });
    await producer.addJob(new Job('b'));
    await sleep(300);
    t.deepEqual(ran, ['first:a'], 'b waits for the one global slot');
    // the first worker stops: its run of a ends without claiming b
    const closing = first.close();
    release();
    await closing;
    await until(() => ran, (r) => r.includes('second:b'), { what: 'the second worker to take b (its wait is 30 s: only a marker wakes it)', timeout: 10_000 });
    t.pass();
  });

  test('groups: a backlog in one group does not hold up another; never more than the group concurrency at once', async (t) => {
    const q = ctx.queue({ concurrency: 4 });
    await q.setGroupConcurrency(2);
    t.is(await q.getGroupConcurrency(), 2);
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    const starts: Array<{ id: string; group: string }> = [];
    q.process(async (job) => {
      const group = String(job.id).split('-')[0];
      starts.push({ id: job.id, group });
      running.set(group, (running.get(group) ?? 0) + 1);
      most.set(group, Math.max(most.get(group) ?? 0, running.get(group)!));
      await sleep(20);
      running.set(group, running.get(group)! - 1);
    });
    await q.addJobs(Array.from({ length: 1000 }, (_, i) => new Job(`A-${i}`, undefined, { group: 'A' })));
    await until(() => starts.length, (n) => n >= 10, { what: 'group A to be running', timeout: 10_000 });
    const before = starts.length;
    await q.addJob(new Job('B-0', undefined, { group: 'B' }));
    await q.addJob(new Job('C-0', undefined, { group: 'C' }));
    await until(() => starts.some((s) => s.id === 'C-0') && starts.some((s) => s.id === 'B-0'), Boolean, { what: "B's and C's first jobs", timeout: 10_000 });
    const bAt = starts.findIndex((s) => s.id === 'B-0');
    // A runs at most 2 at once, so B and C find free slots: at most the two A
    // jobs already running end before them
    t.true(bAt - before <= 2, `${bAt - before} A jobs started between B's add and B's start`);
    await q.stopProcessing();
    t.true((most.get('A') ?? 0) <= 2, `A at once: ${most.get('A')}`);
    t.is(most.get('A'), 2, 'group A used its concurrency');
  });

  test('managing by ID covers prioritized and grouped jobs: listJobs, getJob, removeJob, drain, obliterate', async (t) => {
    const q = ctx.queue();
    await q.addJobs([
      new Job('plain'),
      new Job('p2', undefined, { priority: 2 }),
      new Job('p1', undefined, { priority: 1 }),
      new Job('g-a', undefined, { group: 'a' }),
      new Job('g-b', undefined, { group: 'b' }),
      new Job('g-a2', undefined, { group: 'a' }),
    ]);
    t.deepEqual((await q.listJobs('queued')).map((j) => j.id), ['plain', 'p1', 'p2', 'g-a', 'g-a2', 'g-b']);
    t.deepEqual((await q.listJobs('queued', { offset: 2, limit: 3 })).map((j) => j.id), ['p2', 'g-a', 'g-a2']);
    t.like(await q.getJob('p1'), { state: 'queued', options: { priority: 1 } });
    t.true(await q.removeJob('p1'));
    t.true(await q.removeJob('g-a'));
    t.deepEqual((await q.listJobs('queued')).map((j) => j.id), ['plain', 'p2', 'g-a2', 'g-b']);
    t.is(await q.countQueued(), 4);
    t.is(await q.drain(), 4);
    t.like(await q.stats(), { queued: 0, committed: 0 });
    await q.addJob(new Job('again', undefined, { group: 'a', priority: 3 }));
    await q.setGroupConcurrency(1);
    await q.pause();
    await q.obliterate();
    const base = q.keys.queued.slice(0, -'queued'.length).replace(/[*?[\]\\{}]/g, (c) => `\\${c}`);
    // (the event stream holds one 'obliterated' event, for listeners)
    const left = ((await ctx.backend.inspect.sendCommand(['KEYS', `${base}*`])) as string[]).filter((k) => !k.endsWith(':events'));
    t.deepEqual(left, [], 'obliterate leaves no key, group keys included');
  });

  test('removing a running grouped job frees its group', async (t) => {
    const q = ctx.queue({ concurrency: 2, stallTimeout: 600 });
    await q.setGroupConcurrency(1);
    const ran: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    q.process(async (job) => {
      ran.push(job.id);
      if (job.id === 'x1') await gate;
    });
    await q.addJobs([new Job('x1', undefined, { group: 'x' }), new Job('x2', undefined, { group: 'x' })]);
    await until(() => ran.length, (n) => n === 1, { what: 'the first job of the group', timeout: 10_000 });
    await sleep(200);
    t.deepEqual(ran, ['x1'], 'one at a time');
    t.true(await q.removeJob('x1'));
    await until(() => ran, (r) => r.includes('x2'), { what: 'the second job once the first was removed', timeout: 10_000 });
    release();
  });

  test('delayed jobs keep their priority and group when they fall due', async (t) => {
    const q = ctx.queue({ concurrency: 1 });
    await q.setGroupConcurrency(1);
    await q.addJobs([
      new Job('later-p5', undefined, { priority: 5, delay: 300 }),
      new Job('later-p1', undefined, { priority: 1, delay: 300 }),
      new Job('later-g', undefined, { group: 'g', delay: 300 }),
    ]);
    t.is(await q.countScheduled(), 3);
    await sleep(500);
    const order: string[] = [];
    q.process(async (job) => {
      order.push(job.id);
    });
    await until(() => order.length, (n) => n === 3, { what: 'the three due jobs', timeout: 10_000 });
    t.deepEqual(order, ['later-p1', 'later-p5', 'later-g']);
  });

  test('groups take turns: one job per group per turn, round robin', async (t) => {
    const q = ctx.queue({ concurrency: 1 });
    const jobs: Job[] = [];
    for (const g of ['x', 'y', 'z']) for (let i = 0; i < 4; i++) jobs.push(new Job(`${g}${i}`, undefined, { group: g }));
    await q.addJobs(jobs);
    t.is(await q.countQueued(), 12);
    const order: string[] = [];
    q.process(async (job) => {
      order.push(job.id);
    });
    await until(() => order.length, (n) => n === 12, { what: 'all twelve jobs', timeout: 10_000 });
    t.deepEqual(order, ['x0', 'y0', 'z0', 'x1', 'y1', 'z1', 'x2', 'y2', 'z2', 'x3', 'y3', 'z3']);
    const keys = (await ctx.backend.inspect.sendCommand(['KEYS', `${q.keys.groups.slice(0, -'groups'.length)}g*`])) as string[];
    t.deepEqual(keys.filter((k) => !k.endsWith(':groups')), [], 'empty groups leave no keys');
  });

  test('the group rate limit holds each group to its own sliding window', async (t) => {
    const q = ctx.queue({ concurrency: 8 });
    await q.setGroupRateLimit({ max: 2, duration: 400 });
    t.deepEqual(await q.getGroupRateLimit(), { max: 2, duration: 400 });
    const starts = new Map<string, number[]>();
    q.process(async (job) => {
      const group = job.id[0];
      starts.set(group, [...(starts.get(group) ?? []), job.startedAt]);
    });
    const jobs: Job[] = [];
    for (const g of ['m', 'n']) for (let i = 0; i < 8; i++) jobs.push(new Job(`${g}${i}`, undefined, { group: g }));
    await q.addJobs(jobs);
    await until(() => q.countCommitted(), (n) => n === 0, { what: 'all 16 jobs', timeout: 30_000 });
    for (const g of ['m', 'n']) {
      t.is(starts.get(g)?.length, 8);
      t.is(windowsHold(starts.get(g)!, 2, 400), undefined, `group ${g}`);
    }
    // the groups run side by side: the limit is per group, not for the queue
    t.true(windowsHold([...starts.get('m')!, ...starts.get('n')!], 2, 400) !== undefined, 'two groups together start more than one group may');
  });

  test('flow control holds with stalls: a grouped job recovered from a dead worker frees its group', async (t) => {
    const name = ctx.name();
    const producer = ctx.queue({ name });
    await producer.setGroupConcurrency(1);
    const child = childWorker(ctx.backend.redis, name, { stallTimeout: 600 });
    t.teardown(() => child.kill());
    await producer.addJobs([new Job('g1', undefined, { group: 'g' }), new Job('g2', undefined, { group: 'g' })]);
    await until(() => child.starts().length, (n) => n === 1, { what: 'the child to start one job', timeout: 60_000 });
    await sleep(300);
    t.is(child.starts().length, 1, 'the group runs one at a time');
    child.kill();
    const q = ctx.queue({ name, stallTimeout: 600 });
    const ran: string[] = [];
    q.process(async (job) => {
      ran.push(job.id);
    });
    await until(() => ran.length, (n) => n === 2, { what: 'both jobs to run after the stall', timeout: 20_000 });
    t.deepEqual([...ran].sort(), ['g1', 'g2']);
  });
});

/** A worker process (fixtures/hanging-worker.ts) that reports each start with its claim time; without runMs its jobs never end. */
function childWorker(redis: unknown, name: string, options: object, runMs?: number) {
  const child: ChildProcess = fork(
    new URL('./fixtures/hanging-worker.ts', import.meta.url),
    [typeof redis === 'string' ? redis : JSON.stringify(redis), name, JSON.stringify(options), ...(runMs === undefined ? [] : [String(runMs)])],
    { execArgv: ['--import', 'tsx'], stdio: 'ignore' },
  );
  const seen: Array<Record<string, string>> = [];
  child.on('message', (m: Record<string, string>) => seen.push(m));
  return {
    ready: () => seen.some((m) => m.ready),
    starts: () => seen.filter((m) => m.started !== undefined).map((m) => Number(m.at)),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

