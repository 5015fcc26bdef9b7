/**
 * Hostile and broken input: random IDs and payloads (property-based), queue
 * names that try to leave their hash tag, and data in a queue's keys that
 * convoy-queue did not write.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  ActiveJob,
  ForeignDataError,
  InvalidArgumentError,
  InvalidJobIdError,
  InvalidOptionError,
  InvalidPayloadError,
  Job,
  MAX_ID_BYTES,
  createQueue,
  queueKeys,
  type Queue,
} from '../src/index.js';
import { KEY_NAMES } from '../src/keys.js';
import type { ScriptName } from '../src/scripts.js';
import { forEachBackend, scriptCalls, standalone, until, type Backend } from './helpers/backends.js';

type Inspect = Backend['inspect'];

/**
 * Wait until the worker is idle: blocked on its wake-up list. After a job
 * completes, the worker still claims (or finds nothing) once before it blocks;
 * counting script calls before that would count its calls too.
 */
async function workerBlocked(inspect: Inspect): Promise<void> {
  await until(async () => String(await inspect.sendCommand(['CLIENT', 'LIST'])), (list) => /flags=b\b/.test(list), 'a client blocked (flags=b) in CLIENT LIST');
}

/** The keys of a queue, read from Redis. */
async function keysOf(inspect: Inspect, q: Queue<unknown>): Promise<string[]> {
  const base = q.keys.queued.slice(0, -'queued'.length);
  const pattern = base.replace(/[*?[\]\\{}]/g, (c) => `\\${c}`) + '*';
  return ((await inspect.sendCommand(['KEYS', pattern])) as string[]).sort();
}

/**
 * A worker that hands back each job as the handler saw it, once its completion
 * is written (so the same ID can be added again right after).
 */
function receiver<P>(q: Queue<P>) {
  const waiting = new Map<string, (j: ActiveJob<P>) => void>();
  q.on('completed', (job) => waiting.get(job.id)?.(job));
  q.process(async () => undefined);
  return (id: string, ms = 10_000) =>
    new Promise<ActiveJob<P>>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`job ${JSON.stringify(id)} was not run within ${ms} ms`));
      }, ms);
      waiting.set(id, (j) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(j);
      });
    });
}

// ---- generators

const char = (from: number, to: number) => fc.integer({ min: from, max: to }).map((c) => String.fromCharCode(c));
/** One unit of hostile text: any code point, C0/C1 controls, and now and then a lone surrogate. */
const hostileUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: fc.oneof(char(0, 0x1f), char(0x7f, 0x9f)) },
  { weight: 1, arbitrary: char(0xd800, 0xdfff) },
  { weight: 1, arbitrary: fc.constantFrom('{', '}', '*', '\n', ' ', '"', '\\', '\u2028', '\uFEFF', '\uFFFD') },
);
const hostileString = (maxLength: number) => fc.string({ unit: hostileUnit, maxLength });
/** Strings of about `bytes` UTF-8 bytes made of one repeated character of 1, 2, 3 or 4 bytes. */
const nearLimit = fc
  .tuple(fc.constantFrom('a', 'é', '€', '😀'), fc.integer({ min: -6, max: 6 }))
  .map(([c, d]) => c.repeat(Math.floor(MAX_ID_BYTES / Buffer.byteLength(c)) + d));
const specialNumbers = fc.constantFrom(-0, 0, 1e21, 0.1, NaN, Infinity, -Infinity, 5e-324, Number.MAX_VALUE, 2 ** 53 + 2, -1.5);

const idArb = fc.oneof(
  hostileString(40),
  nearLimit,
  specialNumbers,
  fc.double(),
  fc.integer(),
  fc.constantFrom<unknown>('', null, undefined, true, {}, [], 10n, '0', '-0', ' '),
);

