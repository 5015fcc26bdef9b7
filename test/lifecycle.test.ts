/**
 * The job lifecycle: scheduled jobs, retries with backoff, stall limits,
 * expiry, progress and promote, on every backend, with the races between them.
 */
import test from 'ava';
import {
  InvalidOptionError,
  Job,
  JobExpiredError,
  UnrecoverableError,
  type ActiveJob,
} from '../src/index.js';
import { backoffDelay } from '../src/job-options.js';
import { forEachBackend, sleep, until } from './helpers/backends.js';
import { childWorker } from './helpers/child-worker.js';

test('backoff: a number is fixed; exponential doubles from its delay, capped by maxDelay; jitter only shortens', (t) => {
  t.is(backoffDelay(undefined, 3), 0);
  t.is(backoffDelay(250, 1), 250);
  t.is(backoffDelay(250, 5), 250);
  t.is(backoffDelay({ type: 'fixed', delay: 100 }, 4), 100);
  t.deepEqual([1, 2, 3, 4].map((a) => backoffDelay({ type: 'exponential', delay: 100 }, a)), [100, 200, 400, 800]);
  t.is(backoffDelay({ type: 'exponential', delay: 100, maxDelay: 300 }, 4), 300);
  for (let i = 0; i < 50; i++) {
    const d = backoffDelay({ type: 'exponential', delay: 100, jitter: 0.5 }, 2);
    t.true(d >= 100 && d <= 200, `jittered delay ${d} within [100, 200]`);
  }
});

for (const [label, options] of [
  ['a negative delay', { delay: -1 }],
  ['both delay and runAt', { delay: 10, runAt: Date.now() + 1000 }],
  ['attempts below 1', { attempts: 0 }],
  ['NaN attempts', { attempts: Number.NaN }],
  ['an invalid Date', { runAt: new Date('nope') }],
  ['an unknown backoff type', { backoff: { type: 'linear', delay: 10 } }],
  ['a jitter above 1', { backoff: { type: 'fixed', delay: 10, jitter: 2 } }],
  ['a timeout over the timer limit', { timeout: 2 ** 31 }],
  ['an unknown option', { attempt: 3 }],
] as const) {
  test(`a Job with ${label} throws InvalidOptionError when it is made`, (t) => {
    t.throws(() => new Job('x', undefined, options as never), { instanceOf: InvalidOptionError });
  });
}

