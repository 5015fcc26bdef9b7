import { fork } from 'node:child_process';
import sinon from 'sinon';
import { InvalidArgumentError, Job, type QueueOptions } from '../src/index.js';
import { forEachBackend, assertInvariant, until, sleep, withTimeout } from './helpers/backends.js';

/** A handler that holds each job until its gate opens. */
function gated() {
  const gates = new Map<string, () => void>();
  const started: string[] = [];
  const handler = (job: { id: string }) =>
    new Promise<void>((resolve) => {
      started.push(job.id);
      gates.set(`${job.id}#${started.filter((s) => s === job.id).length}`, resolve);
    });
  const open = (key: string) => gates.get(key)?.();
  return { handler, started, open };
}

forEachBackend((test, ctx) => {
  /** A queue object on `name` whose worker has claimed `job` and holds it until its gate opens. */
  async function holding(name: string, job: Job, opts: QueueOptions = {}) {
    const q = ctx.queue({ name, jobTimeout: 0, ...opts });
    const g = gated();
    q.process(g.handler);
    await q.addJob(job);
    await until(() => g.started.length, (v) => v === 1, 'g.started.length to be 1');
    return { q, g };
  }

  test('a jammed job goes back to the queue with its payload; the jam is logged, not a failure record', async (t) => {
    const name = ctx.name();
    await holding(name, new Job('j', { load: 'gravel' }));

    const guard = ctx.queue<{ load: string }>({ name });
    const jammed = sinon.spy();
    guard.on('jammed', jammed);
    t.deepEqual(await guard.jamGuard(5), [], 'not idle for 5 s yet');
    await sleep(120);
    const requeued = await guard.jamGuard(0.1);
    t.deepEqual(requeued.map((j) => [j.id, j.payload]), [['j', { load: 'gravel' }]]);
    t.true(requeued[0] instanceof Job);
    t.true(jammed.calledOnceWith(requeued));
    t.deepEqual(await guard.stats(), { queued: 1, scheduled: 0, committed: 1, processing: 0, failed: 0, paused: false });
    const [logged] = (await ctx.backend.inspect.lRange(guard.keys.errors, 0, -1)).map((e) => JSON.parse(e) as { id: string; jammed: boolean; message: string });
    t.is(logged.id, 'j');
    t.true(logged.jammed);
    t.regex(logged.message, /jammed/);
    await assertInvariant(t, ctx.backend, guard.keys);
  });

  test('a late completion after a jam does not release the new claim', async (t) => {
    const name = ctx.name();
    const first = ctx.queue({ name, jobTimeout: 0 });
    const g1 = gated();
    first.process(g1.handler);
    await first.addJob(new Job('k'));
    // `first` stays hung on its job, as a jammed worker does
    await until(() => g1.started.length, (v) => v === 1, 'g1.started.length to be 1');

    await sleep(30);
    const guard = ctx.queue({ name });
    t.is((await guard.jamGuard(0.01)).length, 1);

    const second = ctx.queue({ name, jobTimeout: 0 });
    const g2 = gated();
    second.process(g2.handler);
    await until(() => g2.started.length, (v) => v === 1, 'g2.started.length to be 1');
    const claim = await ctx.backend.inspect.zRangeWithScores(second.keys.processing, 0, -1);
    t.is(claim.length, 1);

    // a second stale worker finishing now must change nothing
    const stale = ctx.queue({ name, jobTimeout: 0 });
    const completed = sinon.spy();
    stale.on('completed', completed);
    await stale.run('complete', ['0', '0', '30000', 'k', 'not-the-token'], 'test');
    const [flags] = (await stale.run('complete', ['0', '0', '30000', 'k', '1'], 'test')) as string[];
    t.is(flags, '0');
    t.deepEqual(await ctx.backend.inspect.zRangeWithScores(second.keys.processing, 0, -1), claim, 'the new claim stands');
    t.is(await guard.countCommitted(), 1);

    g2.open('k#1');
    await until(() => guard.countCommitted(), (n) => n === 0, 'guard to drain (no committed IDs)');
    t.false(completed.called);
  });

  test('a stale run that ends after a jam is void, and the job runs again in full', async (t) => {
    const name = ctx.name();
    const { q: slow, g } = await holding(name, new Job('s'));
    const completed = sinon.spy();
    slow.on('completed', completed);
    await sleep(20);
    const guard = ctx.queue({ name });
    t.is((await guard.jamGuard(0.01)).length, 1);
    // the old run ends late: its result is void, and the slot it frees takes the requeued job afresh
    g.open('s#1');
    await until(() => g.started.length, (v) => v === 2, 'g.started.length to be 2');
    t.false(completed.called, "a late result is not reported as 'completed'");
    t.deepEqual(await guard.stats(), { queued: 0, scheduled: 0, committed: 1, processing: 1, failed: 0, paused: false });
    g.open('s#2');
    await until(() => guard.countCommitted(), (n) => n === 0, 'guard to drain (no committed IDs)');
    t.true(completed.calledOnce);
    t.is(await guard.countFailed(), 0, 'a job that jammed and then completed leaves no failure record');
  });

  test('a jam then a failure for good leaves one failure record, with the error of the failure', async (t) => {
    const name = ctx.name();
    const { q: stuck } = await holding(name, new Job('twice'));
    await sleep(20);
    await ctx.queue({ name }).jamGuard(0.01);
    void stuck; // still hung on its first run, which holds its only slot
    const failing = ctx.queue({ name });
    failing.process(async () => {
      throw new Error('still broken');
    });
    await until(() => failing.countCommitted(), (n) => n === 0, 'failing to drain (no committed IDs)');
    const [record] = await failing.getFailed();
    t.is(record.count, 1);
    t.is(record.lastError?.message, 'still broken');
  });

  test('only one sweep runs at a time, across queue objects', async (t) => {
    const name = ctx.name();
    const q = ctx.queue({ name, concurrency: 50, jobTimeout: 0 });
    const g = gated();
    q.process(g.handler);
    await q.addJobs(Array.from({ length: 50 }, (_, i) => new Job(i)));
    // the worker stays hung on all 50, as a jammed worker does
    await until(() => g.started.length, (v) => v === 50, 'g.started.length to be 50');
    await sleep(20);
    const sweepers = Array.from({ length: 5 }, () => ctx.queue({ name }));
    const results = await Promise.all(sweepers.map((s) => s.jamGuard(0.01)));
    const all = results.flat().map((j) => j.id);
    t.is(all.length, 50, 'each job requeued once');
    t.is(new Set(all).size, 50);
    t.is(await sweepers[0].countQueued(), 50);
    await assertInvariant(t, ctx.backend, sweepers[0].keys);

    // a sweep that finds the lock held returns nothing
    await ctx.backend.inspect.set(sweepers[0].keys.lock, 'someone-else', { PX: 5000 } as never);
    t.deepEqual(await sweepers[0].jamGuard(0), []);
  });

  test('a rerun asked for while a job jams is satisfied by the requeue', async (t) => {
    const name = ctx.name();
    const { q } = await holding(name, new Job('rr'), { duplicateWhileProcessing: 'rerun' });
    t.is(await q.addJob(new Job('rr')), 'processing');
    await sleep(20);
    await ctx.queue({ name }).jamGuard(0.01);
    t.is(await ctx.backend.inspect.exists(q.keys.rerun), 0);
    t.deepEqual(await ctx.backend.inspect.lRange(q.keys.queued, 0, -1), ['rr']);
  });

  test('jamGuardInterval sweeps by itself', async (t) => {
    const name = ctx.name();
    const stuck = ctx.queue({ name, jobTimeout: 0 });
    stuck.process(() => new Promise(() => undefined));
    await stuck.addJob(new Job('auto'));
    await until(() => stuck.countProcessing(), (n) => n === 1, 'stuck.countProcessing() to be 1');
    const guard = ctx.queue({ name, jamGuardInterval: 50, jamGuardIdle: 0.05 });
    const jammed = sinon.spy();
    guard.on('jammed', jammed);
    await until(() => jammed.callCount, (n) => n >= 1, 'a periodic sweep');
    t.is(jammed.firstCall.args[0][0].id, 'auto');
  });

  test('jamGuard refuses a bad idle time', async (t) => {
    const q = ctx.queue();
    await t.throwsAsync(q.jamGuard(-1), { instanceOf: InvalidArgumentError, message: /got -1$/ });
    await t.throwsAsync(q.jamGuard('5' as never), { instanceOf: InvalidArgumentError, message: /got "5"$/ });
  });

  test('a worker process killed mid-job loses nothing: a sweep requeues the job and another worker runs it', async (t) => {
    const name = ctx.name();
    const redis = ctx.backend.redis;
    const child = fork(new URL('./fixtures/hanging-worker.ts', import.meta.url), [typeof redis === 'string' ? redis : JSON.stringify(redis), name], {
      execArgv: ['--import', 'tsx'],
      stdio: 'ignore',
    });
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const started = new Promise<string>((resolve, reject) => {
      child.on('message', (m: { started?: string }) => m.started && resolve(m.started));
      child.once('exit', (code, signal) => reject(new Error(`the worker process exited (${signal ?? code}) before it started a job`)));
    });
    const q = ctx.queue({ name });
    await q.addJob(new Job('crash', { cargo: 'eggs' }));
    t.is(await withTimeout(started, 30_000, 'the worker process starting the job'), 'crash');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 1, processing: 1, failed: 0, paused: false });
    await sleep(20);
    const requeued = await q.jamGuard(0.01);
    t.deepEqual(requeued.map((j) => [j.id, j.payload]), [['crash', { cargo: 'eggs' }]]);
    const ran: unknown[] = [];
    q.process(async (job) => {
      ran.push(job.payload);
    });
    await until(() => q.countCommitted(), (n) => n === 0, 'q to drain (no committed IDs)');
    t.deepEqual(ran, [{ cargo: 'eggs' }]);
  });
});
