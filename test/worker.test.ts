import { Job, JobTimeoutError } from '../src/index.js';
import { forEachBackend, assertInvariant, until, sleep } from './helpers/backends.js';

forEachBackend((test, ctx) => {
  test('never more than `concurrency` handlers run at once', async (t) => {
    const q = ctx.queue({ concurrency: 3 });
    let active = 0;
    let peak = 0;
    let done = 0;
    q.process(async () => {
      peak = Math.max(peak, ++active);
      await sleep(5 + Math.random() * 10);
      active--;
      done++;
    });
    await q.addJobs(Array.from({ length: 30 }, (_, i) => new Job(i)));
    await until(() => done, (v) => v === 30, 'done to be 30');
    t.is(peak, 3);
  });

  test('two queue objects on one queue share the jobs and never run one twice', async (t) => {
    const name = ctx.name();
    const a = ctx.queue({ name, concurrency: 4 });
    const b = ctx.queue({ name, concurrency: 4 });
    const runs = new Map<string, number>();
    const handler = async (job: { id: string }) => {
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      await sleep(1);
    };
    a.process(handler);
    b.process(handler);
    await a.addJobs(Array.from({ length: 200 }, (_, i) => new Job(i)));
    await until(() => a.countCommitted(), (n) => n === 0, 'a to drain (no committed IDs)');
    t.is(runs.size, 200);
    t.true([...runs.values()].every((n) => n === 1));
  });

  test('a callback handler completes with done() and fails with done(err)', async (t) => {
    const q = ctx.queue();
    q.process((job, done) => {
      if (job.id === 'bad') done(new Error('bad truck'));
      else setTimeout(() => done(), 5);
    });
    await q.addJobs([new Job('good'), new Job('bad')]);
    await until(() => q.countCommitted(), (n) => n === 0, 'q to drain (no committed IDs)');
    const failed = await q.getFailed();
    t.deepEqual(failed.map((f) => [f.id, f.lastError?.message]), [['bad', 'bad truck']]);
  });

  test('a handler that throws synchronously fails its job and the worker goes on', async (t) => {
    const q = ctx.queue();
    let ran = 0;
    q.process((job) => {
      ran++;
      if (job.id === '1') throw new Error('sync boom');
      return undefined;
    });
    await q.addJobs([new Job(1), new Job(2)]);
    await until(() => ran, (v) => v === 2, 'ran to be 2');
    await until(() => q.countCommitted(), (n) => n === 0, 'q to drain (no committed IDs)');
    t.is((await q.getFailed())[0].lastError?.message, 'sync boom');
  });

  test('a job over its timeout fails with JobTimeoutError, and its late finish changes nothing', async (t) => {
    const q = ctx.queue({ jobTimeout: 50 });
    const failures: Error[] = [];
    q.on('failed', (_job, err) => failures.push(err));
    let finished = false;
    let aborted: unknown;
    q.process(async (job) => {
      job.signal.addEventListener('abort', () => (aborted = job.signal.reason));
      await sleep(200);
      finished = true;
    });
    await q.addJob(new Job('slow'));
    await until(() => failures.length, (v) => v === 1, 'failures.length to be 1');
    t.true(failures[0] instanceof JobTimeoutError);
    t.true(aborted instanceof JobTimeoutError);
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 1, paused: false });
    // the ID may be queued again while the old handler still runs; the late finish must not touch it
    t.is(await q.addJob(new Job('slow')), 'queued');
    await until(() => finished, Boolean, 'finished');
    await sleep(20);
    t.true((await q.countCommitted()) >= 1 || failures.length >= 2, 'the new run is not ended by the old one');
  });

  test('a timed-out handler keeps its slot until it really ends', async (t) => {
    const q = ctx.queue({ concurrency: 1, jobTimeout: 30 });
    let active = 0;
    let peak = 0;
    let ran = 0;
    q.process(async () => {
      peak = Math.max(peak, ++active);
      await sleep(100);
      active--;
      ran++;
    });
    await q.addJobs([new Job(1), new Job(2)]);
    await until(() => ran, (v) => v === 2, 'ran to be 2');
    t.is(peak, 1);
  });

  test('a job added to an idle queue starts at once, not after the blocking timeout', async (t) => {
    // a blocking timeout far longer than any stall of a busy machine: a start
    // within 10 s can only come from the wake-up, not from the wait running out
    const q = ctx.queue({ blockingTimeout: 30 });
    let started = 0;
    q.process(async () => {
      started = Date.now();
    });
    await q.addJob(new Job('warm-up')); // the first wait also opens the blocking connection
    await until(() => started, (v) => v > 0, 'the warm-up job to start');
    started = 0;
    await sleep(200); // the worker is now blocked on Redis
    const added = Date.now();
    await q.addJob(new Job('now'));
    await until(() => started, (v) => v > 0, { what: 'the job to start', timeout: 40_000 });
    t.true(started - added < 10_000, `started ${started - added} ms after the add: the blocked worker was not woken (blockingTimeout 30 s)`);
  });

  test('jobs queued while every slot is busy are taken as slots free', async (t) => {
    const q = ctx.queue({ concurrency: 2 });
    const order: string[] = [];
    q.process(async (job) => {
      await sleep(10);
      order.push(job.id);
    });
    await q.addJobs(Array.from({ length: 10 }, (_, i) => new Job(i)));
    await until(() => order.length, (v) => v === 10, 'order.length to be 10');
    t.deepEqual([...order].sort((a, b) => Number(a) - Number(b)), Array.from({ length: 10 }, (_, i) => String(i)));
    await assertInvariant(t, ctx.backend, q.keys);
  });

  test('a payload that is not JSON fails its job with a clear error; the worker goes on', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job('ok1'));
    await q.addJob(new Job('broken'));
    await ctx.backend.inspect.hSet(q.keys.payload, 'broken', '{not json');
    await q.addJob(new Job('ok2'));
    const ran: string[] = [];
    q.process(async (job) => {
      ran.push(job.id);
    });
    await until(() => q.countCommitted(), (n) => n === 0, 'q to drain (no committed IDs)');
    t.deepEqual(ran, ['ok1', 'ok2']);
    const [failed] = await q.getFailed();
    t.is(failed.id, 'broken');
    t.regex(failed.lastError?.message ?? '', new RegExp(`${q.keys.payload.replace(/[{}]/g, '\\$&')}.*not JSON`));
  });
  test('stopping ends once a result that cannot be written is given up (its lease recovers the job)', async (t) => {
    t.timeout(60_000);
    const q = ctx.queue();
    const errors: Error[] = [];
    q.on('error', (err) => errors.push(err));
    let release!: () => void;
    const started = new Promise<void>((resolve) => {
      q.process(() => {
        resolve();
        return new Promise<void>((r) => (release = r));
      });
    });
    await q.addJob(new Job('stuck'));
    await started;
    // foreign data where results are kept: every write of the result fails
    await ctx.backend.inspect.sendCommand(['SET', q.keys.results, 'not a hash']);
    release();
    const stopped = q.stopProcessing();
    await until(() => Promise.race([stopped.then(() => 'stopped'), sleep(500).then(() => 'stopping')]), (s) => s === 'stopped', { what: 'stopProcessing() to end', timeout: 45_000 });
    t.true(errors.length >= 8, `each failed write is reported (${errors.length})`);
    t.is(await q.countProcessing(), 1, 'the job is left to its lease');
  });
});