const payloadArb = fc.oneof(
  { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: hostileUnit }) },
  { weight: 2, arbitrary: specialNumbers },
  { weight: 2, arbitrary: hostileString(30) },
  { weight: 2, arbitrary: fc.dictionary(hostileString(6), fc.oneof(specialNumbers, hostileString(6), fc.constant(undefined)), { maxKeys: 4, noNullPrototype: true }) },
  { weight: 2, arbitrary: fc.array(fc.oneof(specialNumbers, fc.constant(undefined), fc.constant(null)), { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.integer({ min: 1_000_000, max: 1_050_000 }).map((n) => ({ blob: 'x'.repeat(n) })) },
);

// Properties and limits: on one private standalone server (they count script
// calls in INFO commandstats, so they run serially and on a single node).
forEachBackend((test, ctx) => {
  /**
   * One hostile (id, payload): either `new Job` / `addJob` refuse it with the
   * typed error and nothing reaches Redis, or the worker gets exactly what
   * `new Job(id, payload)` holds.
   */
  async function roundTripOrRefuse(q: Queue<unknown>, next: (id: string) => Promise<ActiveJob<unknown>>, id: unknown, payload: unknown) {
    const inspect = ctx.backend.inspect;
    await workerBlocked(inspect);
    const callsBefore = await scriptCalls(ctx.backend);
    const keysBefore = await keysOf(inspect, q);
    let job: Job<unknown>;
    try {
      job = new Job(id as string, payload);
    } catch (err) {
      assert.ok(err instanceof InvalidJobIdError, `new Job threw ${String(err)}, not an InvalidJobIdError`);
      assert.ok(err instanceof InvalidArgumentError);
      return 'refused' as const;
    }
    const delivered = next(job.id);
    delivered.catch(() => undefined);
    try {
      assert.equal(await q.addJob(job), 'queued');
    } catch (err) {
      assert.ok(err instanceof InvalidPayloadError, `addJob rejected with ${String(err)}, not an InvalidPayloadError`);
      assert.ok(err instanceof InvalidArgumentError);
      await new Promise((r) => setTimeout(r, 5));
      assert.equal(await scriptCalls(ctx.backend), callsBefore, 'a refused add sent a script to Redis');
      assert.deepEqual(await keysOf(inspect, q), keysBefore, 'a refused add changed keys');
      return 'refused' as const;
    }
    const got = await delivered;
    assert.equal(got.id, job.id);
    assert.deepStrictEqual(got.payload, job.payload);
    return 'accepted' as const;
  }

  test.serial('hostile job IDs either round-trip exactly to the worker or are refused with InvalidJobIdError', async (t) => {
    const q = ctx.queue({ blockingTimeout: 60 });
    const next = receiver(q);
    const seen = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(idArb, async (id) => {
        seen[await roundTripOrRefuse(q, next, id, undefined)]++;
      }),
      { numRuns: 200 },
    );
    t.log(seen);
    t.true(seen.accepted > 50 && seen.refused > 5, 'both branches were exercised');
    await q.close();
  });

  test.serial('hostile payloads either round-trip exactly or are refused with InvalidPayloadError and write nothing', async (t) => {
    const q = ctx.queue({ blockingTimeout: 60 });
    const next = receiver(q);
    const seen = { accepted: 0, refused: 0 };
    let n = 0;
    await fc.assert(
      fc.asyncProperty(payloadArb, async (payload) => {
        seen[await roundTripOrRefuse(q, next, `p${n++}`, payload)]++;
      }),
      { numRuns: 150 },
    );
    t.log(seen);
    t.true(seen.accepted > 50 && seen.refused > 5, 'both branches were exercised');
    await q.close();
  });

  test.serial('well-formed JSON data is always accepted as a payload and round-trips exactly', async (t) => {
    const q = ctx.queue({ blockingTimeout: 60 });
    const next = receiver(q);
    let n = 0;
    // JSON.parse(JSON.stringify(v)) keeps what JSON can say (a -0 becomes 0)
    const jsonData = fc.jsonValue({ maxDepth: 3, stringUnit: 'grapheme' }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    await fc.assert(
      fc.asyncProperty(jsonData, async (payload) => {
        t.is(await roundTripOrRefuse(q, next, `ok${n++}`, payload), 'accepted');
      }),
      { numRuns: 100 },
    );
    await q.close();
  });

  test.serial('IDs at the byte limit: 1024 UTF-8 bytes pass, 1025 are refused, whatever the character width', async (t) => {
    const q = ctx.queue({ blockingTimeout: 60 });
    const next = receiver(q);
    for (const c of ['a', 'é', '€', '😀']) {
      const w = Buffer.byteLength(c);
      const fits = c.repeat(Math.floor(MAX_ID_BYTES / w)) + 'a'.repeat(MAX_ID_BYTES % w);
      t.is(Buffer.byteLength(fits), MAX_ID_BYTES);
      t.is(await roundTripOrRefuse(q, next, fits, { c }), 'accepted');
      t.throws(() => new Job(fits + 'a'), { instanceOf: InvalidJobIdError });
    }
    await q.close();
  });

  test.serial('payloads at maxPayloadBytes pass and one byte more is refused, counting UTF-8 bytes', async (t) => {
    const q = ctx.queue({ blockingTimeout: 60, maxPayloadBytes: 1000 });
    const next = receiver(q);
    // '€' is 3 bytes: a JSON string of 332 of them is 2 + 996 = 998 bytes.
    t.is(await roundTripOrRefuse(q, next, 'fits', '€'.repeat(332) + 'ab'), 'accepted');
    t.is(await roundTripOrRefuse(q, next, 'over', '€'.repeat(332) + 'abc'), 'refused');
    t.is(await roundTripOrRefuse(q, next, 'chars-fit-bytes-do-not', '€'.repeat(400)), 'refused');
    await q.close();
  });

  test.serial('a 1 MB payload round-trips; one over the 4 MiB default is refused without a write', async (t) => {
    const q = ctx.queue({ blockingTimeout: 60 });
    const next = receiver(q);
    const mb = { data: 'ü'.repeat(512 * 1024), list: Array.from({ length: 1000 }, (_, i) => i / 7) };
    t.is(await roundTripOrRefuse(q, next, 'one-mb', mb), 'accepted');
    t.is(await roundTripOrRefuse(q, next, 'too-big', 'x'.repeat(4 * 1024 * 1024)), 'refused');
    await q.close();
  });

  test.serial('payloads that JSON would silently change are refused, not delivered changed', async (t) => {
    // JSON.stringify writes a Map, a Set and a symbol-keyed object as {}, a typed
    // array as an object of indexes, and unboxes new Number(NaN) to null: none of
    // them would reach the worker as it was added.
    const q = ctx.queue({ blockingTimeout: 60 });
    const next = receiver(q);
    const cases: Array<[string, unknown]> = [
      ['Map', new Map([['a', 1]])],
      ['Set', new Set([1, 2])],
      ['Uint8Array', new Uint8Array([1, 2, 3])],
      ['boxed NaN', new Number(NaN)],
      ['symbol key', { [Symbol('s')]: 1 }],
      ['nested Map', { inner: new Map([['a', 1]]) }],
    ];
    const changed: string[] = [];
    for (const [what, payload] of cases) {
      try {
        await roundTripOrRefuse(q, next, `js-${what}`, payload);
      } catch (err) {
        changed.push(`${what}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    t.deepEqual(changed, [], 'accepted, then delivered as something else');
    await q.close();
  });

  test.serial('random queue names are either refused or keep every key under prefix:{name}: in Redis', async (t) => {
    const inspect = ctx.backend.inspect;
    const forbidden = /[{}*\s]/u;
    const names = fc.string({
      unit: fc.oneof(
        { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
        { weight: 2, arbitrary: fc.constantFrom('{', '}', '*', '\n', ' ', ':', '?', '[', '\u0085', '\uFFFD') },
        { weight: 1, arbitrary: char(0, 0x1f) },
      ),
      maxLength: 12,
    });
    const seen = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(names, async (name) => {
        let q: Queue<unknown>;
        try {
          q = createQueue(name, { redis: ctx.backend.redis, prefix: 'names' });
        } catch (err) {
          assert.ok(err instanceof InvalidOptionError, String(err));
          seen.refused++;
          return;
        }
        seen.accepted++;
        try {
          assert.ok(!forbidden.test(name) && name !== '', `accepted ${JSON.stringify(name)}`);
          const base = `names:{${name}}:`;
          for (const key of Object.values(q.keys)) assert.ok(key.startsWith(base));
          await q.addJob(new Job('k', 1));
          const written = (await inspect.sendCommand(['KEYS', 'names:*'])) as string[];
          assert.ok(written.length >= 3);
          for (const key of written) {
            assert.ok(key.startsWith(base), `${JSON.stringify(key)} is not under ${JSON.stringify(base)}`);
            // The cluster hash tag is the text between the first { and the next }.
            const open = key.indexOf('{');
            assert.equal(key.slice(open + 1, key.indexOf('}', open + 1)), name);
          }
          await inspect.sendCommand(['DEL', ...written]);
        } finally {
          await q.close();
        }
      }),
      { numRuns: 150 },
    );
    t.log(seen);
    t.true(seen.accepted > 20 && seen.refused > 20);
  });
}, [standalone]);

// Behaviour on every backend.
forEachBackend((test, ctx) => {
  test('addJobs with one refused job writes none of them', async (t) => {
    const q = ctx.queue();
    await t.throwsAsync(q.addJobs([new Job('ok-1', 1), new Job('bad', NaN), new Job('ok-2', 2)]), { instanceOf: InvalidPayloadError });
    await t.throwsAsync(q.addJobs([new Job('ok-3'), 'not a job' as unknown as Job]), { instanceOf: InvalidArgumentError, message: /got "not a job"/ });
    for (const key of Object.values(q.keys)) t.is(await ctx.backend.inspect.exists(key), 0, key);
    t.is(await q.countQueued(), 0);
  });

  // ---- queue names

  test('queue names with braces, *, ?, brackets, backslash, whitespace or controls are refused with InvalidOptionError', (t) => {
    const bad = ['a}b', '{a', 'a{b}c', '}', 'a*', 'q?', 'q[1]', 'back\\slash', 'new\nline', 'sp ace', 'tab\t', 'nul\u0000', 'del\u007f', 'ls\u2028', 'nbsp\u00a0', '', 'x'.repeat(201)];
    for (const name of bad) {
      const err = t.throws(() => createQueue(name, { redis: ctx.backend.redis }), { instanceOf: InvalidOptionError }, JSON.stringify(name));
      t.true(err instanceof InvalidArgumentError);
    }
    for (const prefix of ['p}', '{p', 'p*', 'p q', 'p\n']) {
      t.throws(() => createQueue('fine', { redis: ctx.backend.redis, prefix }), { instanceOf: InvalidOptionError }, JSON.stringify(prefix));
    }
    t.throws(() => createQueue(42 as unknown as string, { redis: ctx.backend.redis }), { instanceOf: InvalidOptionError });
  });

  test('two queue names that differ only in a lone surrogate do not share keys', async (t) => {
    // A lone surrogate cannot be written as UTF-8: node-redis sends U+FFFD in its
    // place, so such names would all land on the same keys.
    const names = ['lone\uD800', 'lone\uDC00', 'lone\uFFFD'];
    const queues: Queue<unknown>[] = [];
    try {
      for (const name of names) {
        try {
          queues.push(createQueue(name, { redis: ctx.backend.redis }));
        } catch (err) {
          t.true(err instanceof InvalidOptionError, `${JSON.stringify(name)}: ${String(err)}`);
        }
      }
      for (const [i, q] of queues.entries()) await q.addJob(new Job(`only-in-${i}`));
      for (const q of queues) t.is(await q.countQueued(), 1, `${JSON.stringify(q.name)} sees the jobs of the other names`);
    } finally {
      await Promise.all(queues.map((q) => q.close()));
    }
  });

  // ---- foreign data

  for (const name of ['queued', 'committed', 'payload', 'wake'] as const) {
    test(`a string in the ${name} key makes addJob reject with a ForeignDataError naming that key`, async (t) => {
      const q = ctx.queue();
      const key = q.keys[name];
      await ctx.backend.inspect.set(key, 'x');
      const err = await t.throwsAsync(q.addJob(new Job('a', { n: 1 })), { instanceOf: ForeignDataError });
      t.is(err?.key, key);
      t.true(err?.message.includes(key));
      t.regex(err?.message ?? '', /string/);
    });
  }

  for (const name of ['queued', 'payload'] as const) {
    test(`an add refused for a foreign ${name} key leaves no trace: once the key is gone the ID queues and runs`, async (t) => {
      const q = ctx.queue();
      const inspect = ctx.backend.inspect;
      await inspect.set(q.keys[name], 'x');
      await t.throwsAsync(q.addJob(new Job('a', { n: 1 })), { instanceOf: ForeignDataError });
      t.deepEqual(await inspect.sMembers(q.keys.committed), [], 'the failed add left the ID in the committed set');
      await inspect.del(q.keys[name]);
      t.is(await q.addJob(new Job('a', { n: 2 })), 'queued');
      const ran: unknown[] = [];
      q.process(async (job) => {
        ran.push(job.payload);
      });
      await until(() => ran.length, (v) => v === 1, 'the job to run').catch(() => undefined);
      t.deepEqual(ran, [{ n: 2 }]);
    });
  }

  test('a non-JSON payload written under a queued ID fails that job with a ForeignDataError; other jobs still run', async (t) => {
    const q = ctx.queue<{ n: number }>();
    await q.addJob(new Job('before', { n: 1 }));
    await q.addJob(new Job('bad', { n: 2 }));
    await ctx.backend.inspect.hSet(q.keys.payload, 'bad', '{"n": 2, oops');
    await q.addJob(new Job('after', { n: 3 }));
    const ran: string[] = [];
    const failed: Array<[string, Error]> = [];
    const errors: string[] = [];
    q.on('failed', (job, err) => failed.push([job.id, err]));
    q.on('error', (err) => errors.push(err.message));
    q.process(async (job) => {
      ran.push(job.id);
    });
    await until(
      async () => ({ stats: await q.stats(), ran: [...ran], failed: failed.map(([id, err]) => `${id}: ${err.name}`), errors: errors.slice(-3) }),
      (s) => s.stats.committed === 0 && s.failed.length === 1,
      "the queue to drain with 'bad' failed",
    );
    t.deepEqual(ran.sort(), ['after', 'before']);
    t.is(failed[0][0], 'bad');
    t.true(failed[0][1] instanceof ForeignDataError);
    t.true(failed[0][1].message.includes(q.keys.payload));
    const records = await q.getFailed();
    t.deepEqual(records.map((r) => r.id), ['bad']);
    t.is(records[0].lastError?.name, 'ForeignDataError');
    t.true(records[0].lastError?.message.includes(q.keys.payload));
    t.is(records[0].count, 1);
  });

  test('a non-JSON error record is shown as its text by getFailed, not thrown', async (t) => {
    const q = ctx.queue();
    const inspect = ctx.backend.inspect;
    await inspect.zAdd(q.keys.failed, { score: 2, value: 'x' });
    await inspect.hSet(q.keys.failinfo, 'x', 'not json at all');
    const [record] = await q.getFailed();
    t.is(record.id, 'x');
    t.is(record.count, 2);
    t.is(record.lastError?.message, 'not json at all');
  });

  // ---- big inputs: Lua's unpack() takes at most about 8000 values

  async function nineThousandFailures(q: Queue<unknown>): Promise<string[]> {
    const ids = Array.from({ length: 9000 }, (_, i) => `f${i}`);
    await ctx.backend.inspect.zAdd(q.keys.failed, ids.map((value) => ({ score: 1, value })));
    await ctx.backend.inspect.hSet(q.keys.failinfo, Object.fromEntries(ids.map((id) => [id, JSON.stringify({ message: 'x', time: 1 })])));
    return ids;
  }

  test('getFailed with a limit of 10000 reads all 9000 failure records', async (t) => {
    const q = ctx.queue();
    await nineThousandFailures(q);
    const page = await q.getFailed({ limit: 10_000 }).catch((err: Error) => err);
    t.false(page instanceof Error, String(page));
    t.is((page as unknown[]).length, 9000);
  });

  test('removeFailed forgets 9000 IDs in one call', async (t) => {
    const q = ctx.queue();
    const ids = await nineThousandFailures(q);
    const removed = await q.removeFailed(...ids).catch((err: Error) => err);
    t.is(removed, 9000, String(removed));
    t.is(await q.countFailed(), 0);
  });

  test('a worker with concurrency 4500 claims and runs 4500 jobs at once', async (t) => {
    const q = ctx.queue({ concurrency: 4500, blockingTimeout: 1 });
    const errors: string[] = [];
    q.on('error', (err) => errors.push(err.message));
    await q.addJobs(Array.from({ length: 4500 }, (_, i) => new Job(`c${i}`)));
    let running = 0;
    let most = 0;
    let done = 0;
    // Every handler waits until all 4500 run at once (or 30 s went by), so the
    // count does not depend on how fast a busy machine claims them.
    let openGate = () => undefined as void;
    const gate = new Promise<void>((r) => (openGate = r));
    const fallback = setTimeout(openGate, 30_000);
    t.teardown(() => clearTimeout(fallback));
    q.process(async () => {
      most = Math.max(most, ++running);
      if (running === 4500) openGate();
      await gate;
      running--;
      done++;
    });
    await until(() => ({ done, errors: errors.length }), (s) => s.done === 4500 || s.errors > 0, { what: 'the 4500 jobs to run', timeout: 50_000 }).catch(() => undefined);
    t.deepEqual(errors.slice(0, 1), []);
    t.is(done, 4500);
    t.is(most, 4500, `at most ${most} at once`);
  });

  test('queueKeys puts every key of a name under prefix:{name}:', (t) => {
    const keys = queueKeys('convoy', 'orders:eu');
    for (const key of Object.values(keys)) t.true(key.startsWith('convoy:{orders:eu}:'));
    t.is(new Set(Object.values(keys)).size, Object.keys(keys).length);
  });
});

/**
 * Every state change against foreign data in every key of the layout: each
 * script either fails with a ForeignDataError naming that key and changes
 * nothing at all, or leaves the foreign key as it was.
 */
forEachBackend((test, ctx) => {
  const TOKEN = '1000000';
  /** The repeat of the failed ID 'e', due at 5 ms. */
  const REPEAT_SPEC = '0 {"every":1000,"mode":"ignore"}';
  /**
   * A queue in every state at once: queued (one debounced, with a deadline),
   * processing (leases lapsed; one superseded), a rerun, a failure record, the
   * sweep lock held.
   */
  async function seed(q: Queue<unknown>, emptyQueue: boolean): Promise<void> {
    const { inspect } = ctx.backend;
    const k = q.keys;
    // With an empty queue, scripts that enqueue also write the wake-up marker.
    if (!emptyQueue) await inspect.rPush(k.queued, ['a', 'b']);
    await inspect.sAdd(k.committed, ['a', 'b', 'c', 'd', 's']);
    await inspect.zAdd(k.scheduled, { score: 1, value: 's' });
    await inspect.hSet(k.options, { c: '{"attempts":3}', d: '{"stallLimit":0}' });
    await inspect.hSet(k.attempts, { c: '1' });
    await inspect.hSet(k.stalls, { d: '1' });
    await inspect.hSet(k.progress, { c: '5' });
    await inspect.zAdd(k.processing, [{ score: Number(TOKEN), value: 'c' }, { score: Number(TOKEN), value: 'd' }]);
    await inspect.zAdd(k.leases, [{ score: 1, value: 'c' }, { score: 1, value: 'd' }]);
    await inspect.hSet(k.payload, { a: '{"n":1}', c: '{"n":3}', e: '{"n":5}' });
    await inspect.sAdd(k.rerun, 'c');
    await inspect.zAdd(k.failed, { score: 1, value: 'e' });
    await inspect.hSet(k.failinfo, 'e', '{"message":"old","time":1}');
    await inspect.rPush(k.errors, '{"message":"old"}');
    await inspect.set(k.lock, 'L');
    await inspect.zAdd(k.repeats, { score: 5, value: 'e' });
    await inspect.hSet(k.repeatspec, 'e', REPEAT_SPEC);
    await inspect.sAdd(k.superseded, 'd');
    await inspect.hSet(k.deadline, { a: '99999999999999' });
    await inspect.sendCommand(['XADD', k.events, '*', 'event', 'added', 'id', 'a']);
    await inspect.hSet(k.results, 'f', 'r1');
    await inspect.zAdd(k.resultorder, { score: 1, value: 'f' });
  }

  /** Each key's type and contents, in a canonical order (a hash table's own order may change on a read). */
  async function snapshot(q: Queue<unknown>): Promise<Record<string, unknown>> {
    const { inspect } = ctx.backend;
    const out: Record<string, unknown> = {};
    for (const name of KEY_NAMES) {
      const key = q.keys[name];
      const type = String(await inspect.sendCommand(['TYPE', key]));
      const read: Record<string, string[]> = {
        list: ['LRANGE', key, '0', '-1'],
        set: ['SMEMBERS', key],
        zset: ['ZRANGE', key, '0', '-1', 'WITHSCORES'],
        hash: ['HGETALL', key],
        string: ['GET', key],
        stream: ['XRANGE', key, '-', '+'],
      };
      const value = read[type] ? await inspect.sendCommand(read[type]) : null;
      out[name] = [type, Array.isArray(value) && type !== 'list' && type !== 'zset' ? [...(value as string[])].map(String).sort() : value];
    }
    return out;
  }

  // Each script, with arguments that make it write to every key it can write.
  const calls: Array<[ScriptName, string[], string?]> = [
    ['add', ['rerun', 'ignore', '', '5', 'a', 'c', 'e', 'new', 'later', '2', '4', '{"p":1}', '{"attempts":2}', '', '5', '', '', '500']],
    ['add', ['supersede', 'debounce', '1000', '4', 'a', 'c', 's', 'fresh', '1', '1', '{"p":2}', '{"attempts":2}', '100', '4', 'debounce', '', '300'], 'supersede, debounce'],
    ['add', ['ignore', 'replace', '', '2', 'a', 's', '2', '1', '{"p":3}', '', '', '2', '', '', '50', '1', '', 'rerun', ''], 'replace'],
    ['add', ['ignore', 'ignore', '', '2', 'p1', 'g1', '2', '1', '', '{"priority":3}', '', '2', '', '{"group":"g"}', ''], 'a prioritized and a grouped job'],
    ['setControl', ['1000', 'concurrency', '2', 'gconcurrency', '1', 'max', '10', 'duration', '1000']],
    ['pause', []],
    ['resume', ['1000']],
    ['release', ['500', 'c', TOKEN], 'with a RateLimitError wait'],
    ['claim', ['2', '1', '30000']],
    ['complete', ['1', '1', '30000', 'c', TOKEN, '{"r":1}']],
    ['fail', ['1', '1', '30000', '10', '100', 'c', TOKEN, '{"message":"x"}', '100', 'd', TOKEN, '{"message":"y"}', '']],
    ['promote', ['s']],
    ['progress', ['c', TOKEN, '{"pct":5}']],
    ['renew', ['30000', '10', '10', '100', 'w1', '{"id":"w1"}', 'c', TOKEN]],
    ['release', ['c', TOKEN]],
    ['sweep', ['L', '0', '10', '10', '100', '30000']],
    ['removeFailed', ['', 'e']],
    ['unlock', ['L']],
    ['removeJob', ['c'], 'a processing ID'],
    ['removeJob', ['a'], 'a queued ID'],
    ['removeJob', ['s'], 'a scheduled ID'],
    ['removeJob', ['e'], 'a failed ID'],
    ['retryFailed', ['1000', 'e']],
    ['retryFailed', ['1000'], 'all'],
    ['drain', ['1000']],
    ['obliterate', ['1']],
    ['repeatSet', ['new', '{"every":1000,"mode":"ignore"}', '1']],
    ['repeatRemove', ['e']],
    ['repeatFire', ['e', '5', createHash('sha1').update(REPEAT_SPEC).digest('hex'), '6000', 'rerun', '{"p":1}', '{"attempts":2}']],
  ];

  for (const [script, args, label] of calls) {
    test(`${script}${label ? ` (${label})` : ''}: foreign data in any key fails the call with ForeignDataError and changes nothing`, async (t) => {
      for (const [key, emptyQueue] of KEY_NAMES.flatMap((k) => [[k, false], [k, true]] as const)) {
        const q = ctx.queue();
        q.on('error', () => undefined);
        await seed(q, emptyQueue);
        await ctx.backend.inspect.del(q.keys[key]);
        await ctx.backend.inspect.sendCommand(['SET', q.keys[key], 'foreign']);
        const before = await snapshot(q);
        try {
          await q.run(script, args, `test ${script}`);
          t.is(String(await ctx.backend.inspect.sendCommand(['GET', q.keys[key]])), 'foreign', `${script} with foreign ${key}: left it alone`);
        } catch (err) {
          t.true(err instanceof ForeignDataError, `${script} with foreign ${key}: ${String(err)}`);
          t.is((err as ForeignDataError).key, q.keys[key], `${script} with foreign ${key}: the error names it`);
          t.deepEqual(await snapshot(q), before, `${script} with foreign ${key}: nothing changed`);
        }
      }
    });
  }
});