forEachBackend((test, ctx) => {
  test('a delayed job is scheduled, then starts after its due time and not before', async (t) => {
    const q = ctx.queue();
    const started = new Map<string, number>();
    const addedAt = Date.now();
    t.is(await q.addJob(new Job('later', undefined, { delay: 400 })), 'scheduled');
    t.is(await q.addJob(new Job('now')), 'queued');
    // read before the worker starts: 'now' may otherwise be done already
    t.like(await q.stats(), { scheduled: 1, committed: 2 });
    q.process(async (job) => {
      started.set(job.id, Date.now());
    });
    await until(() => started.has('later'), Boolean, { what: 'the delayed job to start', timeout: 10_000 });
    t.true(started.get('later')! - addedAt >= 390, `started ${started.get('later')! - addedAt} ms after the add, due at 400`);
    t.true(started.get('now')! < started.get('later')!);
    await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'the queue to empty', timeout: 10_000 });
  });

  test('an idle worker wakes when the earliest job falls due, well before its blocking timeout, without polling', async (t) => {
    const q = ctx.queue({ blockingTimeout: 5 });
    const started: number[] = [];
    q.process(async () => {
      started.push(Date.now());
    });
    await q.addJobs(Array.from({ length: 200 }, (_, i) => new Job(`far-${i}`, undefined, { delay: 3_600_000 })));
    await sleep(200); // the worker is idle, blocked until the far jobs or an add
    const due = Date.now() + 600;
    await q.addJob(new Job('soon', undefined, { runAt: due }));
    await until(() => started.length === 1, Boolean, { what: 'the job due soon to start', timeout: 10_000 });
    // A worker that waited out its 5 s blocking timeout would start it ~4.4 s late.
    t.true(started[0] - due < 3000, `started ${started[0] - due} ms after it was due`);
    t.true(started[0] >= due - 10, 'not before it was due');
    t.is(await q.countScheduled(), 200);
  });

  test('adding a scheduled ID leaves it as it is; promote runs it now', async (t) => {
    const q = ctx.queue();
    t.is(await q.addJob(new Job('s', { v: 1 }, { delay: 3_600_000 })), 'scheduled');
    const [before] = await ctx.backend.inspect.zRangeWithScores(q.keys.scheduled, 0, -1);
    t.is(await q.addJob(new Job('s', { v: 2 })), 'committed');
    t.deepEqual(await ctx.backend.inspect.zRangeWithScores(q.keys.scheduled, 0, -1), [before], 'same due time');
    const ran: unknown[] = [];
    q.process(async (job) => {
      ran.push(job.payload);
    });
    t.true(await q.promote('s'));
    await until(() => ran.length === 1, Boolean, { what: 'the promoted job to run', timeout: 10_000 });
    t.deepEqual(ran, [{ v: 1 }], 'with the payload it was added with');
    t.false(await q.promote('s'), 'not scheduled any more');
  });

  test('a failed run with attempts left is retried after its backoff with its payload; a job that then completes leaves no failure record', async (t) => {
    const q = ctx.queue();
    const attempts: number[] = [];
    const retrying: Array<[number, number, string]> = [];
    q.on('retrying', (job, err, delay) => retrying.push([job.attempt, delay, err.message]));
    const completed: string[] = [];
    q.on('completed', (job) => completed.push(job.id));
    let lastStart = 0;
    const gaps: number[] = [];
    q.process(async (job: ActiveJob) => {
      if (lastStart) gaps.push(Date.now() - lastStart);
      lastStart = Date.now();
      attempts.push(job.attempt);
      t.deepEqual(job.payload, { cargo: 'eggs' });
      if (job.attempt < 3) throw new Error(`flat tyre ${job.attempt}`);
    });
    await q.addJob(new Job('r', { cargo: 'eggs' }, { attempts: 3, backoff: 200 }));
    await until(() => completed.length === 1, Boolean, { what: 'the third attempt to complete', timeout: 15_000 });
    t.deepEqual(attempts, [1, 2, 3]);
    t.deepEqual(retrying, [[1, 200, 'flat tyre 1'], [2, 200, 'flat tyre 2']]);
    t.true(gaps.every((g) => g >= 190), `retries waited their backoff: ${gaps.join(', ')} ms`);
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 0, paused: false });
    t.is(await ctx.backend.inspect.lLen(q.keys.errors), 2, 'each failed run is in the error log');
    t.is(await ctx.backend.inspect.exists(q.keys.attempts), 0, 'nothing kept for a finished job');
  });

  test('a job whose attempts are used up fails for good once, with one failure record', async (t) => {
    const q = ctx.queue();
    const failed: string[] = [];
    const retried: number[] = [];
    q.on('failed', (job, err) => failed.push(`${job.id}@${job.attempt}: ${err.message}`));
    q.on('retrying', (job) => retried.push(job.attempt));
    q.process(async () => {
      throw new Error('no fuel');
    });
    await q.addJob(new Job('f', { n: 1 }, { attempts: 2 }));
    await until(() => failed.length === 1, Boolean, { what: 'the job to fail for good', timeout: 10_000 });
    await sleep(100);
    t.deepEqual(failed, ['f@2: no fuel']);
    t.deepEqual(retried, [1]);
    const [record] = await q.getFailed();
    t.is(record.id, 'f');
    t.is(record.count, 1);
    t.is(record.lastError?.message, 'no fuel');
    t.deepEqual(record.payload, { n: 1 });
    t.is(await q.addJob(new Job('f')), 'queued', 'adding it again starts it afresh');
  });

  test('a handler that throws UnrecoverableError fails its job for good at once', async (t) => {
    const q = ctx.queue();
    const failed: Error[] = [];
    q.on('failed', (_job, err) => failed.push(err));
    let runs = 0;
    q.process(async () => {
      runs++;
      throw new UnrecoverableError('the truck is scrap');
    });
    await q.addJob(new Job('u', undefined, { attempts: 5 }));
    await until(() => failed.length === 1, Boolean, { what: 'the job to fail', timeout: 10_000 });
    await sleep(100);
    t.is(runs, 1);
    t.true(failed[0] instanceof UnrecoverableError);
  });

  test('backoffStrategy computes the retry delay in the worker; a timed-out run is retried too', async (t) => {
    const calls: Array<[number, string]> = [];
    const q = ctx.queue({
      backoffStrategy: (attempt, err) => {
        calls.push([attempt, err.name]);
        return 50 * attempt;
      },
    });
    const retrying: number[] = [];
    q.on('retrying', (_job, _err, delay) => retrying.push(delay));
    const completed: number[] = [];
    q.on('completed', (job) => completed.push(job.attempt));
    q.process(async (job) => {
      if (job.attempt === 1) await sleep(400); // over its 100 ms timeout
      if (job.attempt === 2) throw new Error('again');
    });
    await q.addJob(new Job('b', undefined, { attempts: 3, timeout: 100 }));
    await until(() => completed.length === 1, Boolean, { what: 'the third attempt to complete', timeout: 10_000 });
    t.deepEqual(calls, [[1, 'JobTimeoutError'], [2, 'Error']]);
    t.deepEqual(retrying, [50, 100]);
    t.deepEqual(completed, [3]);
  });

  test('a job not started by its expiresAt fails for good with JobExpiredError and never runs', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job('stale', undefined, { expiresAt: Date.now() - 1000, attempts: 3 }));
    const failed: Error[] = [];
    q.on('failed', (_job, err) => failed.push(err));
    let ran = 0;
    q.process(async () => {
      ran++;
    });
    await until(() => failed.length === 1, Boolean, { what: 'the expired job to fail', timeout: 10_000 });
    t.true(failed[0] instanceof JobExpiredError);
    t.is(ran, 0);
    t.is((await q.getFailed())[0].lastError?.name, 'JobExpiredError');
  });

  test('defaultJobOptions apply to every job unless the job gives its own', async (t) => {
    const q = ctx.queue({ defaultJobOptions: { attempts: 2, delay: 3_600_000 } });
    t.is(await q.addJob(new Job('d1')), 'scheduled');
    t.is(await q.addJob(new Job('d2', undefined, { delay: 0 })), 'queued', "the job's own delay wins");
    const stored = await ctx.backend.inspect.hGetAll(q.keys.options);
    const { addedAt, ...kept } = JSON.parse(stored.d2) as { addedAt: number };
    t.deepEqual(kept, { attempts: 2 });
    t.true(Math.abs(addedAt - Date.now()) < 60_000, 'kept with when it was added');
    t.like(await q.getJob('d2'), { state: 'queued', options: { attempts: 2 }, addedAt });
  });

  test('a job without options keeps nothing but its ID in Redis', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job('plain'));
    for (const k of ['options', 'attempts', 'stalls', 'progress', 'scheduled', 'payload'] as const) {
      t.is(await ctx.backend.inspect.exists(q.keys[k]), 0, `no ${k} key`);
    }
  });

  test('updateProgress stores progress with the running job and emits progress; it goes when the run ends', async (t) => {
    const q = ctx.queue();
    const heard: unknown[] = [];
    q.on('progress', (job, value) => heard.push([job.id, value]));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    q.process(async (job) => {
      await job.updateProgress(40);
      await job.updateProgress({ step: 'loading', pct: 80 });
      await gate;
    });
    await q.addJob(new Job('p'));
    await until(() => heard.length === 2, Boolean, { what: 'two progress events', timeout: 10_000 });
    t.deepEqual(heard, [['p', 40], ['p', { step: 'loading', pct: 80 }]]);
    t.deepEqual(await ctx.backend.inspect.hGetAll(q.keys.progress), { p: '{"step":"loading","pct":80}' });
    release();
    await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'the job to finish', timeout: 10_000 });
    t.is(await ctx.backend.inspect.exists(q.keys.progress), 0);
  });

  test('a retry that falls due while the same ID is added again runs once: the add says committed', async (t) => {
    const q = ctx.queue();
    const starts: number[] = [];
    q.process(async (job) => {
      starts.push(job.attempt);
      if (job.attempt === 1) throw new Error('first try fails');
    });
    await q.addJob(new Job('race', undefined, { attempts: 2, backoff: 2000 }));
    await until(async () => (await q.countScheduled()) === 1, Boolean, { what: 'the retry to be scheduled', timeout: 10_000 });
    t.is(await q.addJob(new Job('race')), 'committed');
    await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'the retry to complete', timeout: 10_000 });
    await sleep(200);
    t.deepEqual(starts, [1, 2]);
  });

  test('a claim nobody runs goes back to the queue when its lease lapses; the next stall over stallLimit fails it for good', async (t) => {
    const q = ctx.queue({ stallTimeout: 600 });
    const stalled: string[][] = [];
    q.on('stalled', (ids) => stalled.push(ids));
    await q.addJob(new Job('s1'));
    await q.addJob(new Job('s0', undefined, { stallLimit: 0 }));
    // Two claims whose workers are gone at once (their leases: 300 ms).
    await q.run('claim', ['2', '0', '300'], 'test: claims of a dead worker');
    const ran: Array<[string, number]> = [];
    q.process(async (job) => {
      ran.push([job.id, job.attempt]);
    });
    await until(() => ran.length === 1 && stalled.flat().length === 2, Boolean, { what: 's1 to run again and both stalls to be seen', timeout: 10_000 });
    t.deepEqual(ran, [['s1', 1]], 'a stall is not a failed attempt');
    await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'the queue to empty', timeout: 10_000 });
    const records = await q.getFailed();
    t.deepEqual(records.map((r) => [r.id, r.lastError?.name]), [['s0', 'StalledError']]);
  });

  test('a worker that is paused past its lease loses its run: another runs the job, the late result changes nothing and the late worker is told', async (t) => {
    const name = ctx.name();
    const w = childWorker(ctx.backend.redis, name, { stallTimeout: 600 }, 1500);
    t.teardown(w.kill);
    const q = ctx.queue({ name, stallTimeout: 600 });
    await until(() => w.seen.some((m) => m.ready), Boolean, { what: 'the child worker to start', timeout: 20_000 });
    await q.addJob(new Job('x'));
    await until(() => w.has('started', 'x'), Boolean, { what: 'the child to start the job', timeout: 10_000 });
    w.child.kill('SIGSTOP');
    const ran: string[] = [];
    q.process(async (job) => {
      ran.push(job.id);
      await sleep(2500);
    });
    await until(() => ran.length === 1, Boolean, { what: 'the stalled job to run here', timeout: 10_000 });
    w.child.kill('SIGCONT');
    await until(() => w.has('ended', 'x'), Boolean, { what: 'the late run to end', timeout: 10_000 });
    await until(() => w.has('aborted', 'x'), Boolean, { what: "the late worker's signal to abort", timeout: 10_000 });
    t.false(w.has('completed', 'x'), 'the late result is not reported as completed');
    t.is(await q.countProcessing(), 1, 'the new run still holds the job');
    await until(async () => (await q.countCommitted()) === 0, Boolean, { what: 'the new run to complete', timeout: 15_000 });
  });
});
