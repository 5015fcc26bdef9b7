/**
 * Repeatable jobs: schedules that add a job ID at each occurrence, fired by
 * the workers of the queue, on every backend.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InvalidArgumentError, InvalidJobIdError, InvalidOptionError, InvalidPayloadError, type Queue, type RepeatSchedule } from '../src/index.js';
import { forEachBackend, sleep, until } from './helpers/backends.js';

/** Runs of a handler: when each started and ended, and the most that ran at once. */
function recorder(ms = 0) {
  const starts: number[] = [];
  let running = 0;
  let most = 0;
  const payloads: unknown[] = [];
  const handler = async (job: { payload: unknown }) => {
    starts.push(Date.now());
    payloads.push(job.payload);
    most = Math.max(most, ++running);
    await sleep(ms);
    running--;
  };
  return { handler, starts, payloads, most: () => most };
}

forEachBackend((test, ctx) => {
  test('a 200 ms `every` with a handler that takes 500 ms never runs two at once and never queues more than one', async (t) => {
    const name = ctx.name();
    // Two workers with free slots: an overlap would have room to happen.
    const a = ctx.queue({ name, concurrency: 4 });
    const b = ctx.queue({ name, concurrency: 4 });
    const runs = recorder(500);
    a.process(runs.handler);
    b.process(runs.handler);
    await a.repeat('tick', { every: 200 });
    let mostWaiting = 0;
    const end = Date.now() + 3000;
    while (Date.now() < end) {
      const s = await a.stats();
      mostWaiting = Math.max(mostWaiting, s.queued + s.scheduled);
      t.true(s.committed <= 1, `the ID is committed once at most (${s.committed})`);
      await sleep(20);
    }
    t.is(runs.most(), 1, 'never two runs at once');
    t.true(mostWaiting <= 1, `never more than one waiting (${mostWaiting})`);
    t.true(runs.starts.length >= 2, `it ran again and again (${runs.starts.length} runs in 3 s)`);
  });

  test('an `every` schedule fires again and again, about on time, with no jam guard and default options', async (t) => {
    const q = ctx.queue();
    const runs = recorder();
    q.process(runs.handler);
    await q.repeat('beat', { every: 200 }, { n: 1 });
    await sleep(3000);
    // 15 occurrences in 3 s; a busy machine may delay some, never double them.
    t.true(runs.starts.length >= 6, `${runs.starts.length} runs in 3 s`);
    t.true(runs.starts.length <= 16, `${runs.starts.length} runs in 3 s`);
    t.is(runs.most(), 1);
    t.deepEqual(runs.payloads[0], { n: 1 });
  });

  test('a cron schedule with seconds, in a time zone, fires each second', async (t) => {
    const q = ctx.queue();
    const runs = recorder();
    q.process(runs.handler);
    const next = await q.repeat('cron', { cron: '*/1 * * * * *', tz: 'Europe/Berlin' });
    t.true(next instanceof Date && next.getTime() % 1000 === 0, `on a whole second: ${next?.toISOString()}`);
    await until(() => runs.starts.length, (n) => n >= 3, { what: 'three runs of a cron schedule each second', timeout: 15_000 });
    const [list] = await q.listRepeats();
    t.deepEqual(list.schedule, { cron: '*/1 * * * * *', tz: 'Europe/Berlin' });
  });

  test('a cron schedule in a time zone says its next occurrence in that zone', async (t) => {
    const q = ctx.queue();
    const next = await q.repeat('nightly', { cron: '0 3 * * *', tz: 'Asia/Kolkata' });
    // 03:00 in Kolkata is 21:30 UTC (no daylight saving time there).
    t.is(next?.toISOString().slice(11), '21:30:00.000Z');
    t.true(next!.getTime() > Date.now() && next!.getTime() <= Date.now() + 86_400_000);
  });

  test('repeat from 10 queue objects at once leaves one schedule and keeps its next occurrence; another schedule replaces it', async (t) => {
    const name = ctx.name();
    const queues = Array.from({ length: 10 }, () => ctx.queue({ name }));
    const first = await queues[0].repeat('deploy', { every: 60_000 }, { v: 1 });
    await sleep(50);
    const again = await Promise.all(queues.map((q) => q.repeat('deploy', { every: 60_000 }, { v: 1 })));
    for (const d of again) t.is(d?.getTime(), first?.getTime(), 'the same spec keeps the next occurrence');
    const list = await queues[3].listRepeats();
    t.is(list.length, 1);
    t.like(list[0], { id: 'deploy', schedule: { every: 60_000 }, payload: { v: 1 }, count: 0 });
    t.is(list[0].next.getTime(), first!.getTime());

    const changed = await Promise.all(queues.map((q) => q.repeat('deploy', { every: 30_000 }, { v: 2 })));
    const [after] = await queues[5].listRepeats();
    t.like(after, { id: 'deploy', schedule: { every: 30_000 }, payload: { v: 2 } });
    t.true(changed.every((d) => d?.getTime() === after.next.getTime()), 'all calls agree on the new next occurrence');
    t.true(after.next.getTime() < first!.getTime());
    t.is((await queues[0].listRepeats()).length, 1);
  });

  test('listRepeats shows the next run, payload, options and count', async (t) => {
    const q = ctx.queue({ defaultJobOptions: { stallLimit: 2 } });
    const startAt = Date.now() + 3_600_000;
    await q.repeat('report', { every: 1000, startAt, limit: 5 }, { to: 'ops' }, { attempts: 3, duplicateWhileProcessing: 'rerun' });
    await q.repeat(7, { cron: '0 0 1 1 *' });
    const list = await q.listRepeats();
    t.deepEqual(list.map((r) => r.id), ['report', '7'], 'next occurrence first');
    t.deepEqual(list[0], {
      id: 'report',
      schedule: { every: 1000, startAt, limit: 5 },
      next: new Date(startAt),
      payload: { to: 'ops' },
      options: { attempts: 3, stallLimit: 2, duplicateWhileProcessing: 'rerun' },
      count: 0,
    });
    t.is(list[1].payload, undefined);
    t.deepEqual(list[1].options, { stallLimit: 2 });
  });

  test('removeRepeat stops it and resolves whether there was one', async (t) => {
    const q = ctx.queue();
    const runs = recorder();
    q.process(runs.handler);
    await q.repeat('stop-me', { every: 100 });
    await until(() => runs.starts.length, (n) => n >= 2, 'two runs');
    t.true(await q.removeRepeat('stop-me'));
    await sleep(300);
    const seen = runs.starts.length;
    await sleep(700);
    t.is(runs.starts.length, seen, 'no run after the removal');
    t.false(await q.removeRepeat('stop-me'));
    t.deepEqual(await q.listRepeats(), []);
  });

  test('obliterate removes the schedules too', async (t) => {
    const q = ctx.queue();
    await q.repeat('gone', { every: 1000 });
    await q.obliterate();
    t.deepEqual(await q.listRepeats(), []);
    t.is(await ctx.backend.inspect.exists(q.keys.repeatspec), 0);
  });

  test('limit ends the schedule after that many occurrences, endAt at that time', async (t) => {
    const q = ctx.queue({ concurrency: 2 });
    const limited = recorder();
    const ended = recorder();
    q.process(async (job) => (job.id === 'limited' ? limited : ended).handler(job));
    await q.repeat('limited', { every: 100, limit: 3 });
    await q.repeat('ended', { every: 100, endAt: Date.now() + 450 });
    let counts: number[] = [];
    await until(
      async () => {
        const list = await q.listRepeats();
        counts = [...counts, ...list.filter((r) => r.id === 'limited').map((r) => r.count)];
        return list;
      },
      (l) => l.length === 0,
      'both schedules to end',
    );
    await sleep(500);
    // An occurrence counts even when its job was still running (it then adds nothing).
    t.true(counts.every((c) => c < 3), `counts seen: ${counts.join()}`);
    t.true(limited.starts.length >= 1 && limited.starts.length <= 3, `${limited.starts.length} runs of a limit of 3`);
    t.true(ended.starts.length >= 1 && ended.starts.length <= 4, `${ended.starts.length} runs before endAt`);
    t.is(await q.repeat('over', { every: 100, endAt: Date.now() - 1 }), null, 'a schedule that is over before it starts');
    t.deepEqual(await q.listRepeats(), []);
  });

  test('after downtime exactly one catch-up occurrence runs, then the schedule goes on from now', async (t) => {
    const name = ctx.name();
    const producer = ctx.queue({ name });
    await producer.repeat('catch-up', { every: 1000 });
    // No worker for more than three occurrences.
    await sleep(3600);
    t.is(await producer.countCommitted(), 0, 'nothing fires without a worker');
    const worker = ctx.queue({ name });
    const runs = recorder();
    worker.process(runs.handler);
    await until(() => runs.starts.length, (n) => n >= 1, 'the catch-up run');
    const [r] = await producer.listRepeats();
    t.is(r.count, 1, 'one catch-up occurrence');
    t.true(r.next.getTime() > Date.now() - 100 && r.next.getTime() <= Date.now() + 1000, 'the next occurrence is within one period from now');
    await until(() => runs.starts.length, (n) => n >= 2, 'the next run');
    t.is((await producer.listRepeats())[0].count, 2);
  });

  test('a repeat made in another queue object reaches an idle worker at once, not at its next lease renewal', async (t) => {
    const name = ctx.name();
    const worker = ctx.queue({ name, stallTimeout: 60_000 });
    const runs = recorder();
    worker.process(runs.handler);
    await sleep(300);
    const producer = ctx.queue({ name });
    const started = Date.now();
    await producer.repeat('remote', { every: 100 });
    // The worker renews every 20 s; the repeat's wake-up marker reaches it long before.
    await until(() => runs.starts.length, (n) => n >= 3, { what: 'three runs', timeout: 15_000 });
    t.true(runs.starts[0] - started < 8000, `first run after ${runs.starts[0] - started} ms`);
  });

  test("duplicateWhileProcessing 'rerun': occurrences during a run make it run once more after, never at once", async (t) => {
    const q = ctx.queue({ duplicateWhileProcessing: 'rerun', concurrency: 4 });
    const runs = recorder(300);
    q.process(runs.handler);
    await q.repeat('rerun', { every: 100 });
    await until(() => runs.starts.length, (n) => n >= 4, 'four runs');
    t.is(runs.most(), 1);
    for (let i = 1; i < runs.starts.length; i++) t.true(runs.starts[i] - runs.starts[i - 1] >= 290, 'each run starts after the last one ended');
  });

  test('cron-parser is loaded only when a cron schedule is used', async (t) => {
    const { redis } = ctx.backend;
    const fixture = new URL('./fixtures/repeat-lazy.ts', import.meta.url).pathname;
    const args = ['--import', 'tsx', fixture, typeof redis === 'string' ? redis : JSON.stringify(redis), ctx.name()];
    const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 30_000 });
    t.deepEqual(JSON.parse(stdout.trim().split('\n').pop()!), { atStart: false, afterEvery: false, afterCron: true });
  });

  test('bad schedules, IDs, payloads and options are refused with typed errors and write nothing', async (t) => {
    const q: Queue = ctx.queue();
    const bad: Array<[unknown, new (...a: never[]) => Error]> = [
      [undefined, InvalidArgumentError],
      ['* * * * *', InvalidArgumentError],
      [{}, InvalidOptionError],
      [{ every: 0 }, InvalidOptionError],
      [{ every: 1.5 }, InvalidOptionError],
      [{ every: '100' }, InvalidOptionError],
      [{ every: 100, cron: '* * * * *' }, InvalidOptionError],
      [{ every: 100, tz: 'UTC' }, InvalidOptionError],
      [{ every: 100, limit: 0 }, InvalidOptionError],
      [{ every: 100, startAt: new Date('nope') }, InvalidOptionError],
      [{ every: 100, startAt: 2000, endAt: 1000 }, InvalidOptionError],
      [{ every: 100, often: true }, InvalidOptionError],
      [{ cron: 'every day' }, InvalidOptionError],
      [{ cron: '99 * * * *' }, InvalidOptionError],
      [{ cron: '* * * * *', tz: 'Mars/Olympus_Mons' }, InvalidOptionError],
    ];
    for (const [schedule, type] of bad) {
      await t.throwsAsync(q.repeat('x', schedule as RepeatSchedule), { instanceOf: type }, JSON.stringify(schedule));
    }
    const err = await t.throwsAsync(q.repeat('x', { cron: '99 * * * *' }));
    t.regex(err!.message, /99/);
    await t.throwsAsync(q.repeat('', { every: 100 }), { instanceOf: InvalidJobIdError });
    await t.throwsAsync(q.repeat('x', { every: 100 }, Number.NaN), { instanceOf: InvalidPayloadError });
    await t.throwsAsync(q.repeat('x', { every: 100 }, undefined, { delay: 5 } as never), { instanceOf: InvalidOptionError });
    await t.throwsAsync(q.repeat('x', { every: 100 }, undefined, { attempts: 0 }), { instanceOf: InvalidOptionError });
    for (const key of Object.values(q.keys)) t.is(await ctx.backend.inspect.exists(key), 0, key);
  });
});
