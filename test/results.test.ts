/**
 * Results: kept results, waitForResult (no lost wake-up, one run's outcome for
 * every waiter, removal and timeout), errors across processes, plugin hooks.
 */
import { randomBytes } from 'node:crypto';
import { ActiveJob, Job, JobRemovedError, RemoteJobError, WaitTimeoutError, InvalidOptionError, QueueClosedError } from '../src/index.js';
import { forEachBackend, sleep, until } from './helpers/backends.js';

class DbError extends Error {
  override name = 'DbError';
  constructor(
    message: string,
    readonly code: string,
    readonly table: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

forEachBackend((test, ctx) => {
  // serial: ava runs serial tests first, so no other test's reader is blocked on this server
  test.serial('many waiters on one ID all get the result of its one run', async (t) => {
    const q = ctx.queue({ jobTimeout: 0 });
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    q.process(async (job) => {
      runs++;
      await gate;
      return { id: job.id, doubled: (job.payload as number) * 2 };
    });
    const producers = Array.from({ length: 5 }, () => ctx.queue({ name: q.name }));
    t.is(await producers[0].addJob(new Job('x', 21)), 'queued');
    await until(() => runs, (n) => n === 1, { what: 'the run to start', timeout: 10_000 });
    const outcomes = await Promise.all(producers.map((p) => p.addJob(new Job('x', 21))));
    t.deepEqual(outcomes, Array(5).fill('processing'));
    const waits = producers.flatMap((p) => Array.from({ length: 10 }, () => p.waitForResult('x', { timeout: 20_000 })));
    for (const w of waits) w.catch(() => undefined);
    await sleep(100);
    // 50 waits share one reader per queue object: no more blocked clients than queue objects
    const blocked = String(await ctx.backend.inspect.sendCommand(['CLIENT', 'LIST'])).split('\n').filter((l) => /cmd=xread/.test(l)).length;
    t.true(blocked <= producers.length, `${blocked} clients blocked in XREAD`);
    release();
    const results = await Promise.all(waits);
    t.is(runs, 1);
    t.deepEqual(new Set(results.map((r) => JSON.stringify(r))), new Set([JSON.stringify({ id: 'x', doubled: 42 })]));
  });

  test('a result that lands between the add and the wait is not missed', async (t) => {
    const q = ctx.queue();
    q.process(async (job) => `done ${job.id}`);
    for (let i = 0; i < 20; i++) {
      await q.addJob(new Job(`j${i}`));
      if (i % 2) await sleep(30); // the run is over before the wait begins
      t.is(await q.waitForResult(`j${i}`, { timeout: 10_000 }), `done j${i}`);
    }
  });

  test('a removed job rejects its waiters with JobRemovedError; an unknown ID at once', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job('later', undefined, { delay: 60_000 }));
    const waiting = q.waitForResult('later');
    await sleep(50);
    await q.removeJob('later');
    await t.throwsAsync(waiting, { instanceOf: JobRemovedError });
    await t.throwsAsync(q.waitForResult('never'), { instanceOf: JobRemovedError });
    await q.addJobs([new Job('d1', undefined, { delay: 60_000 }), new Job('d2')]);
    const drained = [q.waitForResult('d1'), q.waitForResult('d2')];
    await sleep(50);
    await q.drain();
    for (const w of drained) await t.throwsAsync(w, { instanceOf: JobRemovedError });
    await q.addJob(new Job('o'));
    const obliterated = q.waitForResult('o');
    await sleep(50);
    await q.obliterate();
    await t.throwsAsync(obliterated, { instanceOf: JobRemovedError });
  });

  test('a wait times out with WaitTimeoutError; bad options and a closed queue are refused', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job('slow', undefined, { delay: 60_000 }));
    const started = Date.now();
    await t.throwsAsync(q.waitForResult('slow', { timeout: 300 }), { instanceOf: WaitTimeoutError });
    t.true(Date.now() - started >= 290);
    await t.throwsAsync(q.waitForResult('slow', { timeout: -1 }), { instanceOf: InvalidOptionError });
    await t.throwsAsync(q.waitForResult('slow', { tiemout: 5 } as never), { instanceOf: InvalidOptionError });
    const pending = q.waitForResult('slow');
    await sleep(50);
    await q.close();
    await t.throwsAsync(pending, { instanceOf: QueueClosedError });
    await t.throwsAsync(q.waitForResult('slow'), { instanceOf: QueueClosedError });
  });

  test('waitForResult needs kept results', async (t) => {
    const q = ctx.queue({ keepResults: false });
    // connected first: a queue closed while its first connection is still being made can leave that connection behind
    await q.countQueued();
    await t.throwsAsync(q.waitForResult('a'), { instanceOf: InvalidOptionError });
  });

  test("a handler's error reaches the waiter as RemoteJobError with its name, message, code, cause and data", async (t) => {
    const q = ctx.queue();
    q.process(async () => {
      throw new DbError('insert failed', 'E_DUP', 'users', { cause: Object.assign(new TypeError('bad row'), { code: 'E_ROW' }) });
    });
    await q.addJob(new Job('f', undefined, { attempts: 2, backoff: 0 }));
    const err = await t.throwsAsync(q.waitForResult('f', { timeout: 15_000 }), { instanceOf: RemoteJobError });
    t.is(err!.message, 'insert failed');
    t.is(err!.jobId, 'f');
    t.is(err!.remote.name, 'DbError');
    t.is(err!.remote.code, 'E_DUP');
    t.deepEqual(err!.remote.data, { table: 'users' });
    t.regex(String(err!.remote.stack), /insert failed/);
    t.like(err!.remote.cause as object, { name: 'TypeError', message: 'bad row', code: 'E_ROW' });
    // the kept error answers a later wait, and getJob shows it as failed
    const again = await t.throwsAsync(q.waitForResult('f'), { instanceOf: RemoteJobError });
    t.is(again!.remote.code, 'E_DUP');
    t.like((await q.getJob('f'))?.lastError, { name: 'DbError', code: 'E_DUP' });
  });

  test('getJob shows a kept result as completed; keepResults count and age trim', async (t) => {
    const q = ctx.queue({ keepResults: { count: 3 } });
    q.process(async (job) => ({ n: job.payload }));
    for (let i = 0; i < 6; i++) {
      await q.addJob(new Job(`c${i}`, i));
      t.deepEqual(await q.waitForResult(`c${i}`, { timeout: 10_000 }), { n: i });
    }
    const info = await q.getJob('c5');
    t.is(info?.state, 'completed');
    t.deepEqual(info?.result, { n: 5 });
    t.true(typeof info?.finishedAt === 'number');
    t.is(await q.getJob('c0'), null, 'past the count: trimmed');
    t.is(Number(await ctx.backend.inspect.zCard(q.keys.resultorder)), 3);
    t.deepEqual((await ctx.backend.inspect.hGetAll(q.keys.results)).c4, 'r{"n":4}');
    // undefined is kept as null
    const u = ctx.queue({ keepResults: { age: 1 } });
    u.process(async () => undefined);
    await u.addJob(new Job('u'));
    t.is(await u.waitForResult('u', { timeout: 10_000 }), null);
    await sleep(1200);
    await u.addJob(new Job('v'));
    await u.waitForResult('v', { timeout: 10_000 });
    t.is(await u.getJob('u'), null, 'past its age: trimmed by a later completion');
  });

  test('with events: false, waitForResult polls the kept result', async (t) => {
    const q = ctx.queue({ events: false });
    q.process(async (job) => {
      await sleep(150);
      return job.id;
    });
    await q.addJob(new Job('p'));
    t.is(await q.waitForResult('p', { timeout: 10_000 }), 'p');
    t.is(await ctx.backend.inspect.exists(q.keys.events), 0);
  });

  test('results are kept encrypted with encryption', async (t) => {
    const q = ctx.queue({ encryption: { keys: { k: randomBytes(32) }, current: 'k' } });
    q.process(async () => ({ secret: 'plans' }));
    await q.addJob(new Job('s'));
    t.deepEqual(await q.waitForResult('s', { timeout: 10_000 }), { secret: 'plans' });
    const stored = (await ctx.backend.inspect.hGetAll(q.keys.results)).s;
    t.false(stored.includes('plans'));
  });

  test('plugin hooks are called where things happen; a throwing hook is an error event and changes nothing', async (t) => {
    const calls: string[] = [];
    const q = ctx.queue({
      plugins: [
        {
          onJobAdded: (job, outcome) => void calls.push(`added ${job.id} ${outcome}`),
          onJobStart: (job) => void calls.push(`start ${job.id}`),
          onJobProgress: (job, v) => void calls.push(`progress ${job.id} ${String(v)}`),
          onJobComplete: (job, r) => void calls.push(`complete ${job.id} ${String(r)}`),
          onJobRetry: (job, _e, delay) => void calls.push(`retry ${job.id} ${delay}`),
          onJobFail: (job, e) => void calls.push(`fail ${job.id} ${e.message}`),
        },
        {
          onJobStart: () => {
            throw new Error('hook threw');
          },
          onJobComplete: async () => Promise.reject(new Error('hook rejected')),
        },
      ],
    });
    const errors: string[] = [];
    q.on('error', (e) => errors.push(e.message));
    q.process(async (job: ActiveJob) => {
      if (job.id === 'bad') throw new Error('boom');
      await job.updateProgress(5);
      return 'r';
    });
    await q.addJob(new Job('ok'));
    t.is(await q.waitForResult('ok', { timeout: 10_000 }), 'r', 'the job is unchanged by the hooks that threw');
    await q.addJob(new Job('bad', undefined, { attempts: 2 }));
    await t.throwsAsync(q.waitForResult('bad', { timeout: 10_000 }), { instanceOf: RemoteJobError });
    await until(() => calls.length, (n) => n >= 9, { what: 'every hook call', timeout: 5000 });
    t.deepEqual(calls.filter((c) => c.endsWith('ok') || c.includes(' ok ')), ['added ok queued', 'start ok', 'progress ok 5', 'complete ok r']);
    t.deepEqual(calls.filter((c) => c.includes('bad')), ['added bad queued', 'start bad', 'retry bad 0', 'start bad', 'fail bad boom']);
    t.true(errors.includes('hook threw') && errors.includes('hook rejected'));
  });
});
