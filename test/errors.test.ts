/**
 * The error policy (README, "Errors"): misuse of the API throws or rejects with
 * a named, exported ConvoyError subclass, never a plain Error or TypeError, and
 * the message quotes the bad value as it was given.
 */
import test from 'ava';
import Convoy, * as api from '../src/index.js';
import {
  AlreadyProcessingError,
  ConvoyError,
  InvalidArgumentError,
  InvalidJobIdError,
  InvalidOptionError,
  InvalidPayloadError,
  Job,
  QueueClosedError,
  createQueue,
  type Queue,
} from '../src/index.js';
import { describe } from '../src/util.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';

let server: RedisServer | undefined;
const open = new Set<Queue>();
let n = 0;

test.before(async () => {
  server = await startRedisServer();
});

test.after.always(async () => {
  await Promise.allSettled([...open].map((q) => q.close({ timeout: 1000 })));
  await server?.stop();
});

function queue(): Queue {
  const q = createQueue(`errors-${process.pid}-${++n}`, { redis: server!.url });
  open.add(q);
  return q;
}

const ERROR_CLASSES = Object.entries(api).filter(([name, v]) => name.endsWith('Error') && typeof v === 'function' && v.prototype instanceof Error) as Array<[string, new (m: string) => Error]>;

test('every exported error class is a ConvoyError, named as exported, and in the default export', (t) => {
  t.deepEqual(ERROR_CLASSES.map(([name]) => name).sort(), Object.keys(Convoy.errors).sort());
  t.true(ERROR_CLASSES.length >= 10);
  for (const [name, Class] of ERROR_CLASSES) {
    const err = name === 'ForeignDataError' ? new (Class as unknown as new (k: string, d: string) => Error)('k', 'd') : new Class('m');
    t.true(err instanceof ConvoyError, name);
    t.true(err instanceof Error, name);
    t.is(err.name, name);
    t.is((Convoy.errors as Record<string, unknown>)[name], Class);
  }
  for (const Sub of [InvalidJobIdError, InvalidPayloadError, InvalidOptionError]) {
    t.true(new Sub('m') instanceof InvalidArgumentError, Sub.name);
    t.false(new Sub('m') instanceof TypeError, `${Sub.name} is no longer a TypeError`);
  }
});

test('describe shows a value as it was given', (t) => {
  t.is(describe('5'), '"5"');
  t.is(describe(5), '5');
  t.is(describe(-0), '-0');
  t.is(describe(Number.NaN), 'NaN');
  t.is(describe(10n), '10n');
  t.is(describe(true), 'true');
  t.is(describe(null), 'null');
  t.is(describe(undefined), 'undefined');
  t.is(describe({ id: 'x' }), 'an object');
  t.is(describe([1]), 'an array');
  t.is(describe(new Map()), 'a Map');
  t.is(describe(new Error('x')), 'an Error');
  t.is(describe(function handler() {}), 'function handler');
  t.is(describe(Symbol('s')), 'Symbol(s)');
  t.is(describe('x'.repeat(100)), `"${'x'.repeat(60)}"… (100 characters)`);
});

