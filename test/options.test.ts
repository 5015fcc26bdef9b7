import test from 'ava';
import { resolveOptions } from '../src/options.js';
import { ConvoyError, InvalidArgumentError, InvalidOptionError } from '../src/index.js';
import defaults from '../config/default.json' with { type: 'json' };

test('defaults come from config/default.json', (t) => {
  const { options } = resolveOptions('q', { redis: 'redis://127.0.0.1:1' });
  t.is(options.prefix, defaults.prefix);
  t.is(options.concurrency, defaults.concurrency);
  t.is(options.jobTimeout, defaults.jobTimeout);
  t.is(options.blockingTimeout, defaults.blockingTimeout);
  t.is(options.duplicateWhileProcessing, 'ignore');
  t.is(options.jamGuardIdle, (2 * defaults.jobTimeout) / 1000);
});

test('concurrentWorkers is accepted for concurrency', (t) => {
  t.is(resolveOptions('q', { concurrentWorkers: 7 }).options.concurrency, 7);
  t.throws(() => resolveOptions('q', { concurrency: 2, concurrentWorkers: 3 }), { instanceOf: InvalidOptionError });
});

test('the Redis URL comes from CONVOY_REDIS_URL, then REDIS_URL, when none is given', (t) => {
  const saved = { a: process.env.CONVOY_REDIS_URL, b: process.env.REDIS_URL };
  try {
    process.env.REDIS_URL = 'redis://127.0.0.1:7001';
    delete process.env.CONVOY_REDIS_URL;
    t.is(resolveOptions('q').options.redis, 'redis://127.0.0.1:7001');
    process.env.CONVOY_REDIS_URL = 'redis://127.0.0.1:7002';
    t.is(resolveOptions('q').options.redis, 'redis://127.0.0.1:7002');
    t.is(resolveOptions('q', { redis: 'redis://127.0.0.1:7003' }).options.redis, 'redis://127.0.0.1:7003');
  } finally {
    if (saved.a === undefined) delete process.env.CONVOY_REDIS_URL;
    else process.env.CONVOY_REDIS_URL = saved.a;
    if (saved.b === undefined) delete process.env.REDIS_URL;
    else process.env.REDIS_URL = saved.b;
  }
});

for (const [label, name, opts] of [
  ['a non-string name', 42, {}],
  ['an empty name', '', {}],
  ['a name with {', 'a{b', {}],
  ['a name with }', 'a}b', {}],
  ['a name with whitespace', 'a b', {}],
  ['a name with a newline', 'a\nb', {}],
  ['a name with *', 'a*', {}],
  ['negative concurrency', 'q', { concurrency: -1 }],
  ['zero concurrency', 'q', { concurrency: 0 }],
  ['fractional concurrency', 'q', { concurrency: 1.5 }],
  ['a negative jobTimeout', 'q', { jobTimeout: -5 }],
  ['a string jobTimeout', 'q', { jobTimeout: '100' }],
  ['an unknown duplicate policy', 'q', { duplicateWhileProcessing: 'twice' }],
  ['a prefix with a brace', 'q', { prefix: 'a{' }],
  ['a redis URL of another scheme', 'q', { redis: 'http://localhost' }],
  ['a zero blockingTimeout', 'q', { blockingTimeout: 0 }],
  // Node fires a timer over 2^31-1 ms at once: 30 days would mean 1 ms.
  ['a jobTimeout of 30 days', 'q', { jobTimeout: 30 * 86_400_000 }],
  ['a jamGuardInterval over the timer limit', 'q', { jamGuardInterval: 2 ** 31 }],
  ['a commandTimeout over the timer limit', 'q', { commandTimeout: 2 ** 31 }],
  ['a stallTimeout over the timer limit', 'q', { stallTimeout: 2 ** 31 }],
  ['a blockingTimeout over the timer limit', 'q', { blockingTimeout: 2 ** 31 }],
] as const) {
  test(`${label} is refused at creation`, (t) => {
    const err = t.throws(() => resolveOptions(name as never, opts as never), { instanceOf: InvalidOptionError });
    t.true(err instanceof InvalidArgumentError);
    t.true(err instanceof ConvoyError);
  });
}

test('a bad option value is quoted as given: a string in quotes, a number bare', (t) => {
  t.throws(() => resolveOptions('q', { jobTimeout: '100' as never }), { instanceOf: InvalidOptionError, message: 'jobTimeout must be an integer from 0 to 2147483647, got "100"' });
  t.throws(() => resolveOptions('q', { concurrency: 1.5 }), { instanceOf: InvalidOptionError, message: 'concurrency must be an integer >= 1, got 1.5' });
  t.throws(() => resolveOptions('q', { prefix: [] as never }), { instanceOf: InvalidOptionError, message: /got an array$/ });
});

for (const [given, message] of [
  ['concurrncy', 'unknown option `concurrncy`; did you mean `concurrency`?'],
  ['Concurrency', 'unknown option `Concurrency`; did you mean `concurrency`?'],
  ['jobtimeout', 'unknown option `jobtimeout`; did you mean `jobTimeout`?'],
  ['maxPayloadByte', 'unknown option `maxPayloadByte`; did you mean `maxPayloadBytes`?'],
  ['stalTimeout', 'unknown option `stalTimeout`; did you mean `stallTimeout`?'],
] as const) {
  test(`an unknown option ${given} is refused with the nearest known one`, (t) => {
    t.throws(() => resolveOptions('q', { [given]: 4 } as never), { instanceOf: InvalidOptionError, message });
  });
}

test('an unknown option with no near known one is refused with the list of options', (t) => {
  const err = t.throws(() => resolveOptions('q', { retries: 3 } as never), { instanceOf: InvalidOptionError });
  t.regex(err.message, /^unknown option `retries` \(option takes `redis`, `prefix`, .*`keepResults`, `plugins`, .*`backoffStrategy`\)$/);
});

test('a job option given to the queue is refused with where it belongs', (t) => {
  t.throws(() => resolveOptions('q', { attempts: 3 } as never), {
    instanceOf: InvalidOptionError,
    message: 'unknown option `attempts`; it is a job option: give it to `new Job(id, payload, { attempts })` or in `defaultJobOptions`',
  });
});

test('an unknown option is refused even when its value is undefined', (t) => {
  t.throws(() => resolveOptions('q', { retries: undefined } as never), { instanceOf: InvalidOptionError, message: /`retries`/ });
});

test('stallTimeout is a known option with its default in config/default.json', (t) => {
  t.notThrows(() => resolveOptions('q', { stallTimeout: 10_000 }));
  t.is(defaults.stallTimeout, 30_000);
});
