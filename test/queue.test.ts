import sinon from 'sinon';
import Convoy, { Job, Queue, createQueue, InvalidArgumentError, InvalidOptionError, InvalidPayloadError, QueueClosedError } from '../src/index.js';
import { BUSY_MARGIN_MS, forEachBackend, assertInvariant, until, sleep } from './helpers/backends.js';

forEachBackend((test, ctx) => {
  test('the default export creates queues and jobs in the original shape', async (t) => {
    t.is(Convoy.createQueue, createQueue);
    t.is(Convoy.Job, Job);
    const q = Convoy.createQueue(ctx.name(), { redis: ctx.backend.redis });
    t.true(q instanceof Queue);
    t.is(await q.addJob(new Convoy.Job(1)), 'queued');
    await q.close();
  });

  test('an ID is queued once: a second add while it waits says committed', async (t) => {
    const q = ctx.queue();
    t.is(await q.addJob(new Job(1)), 'queued');
    t.is(await q.addJob(new Job(1)), 'committed');
    t.is(await q.addJob(new Job('1')), 'committed');
    t.deepEqual(await q.stats(), { queued: 1, scheduled: 0, committed: 1, processing: 0, failed: 0, paused: false });
    t.deepEqual(await ctx.backend.inspect.lRange(q.keys.queued, 0, -1), ['1']);
  });

  test('adds in one tick each get their own outcome, duplicates within the tick included', async (t) => {
    const q = ctx.queue();
    const outcomes = await Promise.all(['a', 'b', 'a', 'c', 'b'].map((id) => q.addJob(new Job(id))));
    t.deepEqual(outcomes, ['queued', 'queued', 'committed', 'queued', 'committed']);
    t.deepEqual(await ctx.backend.inspect.lRange(q.keys.queued, 0, -1), ['a', 'b', 'c']);
  });

  test('10 queue objects adding the same 20 IDs at once queue 20', async (t) => {
    const name = ctx.name();
    const queues = Array.from({ length: 10 }, () => ctx.queue({ name }));
    const outcomes = (await Promise.all(queues.map((q) => Promise.all(Array.from({ length: 20 }, (_, i) => q.addJob(new Job(i))))))).flat();
    t.is(outcomes.filter((o) => o === 'queued').length, 20);
    t.is(outcomes.filter((o) => o === 'committed').length, 180);
    t.is(await queues[0].countQueued(), 20);
    t.is(await queues[0].countCommitted(), 20);
    await assertInvariant(t, ctx.backend, queues[0].keys);
  });

  test('addJobs publishes in bulk and reports each outcome', async (t) => {
    const q = ctx.queue();
    await q.addJob(new Job(3));
    const outcomes = await q.addJobs([1, 2, 3, 2].map((i) => new Job(i)));
    t.deepEqual(outcomes, ['queued', 'queued', 'committed', 'committed']);
    t.is(await q.countQueued(), 3);
    const many = await q.addJobs(Array.from({ length: 2500 }, (_, i) => new Job(`m${i}`)));
    t.is(many.length, 2500);
    t.true(many.every((o) => o === 'queued'));
    t.is(await q.countQueued(), 2503);
  });

  test('one bad job makes addJobs reject and write nothing', async (t) => {
    const q = ctx.queue();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await t.throwsAsync(q.addJobs([new Job(1), new Job(2, circular)]), { instanceOf: InvalidPayloadError });
    await t.throwsAsync(q.addJobs([new Job(1), { id: '2' } as never]), { instanceOf: InvalidArgumentError, message: /jobs\[1\].*got an object/ });
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 0, paused: false });
  });

  test('a payload that cannot be serialised rejects addJob and writes nothing', async (t) => {
    const q = ctx.queue();
    await t.throwsAsync(q.addJob(new Job(1, { big: 10n })), { instanceOf: InvalidPayloadError, message: /bigint/ });
    t.is(await ctx.backend.inspect.exists([q.keys.committed, q.keys.queued, q.keys.payload]), 0);
  });

  test('addJob takes a Job, and says so', async (t) => {
    const q = ctx.queue();
    await t.throwsAsync(q.addJob(7 as never), { instanceOf: InvalidArgumentError, message: /new Job.*got 7$/ });
  });

  test('a payload reaches the worker and leaves Redis with the finished job', async (t) => {
    const q = ctx.queue<{ wheels: number; name: string }>();
    await q.addJob(new Job('truck', { wheels: 18, name: 'Bigfoot ✓' }));
    t.is(String(await ctx.backend.inspect.sendCommand(['HGET', q.keys.payload, 'truck'])), '{"wheels":18,"name":"Bigfoot ✓"}');
    const seen: unknown[] = [];
    q.process(async (job) => {
      seen.push(job.payload);
    });
    await until(() => q.countCommitted(), (n) => n === 0, 'q to drain (no committed IDs)');
    t.deepEqual(seen, [{ wheels: 18, name: 'Bigfoot ✓' }]);
    t.is(await ctx.backend.inspect.exists(q.keys.payload), 0);
  });

  test('a finished ID can be queued again and runs again', async (t) => {
    const q = ctx.queue();
    const runs: string[] = [];
    q.process(async (job) => {
      runs.push(job.id);
    });
    t.is(await q.addJob(new Job('x')), 'queued');
    await until(() => runs.length, (v) => v === 1, 'runs.length to be 1');
    await until(() => q.countCommitted(), (n) => n === 0, 'q to drain (no committed IDs)');
    t.is(await q.addJob(new Job('x')), 'queued');
    await until(() => runs.length, (v) => v === 2, 'runs.length to be 2');
    t.deepEqual(runs, ['x', 'x']);
  });

  test("an add while the ID is processing says 'processing' and, by default, does not run it again", async (t) => {
    const q = ctx.queue();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let runs = 0;
    q.process(async () => {
      runs++;
      await gate;
    });
    await q.addJob(new Job('p'));
    await until(() => runs, (v) => v === 1, 'runs to be 1');
    t.is(await q.addJob(new Job('p')), 'processing');
    await assertInvariant(t, ctx.backend, q.keys);
    release();
    await until(() => q.countCommitted(), (n) => n === 0, 'q to drain (no committed IDs)');
    await sleep(50);
    t.is(runs, 1);
  });

  test("with duplicateWhileProcessing 'rerun', adds during a run make it run exactly once more", async (t) => {
    const q = ctx.queue<{ n: number }>({ duplicateWhileProcessing: 'rerun' });
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const payloads: unknown[] = [];
    q.process(async (job) => {
      payloads.push(job.payload);
      await gate;
    });
    await q.addJob(new Job('r', { n: 1 }));
    await until(() => payloads.length, (v) => v === 1, 'payloads.length to be 1');
    t.deepEqual(await Promise.all([2, 3, 4].map((n) => q.addJob(new Job('r', { n })))), ['processing', 'processing', 'processing']);
    const first = release;
    gate = Promise.resolve();
    first();
    await until(() => q.countCommitted(), (n) => n === 0, 'q to drain (no committed IDs)');
    await sleep(50);
    t.deepEqual(payloads, [{ n: 1 }, { n: 4 }], 'ran twice, the rerun with the newest payload');
    t.is(await ctx.backend.inspect.exists(q.keys.rerun), 0);
  });

  test('a failed job leaves committed, counts in the failed zset and keeps its error and payload', async (t) => {
    const q = ctx.queue();
    const failed = sinon.spy();
    q.on('failed', failed);
    q.process(async (job) => {
      throw new Error(`no fuel for ${job.id}`);
    });
    await q.addJob(new Job('f', { tank: 'empty' }));
    await until(() => q.countFailed(), (n) => n === 1, 'q.countFailed() to be 1');
    await until(() => failed.callCount, (n) => n === 1, 'failed to be called once');
    t.is(failed.firstCall.args[0].id, 'f');
    t.is(failed.firstCall.args[1].message, 'no fuel for f');
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 1, paused: false });
    const [record] = await q.getFailed();
    t.is(record.id, 'f');
    t.is(record.count, 1);
    t.deepEqual(record.payload, { tank: 'empty' });
    t.is(record.lastError?.message, 'no fuel for f');
    t.regex(record.lastError?.stack ?? '', /no fuel/);
    t.true(Math.abs((record.lastError?.time ?? 0) - Date.now()) < 10_000);
    const log = await ctx.backend.inspect.lRange(q.keys.errors, 0, -1);
    t.is(log.length, 1);
    t.is(JSON.parse(log[0]).id, 'f');
  });

  test('adding a failed ID again starts its failure record afresh', async (t) => {
    const q = ctx.queue();
    q.process(async () => {
      throw new Error('again');
    });
    for (let n = 1; n <= 3; n++) {
      await q.addJob(new Job('g'));
      await until(async () => ({ committed: await q.countCommitted(), failed: (await q.getFailed()).length }), (s) => s.committed === 0 && s.failed === 1, `run ${n} to fail`);
      // adding a failed ID again starts it afresh
      t.is((await q.getFailed())[0].count, 1);
    }
  });

  test('removeFailed forgets failure records and their payloads', async (t) => {
    const q = ctx.queue();
    q.process(async () => {
      throw new Error('x');
    });
    await q.addJobs([new Job('a', 1), new Job('b', 2)]);
    await until(() => q.countFailed(), (n) => n === 2, 'q.countFailed() to be 2');
    t.is(await q.removeFailed('a', 'nope'), 1);
    t.deepEqual((await q.getFailed()).map((f) => f.id), ['b']);
    t.is(Number(await ctx.backend.inspect.sendCommand(['HEXISTS', q.keys.payload, 'a'])), 0);
    t.is(await q.removeFailed('b'), 1);
    t.is(await ctx.backend.inspect.exists([q.keys.failed, q.keys.failinfo, q.keys.payload]), 0);
  });

  test('trimFailed forgets failure records older than a given age, and keeps newer ones', async (t) => {
    const q = ctx.queue();
    q.process(async () => {
      throw new Error('x');
    });
    await q.addJobs(['old1', 'old2', 'old3'].map((id) => new Job(id, { id })));
    await until(() => q.countFailed(), (n) => n === 3, 'q.countFailed() to be 3');
    await q.stopProcessing();
    // age two of the records by hand: their last failure was an hour ago
    const hourAgo = Date.now() - 3_600_000;
    for (const id of ['old1', 'old2']) {
      await ctx.backend.inspect.hSet(q.keys.failinfo, id, JSON.stringify({ message: 'x', time: hourAgo }));
    }
    t.is(await q.trimFailed({ olderThan: 600 }), 2);
    t.deepEqual((await q.getFailed()).map((f) => f.id), ['old3']);
    t.is(Number(await ctx.backend.inspect.sendCommand(['HLEN', q.keys.payload])), 1, 'payloads of trimmed IDs go too');
    t.is(await q.trimFailed({ olderThan: 0 }), 1);
    t.is(await q.countFailed(), 0);
    await t.throwsAsync(q.trimFailed({ olderThan: -1 }), { instanceOf: InvalidOptionError, message: /got -1$/ });
  });

  test('the error log is bounded and expires', async (t) => {
    const q = ctx.queue({ errorLogSize: 3, errorLogTtl: 100 });
    q.process(async (job) => {
      throw new Error(`e${job.id}`);
    });
    await q.addJobs(Array.from({ length: 8 }, (_, i) => new Job(i)));
    await until(() => q.countFailed(), (n) => n === 8, 'q.countFailed() to be 8');
    t.is(await ctx.backend.inspect.lLen(q.keys.errors), 3);
    const ttl = Number(await ctx.backend.inspect.sendCommand(['TTL', q.keys.errors]));
    t.true(ttl > 0 && ttl <= 100);
  });

  test("'completed' fires with the handler's result", async (t) => {
    const q = ctx.queue();
    const completed = sinon.spy();
    q.on('completed', completed);
    q.process(async (job) => `done ${job.id}`);
    await q.addJob(new Job(5));
    await until(() => completed.callCount, (n) => n === 1, 'completed to be called once');
    t.is(completed.firstCall.args[0].id, '5');
    t.is(completed.firstCall.args[1], 'done 5');
  });

  test('stats agree with the single counts', async (t) => {
    const q = ctx.queue();
    await q.addJobs([1, 2, 3].map((i) => new Job(i)));
    const stats = await q.stats();
    t.deepEqual(stats, {
      queued: await q.countQueued(),
      scheduled: await q.countScheduled(),
      committed: await q.countCommitted(),
      processing: await q.countProcessing(),
      failed: await q.countFailed(),
      paused: await q.isPaused(),
    });
    t.is(stats.queued, 3);
  });

  test('every key of a queue shares one hash tag under the prefix', async (t) => {
    const q = ctx.queue({ prefix: 'fleet', duplicateWhileProcessing: 'rerun' });
    await q.addJob(new Job(1, { p: 1 }));
    for (const key of Object.values(q.keys)) t.true(key.startsWith(`fleet:{${q.name}}:`), key);
  });

  test('a closed queue refuses new work', async (t) => {
    const q = ctx.queue();
    await q.close();
    await t.throwsAsync(q.addJob(new Job(1)), { instanceOf: QueueClosedError });
    t.throws(() => q.process(async () => undefined), { instanceOf: QueueClosedError });
    await t.notThrowsAsync(q.close());
  });

  test('close waits for running jobs, and with a timeout hands them back to the head of the queue', async (t) => {
    const q = ctx.queue({ jobTimeout: 0 });
    let finished = 0;
    q.process(async () => {
      await sleep(150);
      finished++;
    });
    await q.addJob(new Job(1));
    await until(() => q.countProcessing(), (n) => n === 1, 'q.countProcessing() to be 1');
    await q.close();
    t.is(finished, 1);
    t.is(await ctx.backend.inspect.sCard(q.keys.committed), 0);

    const name = ctx.name();
    const slow = ctx.queue({ name, jobTimeout: 0 });
    let aborted = false;
    slow.process(async (job) => {
      job.signal.addEventListener('abort', () => (aborted = true));
      // far longer than close's bound below, so waiting for it would show; unref'd,
      // so it does not hold the test process after the test
      await new Promise((r) => setTimeout(r, 20_000).unref());
    });
    await slow.addJob(new Job(2));
    await until(() => slow.countProcessing(), (n) => n === 1, 'slow.countProcessing() to be 1');
    await slow.addJob(new Job(3));
    const started = Date.now();
    await slow.close({ timeout: 100 });
    const took = Date.now() - started;
    t.true(took < 100 + BUSY_MARGIN_MS, `close({ timeout: 100 }) took ${took} ms (a running handler holds it for 20 s)`);
    t.true(aborted, 'the handler is told to stop');
    const other = ctx.queue({ name });
    t.deepEqual(await other.stats(), { queued: 2, scheduled: 0, committed: 2, processing: 0, failed: 0, paused: false }, 'handed back, not counted as a failure');
    t.deepEqual(await ctx.backend.inspect.lRange(other.keys.queued, 0, -1), ['2', '3'], 'at the head of the queue');
    t.is(await ctx.backend.inspect.zCard(other.keys.leases), 0);
  });

  test('stopProcessing stops fetching and lets running jobs finish', async (t) => {
    const q = ctx.queue({ concurrency: 2 });
    const done: string[] = [];
    q.process(async (job) => {
      await sleep(50);
      done.push(job.id);
    });
    await q.addJobs([new Job(1), new Job(2)]);
    await until(() => q.countProcessing(), (n) => n === 2, 'q.countProcessing() to be 2');
    await q.stopProcessing();
    t.deepEqual(done.sort(), ['1', '2']);
    await q.addJob(new Job(3));
    await sleep(100);
    t.is(await q.countQueued(), 1, 'nothing is fetched after stopProcessing');
  });
});