/** Each misuse: what it does, the error class (exactly), and a piece of the message that quotes the value. */
const MISUSE: Array<[string, (q: Queue) => unknown, new (m: string) => Error, string | RegExp]> = [
  ['addJob of a non-Job', (q) => q.addJob({ id: 'x' } as never), InvalidArgumentError, 'addJob takes a Job, as in q.addJob(new Job(id, payload)); got an object'],
  ['addJob of a string', (q) => q.addJob('x' as never), InvalidArgumentError, 'got "x"'],
  ['addJobs of a non-array', (q) => q.addJobs('x' as never), InvalidArgumentError, 'addJobs takes an array of Job, got "x"'],
  ['addJobs with a non-Job in it', (q) => q.addJobs([new Job(1), 2 as never]), InvalidArgumentError, 'addJobs: jobs[1] takes a Job'],
  ['addJob of an unserialisable payload', (q) => q.addJob(new Job(1, { n: 1n })), InvalidPayloadError, /bigint/],
  ['process of a non-function', (q) => q.process('handler' as never), InvalidArgumentError, /^process takes a handler function, or a handler module's path .*; got "handler"$/],
  ['jamGuard of a string', (q) => q.jamGuard('5' as never), InvalidArgumentError, 'got "5"'],
  ['jamGuard of a negative number', (q) => q.jamGuard(-1), InvalidArgumentError, 'got -1'],
  ['getFailed of a non-object', (q) => q.getFailed('x' as never), InvalidArgumentError, 'getFailed takes an options object, got "x"'],
  ['getFailed with a string limit', (q) => q.getFailed({ limit: '5' as never }), InvalidOptionError, 'getFailed option `limit` must be an integer >= 1, got "5"'],
  ['getFailed with an unknown key', (q) => q.getFailed({ limt: 5 } as never), InvalidOptionError, 'unknown getFailed option `limt`; did you mean `limit`?'],
  ['trimFailed without options', (q) => q.trimFailed(undefined as never), InvalidOptionError, 'got undefined'],
  ['trimFailed with a string', (q) => q.trimFailed({ olderThan: '60' as never }), InvalidOptionError, 'got "60"'],
  ['trimFailed with an unknown key', (q) => q.trimFailed({ olderthan: 60 } as never), InvalidOptionError, 'did you mean `olderThan`?'],
  ['removeFailed of a bad id', (q) => q.removeFailed({} as never), InvalidJobIdError, 'got an object'],
  ['stopProcessing with a string timeout', (q) => q.stopProcessing({ timeout: '5' as never }), InvalidOptionError, 'got "5"'],
  ['close with an unknown key', (q) => q.close({ timout: 5 } as never), InvalidOptionError, 'did you mean `timeout`?'],
];

for (const [label, call, Class, message] of MISUSE) {
  test(`${label}: ${Class.name}`, async (t) => {
    const q = queue();
    let err: unknown;
    try {
      await call(q);
    } catch (e) {
      err = e;
    }
    t.truthy(err, 'it fails');
    t.is((err as Error).constructor, Class, String(err));
    t.true(err instanceof ConvoyError);
    if (typeof message === 'string') t.true((err as Error).message.includes(message), (err as Error).message);
    else t.regex((err as Error).message, message);
  });
}

test('a Promise-returning call rejects on misuse rather than throwing synchronously', (t) => {
  const q = queue();
  for (const call of [() => q.addJob(7 as never), () => q.addJobs('x' as never), () => q.close({ timeout: -1 }), () => q.jamGuard('5' as never)]) {
    let promise: Promise<unknown> | undefined;
    t.notThrows(() => {
      promise = call() as Promise<unknown>;
    });
    t.true(promise instanceof Promise);
    promise?.catch(() => undefined);
  }
});

test('createQueue with a misspelt or unknown option throws an InvalidOptionError', (t) => {
  t.throws(() => createQueue('q', { concurrncy: 4 } as never), {
    instanceOf: InvalidOptionError,
    message: 'unknown option `concurrncy`; did you mean `concurrency`?',
  });
  t.throws(() => createQueue('q', { attempts: 3 } as never), { instanceOf: InvalidOptionError, message: /^unknown option `attempts`/ });
  t.throws(() => createQueue(5 as never), { instanceOf: InvalidOptionError, message: /queue name must be .*, got 5$/ });
});

test('process twice is an AlreadyProcessingError', async (t) => {
  const q = queue();
  q.process(async () => undefined);
  const err = t.throws(() => q.process(async () => undefined), { instanceOf: AlreadyProcessingError });
  t.regex(err.message, /already processing/);
  await q.stopProcessing();
});

test('every call after close() is a QueueClosedError; close and stopProcessing stay harmless', async (t) => {
  const q = queue();
  await q.stats();
  await q.close();
  const calls: Array<[string, () => unknown]> = [
    ['addJob', () => q.addJob(new Job(1))],
    ['addJobs', () => q.addJobs([new Job(1)])],
    ['process', () => q.process(async () => undefined)],
    ['jamGuard', () => q.jamGuard(1)],
    ['countQueued', () => q.countQueued()],
    ['countCommitted', () => q.countCommitted()],
    ['countProcessing', () => q.countProcessing()],
    ['countFailed', () => q.countFailed()],
    ['stats', () => q.stats()],
    ['getFailed', () => q.getFailed()],
    ['removeFailed', () => q.removeFailed('a')],
    ['trimFailed', () => q.trimFailed({ olderThan: 1 })],
    ['countScheduled', () => q.countScheduled()],
    ['promote', () => q.promote('a')],
    ['getJob', () => q.getJob('a')],
    ['listJobs', () => q.listJobs('queued')],
    ['removeJob', () => q.removeJob('a')],
    ['retryFailed', () => q.retryFailed()],
    ['drain', () => q.drain()],
    ['obliterate', () => q.obliterate()],
    ['getWorkers', () => q.getWorkers()],
  ];
  for (const [name, call] of calls) {
    let err: unknown;
    try {
      await call();
    } catch (e) {
      err = e;
    }
    t.true(err instanceof QueueClosedError, `${name}: ${String(err)}`);
    t.true((err as Error).message.includes(`${name}() cannot run after close()`), (err as Error).message);
  }
  // Closed even with bad arguments: the closed queue is the first thing said.
  await t.throwsAsync(q.jamGuard('5' as never), { instanceOf: QueueClosedError });
  await t.notThrowsAsync(q.close());
  await t.notThrowsAsync(q.stopProcessing());
});
