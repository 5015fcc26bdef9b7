/**
 * Duplicate policies: what an add does to an ID that is waiting (ignore,
 * replace, debounce with maxWait; throttling is ignore with a delay) or
 * processing (supersede), per job and per queue, on every backend.
 */
import type { ExecutionContext } from 'ava';
import { ConvoyError, Job, type ActiveJob, type JobOptions, type Queue } from '../src/index.js';
import { BUSY_MARGIN_MS, forEachBackend, sleep, until } from './helpers/backends.js';
import { childWorker } from './helpers/child-worker.js';

type V = { v: number };
/** Payloads optional. */
type W = V | undefined;

forEachBackend((test, ctx) => {
  const ids = async (q: Queue<W>, state: 'queued' | 'scheduled') => (await q.listJobs(state)).map((j) => j.id);

  test("the default 'ignore' leaves a waiting ID as it was: 'committed'", async (t) => {
    const q = ctx.queue<V>();
    t.is(await q.addJob(new Job('a', { v: 1 })), 'queued');
    t.is(await q.addJob(new Job('a', { v: 2 }, { attempts: 3 })), 'committed');
    t.like(await q.getJob('a'), { state: 'queued', payload: { v: 1 }, options: {} });
  });

  test("replace: a queued ID takes the add's payload and options and keeps its place", async (t) => {
    const q = ctx.queue<W>({ duplicateWhileWaiting: 'replace' });
    await q.addJobs([new Job('a', { v: 1 }), new Job('b', { v: 1 }, { attempts: 5 }), new Job('c', { v: 1 })]);
    t.is(await q.addJob(new Job('b', { v: 2 }, { attempts: 2 })), 'replaced');
    t.deepEqual(await ids(q, 'queued'), ['a', 'b', 'c']);
    t.like(await q.getJob('b'), { state: 'queued', payload: { v: 2 }, options: { attempts: 2 } });
    // a replace without payload or options leaves the job without them
    t.is(await q.addJob(new Job('b')), 'replaced');
    const b = await q.getJob('b');
    t.is(b?.payload, undefined);
    t.deepEqual(b?.options, {});
    t.deepEqual(await ids(q, 'queued'), ['a', 'b', 'c']);
    t.like(await q.stats(), { queued: 3, committed: 3, scheduled: 0 });
  });

  test('replace: a scheduled ID keeps its due time; a new delay reschedules it, delay 0 queues it, and a queued ID given a delay is scheduled', async (t) => {
    const q = ctx.queue<W>();
    const replace: JobOptions = { duplicateWhileWaiting: 'replace' };
    await q.addJobs([new Job('q1'), new Job('s', { v: 1 }, { delay: 60_000 }), new Job('q2')]);
    const due = (await q.getJob('s'))?.runAt;
    t.truthy(due);
    t.is(await q.addJob(new Job('s', { v: 2 }, replace)), 'replaced');
    t.like(await q.getJob('s'), { state: 'scheduled', payload: { v: 2 }, runAt: due });
    t.is(await q.addJob(new Job('s', { v: 3 }, { ...replace, delay: 120_000 })), 'replaced');
    const later = (await q.getJob('s'))?.runAt ?? 0;
    t.true(later >= due! + 50_000, `rescheduled to ${later}, was ${due}`);
    t.is(await q.addJob(new Job('s', { v: 4 }, { ...replace, delay: 0 })), 'replaced');
    t.deepEqual(await ids(q, 'queued'), ['q1', 'q2', 's']);
    t.like(await q.getJob('s'), { state: 'queued', payload: { v: 4 } });
    t.is(await q.addJob(new Job('q1', { v: 5 }, { ...replace, runAt: Date.now() + 60_000 })), 'replaced');
    t.deepEqual(await ids(q, 'queued'), ['q2', 's']);
    t.like(await q.getJob('q1'), { state: 'scheduled', payload: { v: 5 } });
    t.like(await q.stats(), { queued: 2, scheduled: 1, committed: 3 });
  });

  test("the add's own policy wins over the queue's; adds of one ID in one call take effect in order", async (t) => {
    const q = ctx.queue<V>({ duplicateWhileWaiting: 'replace' });
    await q.addJob(new Job('a', { v: 1 }));
    t.is(await q.addJob(new Job('a', { v: 2 }, { duplicateWhileWaiting: 'ignore' })), 'committed');
    t.like(await q.getJob('a'), { payload: { v: 1 } });
    const plain = ctx.queue<V>();
    t.deepEqual(
      await plain.addJobs([new Job('m', { v: 1 }), new Job('m', { v: 2 }, { duplicateWhileWaiting: 'replace' }), new Job('m', { v: 3 })]),
      ['queued', 'replaced', 'committed'],
    );
    t.like(await plain.getJob('m'), { state: 'queued', payload: { v: 2 } });
    t.like(await plain.stats(), { queued: 1, committed: 1 });
  });

  test('debounce: a queued ID moves to scheduled at now + delay, no later than its maxWait deadline, which goes when it is claimed', async (t) => {
    const q = ctx.queue<W>();
    const debounce: JobOptions = { duplicateWhileWaiting: 'debounce', delay: 60_000, maxWait: 1500 };
    await q.addJobs([new Job('a', { v: 1 }), new Job('b')]);
    const before = Date.now();
    t.is(await q.addJob(new Job('a', { v: 2 }, debounce)), 'replaced');
    t.deepEqual(await ids(q, 'queued'), ['b']);
    const first = await q.getJob('a');
    t.like(first, { state: 'scheduled', payload: { v: 2 } });
    // the burst started with this add (the first one did not debounce): due by its deadline, not in 60 s
    t.true(first!.runAt! <= before + 1500 + 2000, `due at ${first!.runAt}, added at ${before}`);
    t.is(await q.addJob(new Job('a', { v: 3 }, debounce)), 'replaced');
    t.like(await q.getJob('a'), { state: 'scheduled', payload: { v: 3 }, runAt: first!.runAt });
    t.is(await ctx.backend.inspect.exists(q.keys.deadline), 1);
    const ran: Array<[string, unknown]> = [];
    q.process(async (job) => {
      ran.push([job.id, job.payload]);
    });
    await until(() => ran.length, (n) => n === 2, { what: 'a and b to run', timeout: 15_000 });
    t.deepEqual(ran.sort(), [['a', { v: 3 }], ['b', undefined]]);
    t.is(await ctx.backend.inspect.exists(q.keys.deadline), 0, 'the deadline went with the claim');
  });

  /**
   * 100 adds of one ID, one every 10 ms; the handler takes `runMs`. Returns the
   * payloads each run got, the span of the adds and the longest gap between two.
   */
  async function burst(t: ExecutionContext, q: Queue<V>, options: JobOptions, runMs: number) {
    const runs: number[] = [];
    q.process(async (job) => {
      runs.push(job.payload.v);
      await sleep(runMs);
    });
    // The first add (it connects) starts the clock.
    await q.addJob(new Job('d', { v: 0 }, options));
    const start = Date.now();
    let last = start;
    let maxGap = 0;
    for (let i = 1; i < 100; i++) {
      const wait = start + i * 10 - Date.now();
      if (wait > 0) await sleep(wait);
      await q.addJob(new Job('d', { v: i }, options));
      maxGap = Math.max(maxGap, Date.now() - last);
      last = Date.now();
    }
    const span = last - start;
    // Due 300 ms after the last add: a worker that missed its wake-up would wait for blockingTimeout (5 s), and more.
    await until(() => runs.at(-1), (v) => v === 99, { what: 'the run with the last payload', timeout: 300 + BUSY_MARGIN_MS });
    // nothing more runs after it
    await sleep(800);
    t.log(`runs ${JSON.stringify(runs)}, adds over ${span} ms, longest gap ${maxGap} ms`);
    return { runs, span, maxGap };
  }

  test('debounce: 100 adds in 1 s with delay 300 run once, with the last payload; with maxWait 500 they run twice', async (t) => {
    const plain = await burst(t, ctx.queue<V>(), { duplicateWhileWaiting: 'debounce', delay: 300 }, 0);
    t.is(plain.runs.at(-1), 99);
    // Two adds more than 300 ms apart (a stalled machine) are two bursts.
    if (plain.maxGap < 250) t.deepEqual(plain.runs, [99]);
    else t.true(plain.runs.length <= Math.ceil(plain.span / 300), JSON.stringify(plain));

    // The first run is due 500 ms after the first add; adds during it find the
    // ID processing (ignored); the next add starts the second burst, which ends
    // with the last add, before its own deadline.
    const capped = await burst(t, ctx.queue<V>({ maxWait: 500 }), { duplicateWhileWaiting: 'debounce', delay: 300 }, 100);
    t.is(capped.runs.at(-1), 99);
    t.true(capped.runs[0] < 90, `the first run came by its deadline, mid-burst: ${JSON.stringify(capped.runs)}`);
    t.deepEqual([...capped.runs].sort((a, b) => a - b), capped.runs, 'newer payloads only');
    if (capped.span < 1080) t.is(capped.runs.length, 2);
    else t.true(capped.runs.length >= 2 && capped.runs.length <= Math.ceil(capped.span / 500) + 1, JSON.stringify(capped));
  });

  test("throttle: 'ignore' with a delay runs a burst once, delay after its first add, with the first payload", async (t) => {
    const q = ctx.queue<V>();
    const runs: Array<[number, number]> = [];
    q.process(async (job) => {
      runs.push([job.payload.v, Date.now()]);
    });
    const first = Date.now();
    const outcomes = [];
    for (let i = 0; i < 20; i++) {
      outcomes.push(await q.addJob(new Job('t', { v: i }, { delay: 1500 })));
      await sleep(20);
    }
    const span = Date.now() - first;
    t.is(outcomes[0], 'scheduled');
    // Each add that found the ID gone started a burst (only a stalled machine takes 1.5 s for these adds).
    const bursts = outcomes.flatMap((o, i) => (o === 'scheduled' ? [i] : []));
    if (span < 1400) t.deepEqual(outcomes.slice(1), Array(19).fill('committed'));
    await until(() => runs.length, (n) => n >= bursts.length, { what: 'each burst to run', timeout: 15_000 });
    await sleep(500);
    t.deepEqual(runs.map(([v]) => v), bursts, 'once per burst, with its first payload');
    t.true(runs[0][1] >= first + 1500 - 50, `ran ${runs[0][1] - first} ms after the first add`);
  });

  /** A worker whose run of payload v 1 ignores its signal and ends `lateMs` after the abort (resolving, or throwing with `throws`). */
  function supersedable(q: Queue<V>, lateMs: number, throws = false) {
    const events: string[] = [];
    const completed: number[] = [];
    const failed: number[] = [];
    const attempts: number[] = [];
    let reason: unknown;
    q.on('completed', (job) => completed.push(job.payload.v));
    q.on('failed', (job) => failed.push(job.payload.v));
    q.on('retrying', (job) => failed.push(job.payload.v));
    q.process(async (job: ActiveJob<V>) => {
      const { v } = job.payload;
      events.push(`start ${v}`);
      attempts.push(job.attempt);
      if (v === 1) {
        await until(() => job.signal.aborted, Boolean, { what: "the old run's signal to abort", timeout: 15_000 });
        reason = job.signal.reason;
        await sleep(lateMs);
      }
      events.push(`end ${v}`);
      if (v === 1 && throws) throw new Error('the old run fails late');
      return v;
    });
    return { events, completed, failed, attempts, reason: () => reason };
  }

  for (const throws of [false, true]) {
    test(`supersede: the old run's signal aborts, the new payload runs only after the old run ends (it ignores its signal${throws ? ' and then throws' : ''}), and the old result changes nothing`, async (t) => {
      const q = ctx.queue<V>({ stallTimeout: 900, jobTimeout: 0 });
      const w = supersedable(q, 600, throws);
      await q.addJob(new Job('x', { v: 1 }, { attempts: 3 }));
      await until(() => w.events, (e) => e.includes('start 1'), 'the first run to start');
      t.is(await q.addJob(new Job('x', { v: 2 }, { duplicateWhileProcessing: 'supersede', attempts: 3 })), 'processing');
      await until(() => w.events, (e) => e.includes('end 2'), { what: 'the new payload to run', timeout: 20_000 });
      t.deepEqual(w.events, ['start 1', 'end 1', 'start 2', 'end 2'], 'never beside the old run');
      t.true(w.reason() instanceof ConvoyError);
      t.regex(String((w.reason() as Error).message), /superseded/);
      await sleep(300);
      t.deepEqual(w.completed, [2], "no 'completed' for the old run");
      t.deepEqual(w.failed, [], "no 'failed' or 'retrying' for it");
      t.deepEqual(w.attempts, [1, 1], 'the new run starts afresh');
      t.deepEqual(await q.getFailed(), []);
      t.like(await q.stats(), { committed: 0, processing: 0, failed: 0 });
      t.is(await ctx.backend.inspect.exists(q.keys.superseded), 0);
    });
  }

  test("supersede from the queue's option; a 'rerun' add beside it asks for no extra run; removeJob clears the mark", async (t) => {
    const q = ctx.queue<V>({ stallTimeout: 900, jobTimeout: 0, duplicateWhileProcessing: 'supersede' });
    const w = supersedable(q, 300);
    await q.addJob(new Job('x', { v: 1 }));
    await until(() => w.events, (e) => e.includes('start 1'), 'the first run to start');
    t.is(await q.addJob(new Job('x', { v: 3 })), 'processing');
    t.is(await q.addJob(new Job('x', { v: 2 }, { duplicateWhileProcessing: 'rerun' })), 'processing');
    await until(() => w.events, (e) => e.includes('end 2'), { what: 'the newest payload to run', timeout: 20_000 });
    await sleep(500);
    t.deepEqual(w.events, ['start 1', 'end 1', 'start 2', 'end 2']);

    await q.addJob(new Job('y', { v: 1 }));
    await until(() => w.events, (e) => e.includes('start 1') && e.lastIndexOf('start 1') > 1, 'y to start');
    t.is(await q.addJob(new Job('y', { v: 4 })), 'processing');
    t.is(await ctx.backend.inspect.exists(q.keys.superseded), 1);
    t.true(await q.removeJob('y'));
    t.is(await ctx.backend.inspect.exists(q.keys.superseded), 0);
    await until(() => w.events.filter((e) => e === 'end 1').length, (n) => n === 2, { what: 'the removed run to end', timeout: 15_000 });
    await sleep(300);
    t.false(w.events.includes('start 4'), 'a removed ID does not run again');
    t.like(await q.stats(), { committed: 0, processing: 0 });
  });

  test('supersede when the old worker dies: its signal aborted, the new payload runs once after stall recovery', async (t) => {
    const name = ctx.name();
    const w = childWorker(ctx.backend.redis, name, { stallTimeout: 900 });
    t.teardown(w.kill);
    const q = ctx.queue<V>({ name, stallTimeout: 900 });
    await q.addJob(new Job('x', { v: 1 }));
    await until(() => w.has('started', 'x'), Boolean, { what: 'the child to start x', timeout: 20_000 });
    t.is(await q.addJob(new Job('x', { v: 2 }, { duplicateWhileProcessing: 'supersede' })), 'processing');
    await until(() => w.has('aborted', 'x'), Boolean, { what: "the child's run to be aborted", timeout: 15_000 });
    w.kill();
    const ran: number[] = [];
    q.process(async (job) => {
      ran.push(job.payload.v);
    });
    await until(() => ran.length, (n) => n >= 1, { what: 'the new payload to run here', timeout: 20_000 });
    await sleep(1000);
    t.deepEqual(ran, [2]);
    t.false(w.has('ended', 'x'));
    t.like(await q.stats(), { committed: 0, processing: 0, failed: 0 });
    t.is(await ctx.backend.inspect.exists(q.keys.superseded), 0);
  });
});
