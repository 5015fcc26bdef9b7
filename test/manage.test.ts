import { fork } from 'node:child_process';
import { hostname } from 'node:os';
import sinon from 'sinon';
import { ActiveJob, ForeignDataError, InvalidJobIdError, InvalidOptionError, Job, QueueBusyError, QueueClosedError, type Queue, type WorkerInfo } from '../src/index.js';
import { KEY_NAMES } from '../src/keys.js';
import { forEachBackend, assertInvariant, until, sleep } from './helpers/backends.js';

/** A handler that holds each job until it is let go (or its signal aborts). */
function holder() {
  const started: ActiveJob[] = [];
  const gates = new Map<string, () => void>();
  const handler = (job: ActiveJob) =>
    new Promise<string>((resolve) => {
      started.push(job);
      gates.set(job.id, () => resolve(`done ${job.id}`));
    });
  return { handler, started, release: (id: string) => gates.get(id)?.() };
}

const BOUND = 15_000;

forEachBackend((test, ctx) => {
  /** The queue's keys that exist, but its event stream (a log of what happened, not state; see test/events.test.ts). */
  const keysOf = async (q: Queue<unknown>) => {
    const out: string[] = [];
    for (const name of KEY_NAMES) if (name !== 'events' && (await ctx.backend.inspect.exists(q.keys[name])) === 1) out.push(name);
    return out;
  };

  // ---- getJob

  test('getJob: null for an ID that is not in the queue', async (t) => {
    const q = ctx.queue();
    t.is(await q.getJob('nope'), null);
    t.is(await q.getJob(7), null);
  });

  test('getJob: a queued job with its payload and no options', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job(1, { cargo: 'eggs' }));
    t.deepEqual(await q.getJob(1), { id: '1', state: 'queued', payload: { cargo: 'eggs' }, options: {}, attempt: 0 });
  });

  test('getJob: a scheduled job says when it falls due, and its stored options', async (t) => {
    const q = ctx.queue();
    const before = Date.now();
    await q.addJob(new Job('s', undefined, { delay: 60_000, attempts: 3 }));
    const info = await q.getJob('s');
    t.is(info?.state, 'scheduled');
    t.deepEqual(info?.options, { attempts: 3 });
    t.is(info?.payload, undefined);
    t.is(info?.attempt, 0);
    t.true(Math.abs(info!.addedAt! - before) < 60_000, `added at ${info?.addedAt}, kept with its options`);
    // Redis clock and ours are the same machine's; allow a little skew
    t.true(info!.runAt! >= before + 60_000 - 1000 && info!.runAt! <= Date.now() + 60_000 + 1000, String(info?.runAt));
  });

  test('getJob: a processing job says when it started, which attempt it is, and its progress', async (t) => {
    const q = ctx.queue({ jobTimeout: 0 });
    const h = holder();
    q.process(h.handler);
    await q.addJob(new Job('p', { n: 1 }, { attempts: 2 }));
    await until(() => h.started.length === 1, Boolean, { what: 'the job to start', timeout: BOUND });
    await h.started[0].updateProgress({ pct: 40 });
    const info = await q.getJob('p');
    t.is(info?.state, 'processing');
    t.is(info?.attempt, 1);
    t.is(info?.attempt, h.started[0].attempt);
    t.is(info?.startedAt, h.started[0].startedAt);
    t.deepEqual(info?.progress, { pct: 40 });
    t.deepEqual(info?.payload, { n: 1 });
    h.release('p');
    await until(async () => (await q.getJob('p'))?.state === 'completed', Boolean, { what: 'the job to complete, only its result kept', timeout: BOUND });
  });

  test('getJob: a failed job shows its last error and every run it made', async (t) => {
    const q = ctx.queue();
    q.process(async () => {
      throw new Error('boom');
    });
    await q.addJob(new Job('f', { n: 2 }, { attempts: 2 }));
    await until(async () => (await q.countFailed()) === 1, Boolean, { what: 'the job to fail for good', timeout: BOUND });
    const info = await q.getJob('f');
    t.is(info?.state, 'failed');
    t.is(info?.attempt, 2);
    t.deepEqual(info?.payload, { n: 2 });
    t.deepEqual(info?.options, { attempts: 2 });
    t.is(info?.lastError?.message, 'boom');
    t.is(info?.progress, undefined);
  });

  test('getJob: a payload that is not JSON rejects with a ForeignDataError naming the payload key', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job('x'));
    await ctx.backend.inspect.hSet(q.keys.payload, 'x', '{not json');
    const err = await t.throwsAsync(q.getJob('x'), { instanceOf: ForeignDataError });
    t.is(err?.key, q.keys.payload);
  });

  // ---- listJobs

  test('listJobs: each state in its own order, with offset and limit', async (t) => {
    const q = ctx.queue({ name: ctx.name() });
    await q.addJobs(['a', 'b', 'c'].map((id) => new Job(id)));
    await q.addJob(new Job('late', undefined, { delay: 90_000 }));
    await q.addJob(new Job('soon', undefined, { delay: 60_000 }));
    t.deepEqual((await q.listJobs('queued')).map((j) => j.id), ['a', 'b', 'c']);
    t.deepEqual((await q.listJobs('queued', { offset: 1, limit: 1 })).map((j) => j.id), ['b']);
    t.deepEqual((await q.listJobs('queued', { offset: 5 })).map((j) => j.id), []);
    const scheduled = await q.listJobs('scheduled');
    t.deepEqual(scheduled.map((j) => [j.id, j.state]), [['soon', 'scheduled'], ['late', 'scheduled']]);
    t.true(scheduled[0].runAt! < scheduled[1].runAt!);

    // failed: as getFailed, most failures first
    await ctx.backend.inspect.zAdd(q.keys.failed, [{ score: 1, value: 'once' }, { score: 3, value: 'thrice' }]);
    await ctx.backend.inspect.hSet(q.keys.failinfo, { once: '{"message":"m1","time":1}', thrice: '{"message":"m3","time":3}' });
    const failed = await q.listJobs('failed');
    t.deepEqual(failed.map((j) => j.id), (await q.getFailed()).map((f) => f.id));
    t.deepEqual(failed.map((j) => [j.id, j.lastError?.message]), [['thrice', 'm3'], ['once', 'm1']]);
  });

  test('listJobs: processing, oldest claim first', async (t) => {
    const q = ctx.queue({ jobTimeout: 0, concurrency: 1 });
    const other = ctx.queue({ name: q.name, jobTimeout: 0, concurrency: 1 });
    const h1 = holder();
    const h2 = holder();
    await q.addJob(new Job('first'));
    q.process(h1.handler);
    await until(() => h1.started.length === 1, Boolean, { what: 'the first job to start', timeout: BOUND });
    await sleep(5);
    await q.addJob(new Job('second'));
    other.process(h2.handler);
    await until(() => h2.started.length === 1, Boolean, { what: 'the second job to start', timeout: BOUND });
    const list = await q.listJobs('processing');
    t.deepEqual(list.map((j) => [j.id, j.state, j.attempt]), [['first', 'processing', 1], ['second', 'processing', 1]]);
    t.true(list[0].startedAt! <= list[1].startedAt!);
    h1.release('first');
    h2.release('second');
  });

  test('listJobs reads more than one page (2500 queued IDs)', async (t) => {
    const q = ctx.queue();
    const ids = Array.from({ length: 2500 }, (_, i) => `j${i}`);
    await q.addJobs(ids.map((id) => new Job(id)));
    const all = await q.listJobs('queued', { limit: 5000 });
    t.deepEqual(all.map((j) => j.id), ids);
    t.deepEqual((await q.listJobs('queued', { offset: 1999, limit: 2 })).map((j) => j.id), ['j1999', 'j2000']);
  });

  test('listJobs refuses a bad state, offset or limit, quoting it', async (t) => {
    const q = ctx.queue();
    const e1 = await t.throwsAsync(q.listJobs('done' as never), { instanceOf: InvalidOptionError });
    t.regex(e1!.message, /"done"/);
    await t.throwsAsync(q.listJobs('queued', { offset: -1 }), { instanceOf: InvalidOptionError, message: /-1/ });
    await t.throwsAsync(q.listJobs('queued', { limit: 0 }), { instanceOf: InvalidOptionError, message: /0/ });
    await t.throwsAsync(q.listJobs('queued', { limit: 1.5 }), { instanceOf: InvalidOptionError, message: /1\.5/ });
    await t.throwsAsync(q.listJobs('queued', { offset: '2' as never }), { instanceOf: InvalidOptionError, message: /"2"/ });
  });

  // ---- removeJob

  test('removeJob takes a queued, a scheduled and a failed ID out with what is kept for them', async (t) => {
    const q = ctx.queue();
    await q.addJobs([new Job('a', { n: 1 }, { attempts: 2 }), new Job('b'), new Job('c')]);
    await q.addJob(new Job('s', { n: 2 }, { delay: 60_000 }));
    await ctx.backend.inspect.zAdd(q.keys.failed, { score: 1, value: 'f' });
    await ctx.backend.inspect.hSet(q.keys.failinfo, 'f', '{"message":"x","time":1}');
    await ctx.backend.inspect.hSet(q.keys.payload, 'f', '{"n":3}');

    t.true(await q.removeJob('b'));
    t.true(await q.removeJob('a'));
    t.true(await q.removeJob('s'));
    t.true(await q.removeJob('f'));
    t.false(await q.removeJob('a'), 'not there any more');
    t.false(await q.removeJob('never'));
    t.deepEqual(await ctx.backend.inspect.lRange(q.keys.queued, 0, -1), ['c']);
    t.deepEqual(await q.stats(), { queued: 1, scheduled: 0, committed: 1, processing: 0, failed: 0, paused: false });
    t.deepEqual((await keysOf(q)).filter((k) => k !== 'wake'), ['queued', 'committed'], 'nothing else kept');
    await assertInvariant(t, ctx.backend, q.keys);
    t.is(await q.addJob(new Job('a')), 'queued', 'a removed ID can be added again');
  });

  test('removeJob during a run cancels it: the signal aborts within a renewal, the late result changes nothing, the ID can be added again', async (t) => {
    // renewals every 400 ms; short enough to see, long enough that a busy machine does not lapse the lease
    const q = ctx.queue({ jobTimeout: 0, stallTimeout: 1200 });
    const completed = sinon.spy();
    const failed = sinon.spy();
    q.on('completed', completed);
    q.on('failed', failed);
    let abortedAt = 0;
    let reason: unknown;
    let finish!: () => void;
    const runs: string[] = [];
    q.process(async (job) => {
      runs.push(`${job.id}#${job.attempt}`);
      if (runs.length > 1) return 'second run';
      job.signal.addEventListener('abort', () => {
        abortedAt = Date.now();
        reason = job.signal.reason;
      });
      await new Promise<void>((resolve) => (finish = resolve));
      return 'late';
    });
    await q.addJob(new Job('r', { n: 1 }));
    await until(() => runs.length === 1, Boolean, { what: 'the run to start', timeout: BOUND });
    await ctx.backend.inspect.hSet(q.keys.progress, 'r', '5');
    const removedAt = Date.now();
    t.true(await q.removeJob('r'));
    t.is(await q.getJob('r'), null);
    t.deepEqual((await keysOf(q)).filter((n) => !['wake', 'workers', 'workerinfo'].includes(n)), [], 'nothing kept for it');
    await until(() => abortedAt > 0, Boolean, { what: "the removed run's signal to abort", timeout: BOUND });
    t.log(`aborted ${abortedAt - removedAt} ms after removeJob (renewals every 400 ms)`);
    t.regex(String((reason as Error).message), /removed/);
    // its late completion changes nothing
    finish();
    await sleep(300);
    t.true(completed.notCalled, 'no completed for the cancelled run');
    t.true(failed.notCalled);
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 0, paused: false });
    // and the ID is free: a new add runs it afresh
    t.is(await q.addJob(new Job('r')), 'queued');
    await until(() => completed.calledOnce, Boolean, { what: 'the re-added job to complete', timeout: BOUND });
    t.deepEqual(runs, ['r#1', 'r#1']);
    await assertInvariant(t, ctx.backend, q.keys);
  });

  test('removeJob of a processing ID with a rerun pending: the rerun goes too', async (t) => {
    const q = ctx.queue({ jobTimeout: 0, duplicateWhileProcessing: 'rerun' });
    const h = holder();
    q.process(h.handler);
    await q.addJob(new Job('x'));
    await until(() => h.started.length === 1, Boolean, { what: 'the run to start', timeout: BOUND });
    t.is(await q.addJob(new Job('x')), 'processing');
    t.true(await q.removeJob('x'));
    h.release('x');
    await sleep(300);
    t.is(h.started.length, 1, 'it does not run again');
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 0, paused: false });
    t.is(await ctx.backend.inspect.exists(q.keys.rerun), 0);
  });

  test('removeJob and friends validate IDs as new Job(id) does, and reject after close', async (t) => {
    const q = ctx.queue();
    await t.throwsAsync(q.removeJob(''), { instanceOf: InvalidJobIdError });
    await t.throwsAsync(q.getJob(null as never), { instanceOf: InvalidJobIdError });
    await t.throwsAsync(q.retryFailed('ok', NaN), { instanceOf: InvalidJobIdError });
    await t.throwsAsync(q.obliterate({ force: 'yes' as never }), { instanceOf: InvalidOptionError, message: /"yes"/ });
    await q.close();
    await t.throwsAsync(q.getJob('a'), { instanceOf: QueueClosedError });
    await t.throwsAsync(q.listJobs('queued'), { instanceOf: QueueClosedError });
    await t.throwsAsync(q.removeJob('a'), { instanceOf: QueueClosedError });
    await t.throwsAsync(q.retryFailed(), { instanceOf: QueueClosedError });
    await t.throwsAsync(q.drain(), { instanceOf: QueueClosedError });
    await t.throwsAsync(q.obliterate(), { instanceOf: QueueClosedError });
    await t.throwsAsync(q.getWorkers(), { instanceOf: QueueClosedError });
  });

  // ---- promote racing a claim

  test('a promote racing a claim: each scheduled job runs exactly once, the invariant holds', async (t) => {
    const q = ctx.queue({ concurrency: 10 });
    const ran = new Map<string, number>();
    const ids = Array.from({ length: 60 }, (_, i) => `d${i}`);
    // due over the next 300 ms; each promote goes out about 10 ms before its due time, so some win and some find it claimed
    await q.addJobs(ids.map((id, i) => new Job(id, undefined, { delay: 5 * i + 10 })));
    q.process(async (job) => {
      ran.set(job.id, (ran.get(job.id) ?? 0) + 1);
    });
    const promoted = await Promise.all(ids.map(async (id, i) => {
      await sleep(5 * i);
      return q.promote(id);
    }));
    await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'every job to run', timeout: BOUND });
    t.deepEqual([...ran.values()].filter((n) => n !== 1), [], 'none ran twice');
    t.is(ran.size, 60);
    t.log(`${promoted.filter(Boolean).length} promotes won, ${promoted.filter((p) => !p).length} found the job claimed or queued already`);
    await assertInvariant(t, ctx.backend, q.keys);
  });

  test('a promote of a job being claimed right now, many times over', async (t) => {
    const q = ctx.queue();
    const worker = ctx.queue({ name: q.name, concurrency: 5 });
    const ran: string[] = [];
    worker.process(async (job) => {
      ran.push(job.id);
    });
    for (let round = 0; round < 20; round++) {
      const id = `p${round}`;
      await q.addJob(new Job(id, undefined, { delay: 20 }));
      await sleep(18);
      await Promise.all([q.promote(id), q.promote(id)]);
    }
    await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'every job to run', timeout: BOUND });
    t.deepEqual([...ran].sort(), Array.from({ length: 20 }, (_, i) => `p${i}`).sort());
    await assertInvariant(t, ctx.backend, q.keys);
  });

  // ---- retryFailed

  test('retryFailed: named failed IDs go back to the queue with fresh attempts and their payload', async (t) => {
    const q = ctx.queue();
    let fail = true;
    const attempts: number[] = [];
    q.process(async (job) => {
      attempts.push(job.attempt);
      if (fail) throw new Error('boom');
    });
    await q.addJobs([new Job('a', { n: 1 }, { attempts: 2 }), new Job('b')]);
    await until(async () => (await q.countFailed()) === 2, Boolean, { what: 'both jobs to fail for good', timeout: BOUND });
    await q.stopProcessing();
    t.is(await q.retryFailed('a', 'nope'), 1);
    const info = await q.getJob('a');
    t.deepEqual([info?.state, info?.attempt, info?.payload, info?.options], ['queued', 0, { n: 1 }, { attempts: 2 }]);
    t.deepEqual((await q.getFailed()).map((f) => f.id), ['b']);
    fail = false;
    attempts.length = 0;
    const runner = ctx.queue({ name: q.name });
    const seen: number[] = [];
    runner.process(async (job) => {
      seen.push(job.attempt);
    });
    await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'the retried job to run', timeout: BOUND });
    t.deepEqual(seen, [1], 'it starts again at attempt 1');
    await assertInvariant(t, ctx.backend, q.keys);
  });

  test('retryFailed with no IDs retries every failure record, in pages (2500)', async (t) => {
    const q = ctx.queue();
    const ids = Array.from({ length: 2500 }, (_, i) => `f${i}`);
    await ctx.backend.inspect.zAdd(q.keys.failed, ids.map((value) => ({ score: 1, value })));
    await ctx.backend.inspect.hSet(q.keys.failinfo, Object.fromEntries(ids.map((id) => [id, '{"message":"x","time":1}'])));
    await ctx.backend.inspect.hSet(q.keys.attempts, Object.fromEntries(ids.map((id) => [id, '1'])));
    t.is(await q.retryFailed(), 2500);
    t.deepEqual(await q.stats(), { queued: 2500, scheduled: 0, committed: 2500, processing: 0, failed: 0, paused: false });
    t.deepEqual(await keysOf(q), ['queued', 'committed', 'wake']);
    t.is(await q.retryFailed(), 0);
    await assertInvariant(t, ctx.backend, q.keys);
  });

  test('retryFailed of an ID that was committed again meanwhile only drops its failure record', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job('x', { n: 1 }));
    // a failure record left over while the ID is committed again (as if a stale record)
    await ctx.backend.inspect.zAdd(q.keys.failed, { score: 1, value: 'x' });
    await ctx.backend.inspect.hSet(q.keys.failinfo, 'x', '{"message":"old","time":1}');
    t.is(await q.retryFailed('x'), 0);
    t.deepEqual(await ctx.backend.inspect.lRange(q.keys.queued, 0, -1), ['x'], 'not twice in the queue');
    t.is(await q.countFailed(), 0);
    t.deepEqual((await q.getJob('x'))?.payload, { n: 1 });
    await assertInvariant(t, ctx.backend, q.keys);
  });

  test('retryFailed after a re-add: the add already started the ID afresh, the retry finds no record', async (t) => {
    const q = ctx.queue();
    q.process(async () => {
      throw new Error('boom');
    });
    await q.addJob(new Job('y'));
    await until(async () => (await q.countFailed()) === 1, Boolean, { what: 'the job to fail', timeout: BOUND });
    await q.stopProcessing();
    t.is(await q.addJob(new Job('y', { again: true })), 'queued');
    t.is(await q.retryFailed('y'), 0);
    t.deepEqual(await q.stats(), { queued: 1, scheduled: 0, committed: 1, processing: 0, failed: 0, paused: false });
    t.deepEqual((await q.getJob('y'))?.payload, { again: true });
  });

  // ---- drain

  test('drain removes 2500 queued and 1200 scheduled jobs with their data, leaves the running one to complete', async (t) => {
    const q = ctx.queue({ jobTimeout: 0, concurrency: 1 });
    const h = holder();
    const completed = sinon.spy();
    q.on('completed', completed);
    q.process(h.handler);
    await q.addJob(new Job('run', { n: 0 }, { attempts: 2 }));
    await until(() => h.started.length === 1, Boolean, { what: 'the job to start', timeout: BOUND });
    // the one slot is busy: these wait
    await q.addJobs(Array.from({ length: 2500 }, (_, i) => new Job(`q${i}`, { i }, i % 2 ? { attempts: 3 } : undefined)));
    await q.addJobs(Array.from({ length: 1200 }, (_, i) => new Job(`s${i}`, undefined, { delay: 60_000 + i })));
    await ctx.backend.inspect.hSet(q.keys.stalls, 'q1', '1');
    t.is(await q.drain(), 3700);
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 1, processing: 1, failed: 0, paused: false });
    t.deepEqual(Object.keys(await ctx.backend.inspect.hGetAll(q.keys.payload)), ['run'], 'only the running job keeps its payload');
    t.deepEqual(Object.keys(await ctx.backend.inspect.hGetAll(q.keys.options)), ['run']);
    t.is(await ctx.backend.inspect.exists(q.keys.stalls), 0);
    t.is(await q.drain(), 0);
    h.release('run');
    await until(() => completed.calledOnce, Boolean, { what: 'the running job to complete', timeout: BOUND });
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 0, paused: false });
    await assertInvariant(t, ctx.backend, q.keys);
  });

  // ---- obliterate

  test('obliterate deletes every key of the queue', async (t) => {
    const q = ctx.queue();
    await q.addJobs([new Job('a', { n: 1 }, { attempts: 2 }), new Job('b')]);
    await q.addJob(new Job('s', undefined, { delay: 60_000 }));
    await ctx.backend.inspect.zAdd(q.keys.failed, { score: 1, value: 'f' });
    await ctx.backend.inspect.hSet(q.keys.failinfo, 'f', '{"message":"x","time":1}');
    await ctx.backend.inspect.rPush(q.keys.errors, '{"message":"x"}');
    await ctx.backend.inspect.sendCommand(['SET', q.keys.lock, 'L', 'PX', '30000']);
    t.not((await keysOf(q)).length, 0);
    await q.obliterate();
    t.deepEqual(await keysOf(q), []);
    const events = (await ctx.backend.inspect.sendCommand(['XRANGE', q.keys.events, '-', '+'])) as Array<[string, string[]]>;
    t.deepEqual(events.map(([, fields]) => fields), [['event', 'obliterated', 'id', '']], 'the new event stream tells of it, and only of it');
    t.is(await q.addJob(new Job('a')), 'queued', 'the queue works again afterwards');
  });

  test('obliterate refuses while jobs are processing, unless forced; a forced one cancels the runs', async (t) => {
    // leases long enough that a starved event loop does not lapse them (a stall would empty processing)
    const q = ctx.queue({ jobTimeout: 0, stallTimeout: 3000 });
    const completed = sinon.spy();
    q.on('completed', completed);
    const h = holder();
    q.process(h.handler);
    await q.addJob(new Job('run'));
    await q.addJob(new Job('wait'));
    await until(() => h.started.length === 1, Boolean, { what: 'the job to start', timeout: BOUND });
    const err = await t.throwsAsync(q.obliterate(), { instanceOf: QueueBusyError });
    t.regex(err!.message, /1 jobs processing/);
    t.is(await q.countCommitted(), 2, 'nothing deleted');
    await q.obliterate({ force: true });
    t.deepEqual((await keysOf(q)).filter((k) => !['workers', 'workerinfo'].includes(k)), []);
    await until(() => h.started[0].signal.aborted, Boolean, { what: 'the cancelled run to abort', timeout: BOUND });
    h.release('run');
    await sleep(300);
    t.true(completed.notCalled, 'its late result changes nothing');
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 0, paused: false });
  });

  // ---- getWorkers

  test('getWorkers shows a live worker with its running IDs', async (t) => {
    // renewals every second: a starved event loop on a busy machine must not lapse the leases
    const q = ctx.queue({ jobTimeout: 0, stallTimeout: 3000, concurrency: 3 });
    t.deepEqual(await q.getWorkers(), []);
    const h = holder();
    q.process(h.handler);
    await until(async () => (await q.getWorkers()).length === 1, Boolean, { what: 'the worker to register', timeout: BOUND });
    const [idle] = await q.getWorkers();
    t.deepEqual([idle.host, idle.pid, idle.concurrency, idle.running], [hostname(), process.pid, 3, []]);
    await q.addJobs([new Job('a'), new Job('b')]);
    await until(() => h.started.length === 2, Boolean, { what: 'both jobs to start', timeout: BOUND });
    let busy: WorkerInfo | undefined;
    await until(async () => {
      [busy] = await q.getWorkers();
      return busy?.running.length === 2;
    }, Boolean, { what: 'a renewal to list the running IDs', timeout: BOUND });
    t.deepEqual(busy!.running.sort(), ['a', 'b']);
    t.is(busy!.id, idle.id);
    t.true(Math.abs(busy!.lastSeen - Date.now()) < 5000, String(busy!.lastSeen));
    h.release('a');
    h.release('b');
  });

  test('getWorkers drops a worker process killed with SIGKILL within 2 × stallTimeout', async (t) => {
    const name = ctx.name();
    const stallTimeout = 1000;
    const redis = ctx.backend.redis;
    const child = fork(new URL('./fixtures/registered-worker.ts', import.meta.url), [typeof redis === 'string' ? redis : JSON.stringify(redis), name, String(stallTimeout)], {
      execArgv: ['--import', 'tsx'],
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const started = new Promise<string>((resolve) => child.on('message', (m: { started?: string }) => m.started && resolve(m.started)));
    const q = ctx.queue({ name, stallTimeout });
    await q.addJob(new Job('held'));
    t.is(await started, 'held');
    await until(async () => (await q.getWorkers()).some((w) => w.running.includes('held')), Boolean, { what: 'the child worker to list its job', timeout: BOUND });
    const [w] = await q.getWorkers();
    t.is(w.pid, child.pid!);
    child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    await until(async () => (await q.getWorkers()).length === 0, Boolean, { what: 'the dead worker to drop out', timeout: BOUND });
    const took = Date.now() - killedAt;
    t.log(`dropped ${took} ms after the kill`);
    // it was last seen before the kill; allow for a busy machine's polling
    t.true(took <= 2 * stallTimeout + 3000, `took ${took} ms`);
  });
});
