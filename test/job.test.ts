import test from 'ava';
import { Job, ConvoyError, InvalidArgumentError, InvalidJobIdError, MAX_ID_BYTES } from '../src/index.js';
import { encodePayload } from '../src/job.js';
import { InvalidPayloadError } from '../src/errors.js';

test('a numeric id is stored as its decimal string', (t) => {
  t.is(new Job(1).id, '1');
  t.is(new Job(0.5).id, '0.5');
  t.is(new Job('abc').id, 'abc');
});

for (const [label, bad, shown] of [
  ['undefined', undefined, 'got undefined'],
  ['null', null, 'got null'],
  ['an empty string', '', 'got ""'],
  ['an object', { id: 1 }, 'got an object'],
  ['NaN', Number.NaN, 'got NaN'],
  ['Infinity', Number.POSITIVE_INFINITY, 'got Infinity'],
  ['a boolean', true, 'got true'],
  ['a lone surrogate', 'a\uD800', 'got "a\\ud800"'],
] as const) {
  test(`an id that is ${label} throws an InvalidJobIdError that quotes it`, (t) => {
    const err = t.throws(() => new Job(bad as never), { instanceOf: InvalidJobIdError });
    t.true(err instanceof InvalidArgumentError);
    t.true(err instanceof ConvoyError);
    t.regex(err.message, /job id/);
    t.true(err.message.includes(shown), err.message);
  });
}

test('an id over 1024 bytes throws; one of exactly 1024 bytes is fine', (t) => {
  t.is(new Job('x'.repeat(MAX_ID_BYTES)).id.length, MAX_ID_BYTES);
  t.throws(() => new Job('x'.repeat(MAX_ID_BYTES + 1)), { instanceOf: InvalidJobIdError, message: /1025 bytes/ });
  // bytes, not characters: 342 three-byte characters are 1026 bytes
  t.throws(() => new Job('€'.repeat(342)), { instanceOf: InvalidJobIdError });
});

test('a payload is kept on the job as given', (t) => {
  const payload = { a: [1, 'two', null], b: { c: true } };
  t.is(new Job(1, payload).payload, payload);
  t.is(new Job(1).payload, undefined);
});

test('every kind of JSON data is accepted as a payload and encodes as JSON.stringify does', (t) => {
  const data = { t: true, f: false, n: null, i: 42, x: -1.5e-7, s: 'truck ✓', a: [1, 'two', [false], {}], o: { deep: { deeper: [null] } } };
  for (const payload of [data, true, false, 0, 'text', [], [true, null]]) {
    t.is(encodePayload(payload, 10_000), JSON.stringify(payload));
  }
  t.is(encodePayload(Object.assign(Object.create(null) as object, { k: 1 }), 100), '{"k":1}');
});

test('payloads encode as JSON, and no payload as the empty string', (t) => {
  t.is(encodePayload(undefined, 100), '');
  t.is(encodePayload({ a: 1 }, 100), '{"a":1}');
  t.is(encodePayload(null, 100), 'null');
  t.is(encodePayload(new Date(0), 100), '"1970-01-01T00:00:00.000Z"');
});

for (const [label, bad, message] of [
  ['a BigInt', { n: 1n }, /bigint/],
  ['NaN', [1, Number.NaN], /NaN/],
  ['-0', { z: -0 }, /-0/],
  ['an undefined member', { u: undefined }, /undefined/],
  ['a function', () => 1, /function/],
  ['a Map', { m: new Map([[1, 2]]) }, /Map/],
  ['a boxed number', [new Number(1)], /Number/],
  ['a symbol key', { [Symbol('s')]: 1 }, /symbol/],
] as const) {
  test(`a payload with ${label} is refused`, (t) => {
    t.throws(() => encodePayload(bad, 1000), { instanceOf: InvalidPayloadError, message });
  });
}

test('a circular payload is refused with a clear error', (t) => {
  const a: Record<string, unknown> = {};
  a.self = a;
  t.throws(() => encodePayload(a, 1000), { instanceOf: InvalidPayloadError, message: /circular/i });
});

test('a payload over the size limit is refused', (t) => {
  t.throws(() => encodePayload('x'.repeat(100), 50), { instanceOf: InvalidPayloadError, message: /most is 50/ });
});
