/**
 * Encryption at rest (the `encryption` option): payloads, progress and error
 * records are stored sealed, read back by any queue object holding their key,
 * and a job that cannot be decrypted fails for good without running.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import test from 'ava';
import { DecryptionError, InvalidOptionError, Job, createQueue, type ActiveJob, type EncryptionOptions } from '../src/index.js';
import { decodeStored, encodeStored, resolveEncryption } from '../src/crypto.js';
import { forEachBackend, until } from './helpers/backends.js';

const BOUND = 30_000;
const keyA = randomBytes(32);
const keyB = randomBytes(32);
const onlyA: EncryptionOptions = { keys: { a: keyA }, current: 'a' };
const rotated: EncryptionOptions = { keys: { a: keyA, b: keyB }, current: 'b' };
const onlyB: EncryptionOptions = { keys: { b: keyB }, current: 'b' };

/** A sealed value with one bit of its ciphertext changed. */
function flipLastByte(sealed: string): string {
  const at = sealed.lastIndexOf(':') + 1;
  const raw = Buffer.from(sealed.slice(at), 'base64');
  raw[raw.length - 1] ^= 1;
  return sealed.slice(0, at) + raw.toString('base64');
}

test('encodeStored seals JSON with the current key id; decodeStored opens it, and passes plain JSON through', (t) => {
  const enc = resolveEncryption(rotated);
  const sealed = encodeStored('{"card":"4111-1111"}', enc);
  t.true(sealed.startsWith('\u0000enc1:b:'), JSON.stringify(sealed));
  t.false(sealed.includes('4111'));
  t.not(encodeStored('{"card":"4111-1111"}', enc), sealed, 'a fresh IV each time');
  t.is(decodeStored(sealed, enc, 'k', 'x'), '{"card":"4111-1111"}');
  t.is(decodeStored('{"plain":true}', enc, 'k', 'x'), '{"plain":true}');
  t.is(decodeStored('{"plain":true}', undefined, 'k', 'x'), '{"plain":true}');
  t.is(encodeStored('', enc), '', 'no payload stays no payload');
});

test('decodeStored: an unknown key id, a changed byte, an unknown format or no encryption option is a DecryptionError', (t) => {
  const sealed = encodeStored('{"n":1}', resolveEncryption(onlyA));
  t.throws(() => decodeStored(sealed, resolveEncryption(onlyB), 'k', 'x'), { instanceOf: DecryptionError, message: /key id "a".*not in/ });
  t.throws(() => decodeStored(flipLastByte(sealed), resolveEncryption(onlyA), 'k', 'x'), { instanceOf: DecryptionError, message: /does not decrypt/ });
  // Key "a" under another id: the auth tag fails just the same.
  t.throws(() => decodeStored(sealed, resolveEncryption({ keys: { a: keyB }, current: 'a' }), 'k', 'x'), { instanceOf: DecryptionError });
  t.throws(() => decodeStored('\u0000enc9:a:AAAA', resolveEncryption(onlyA), 'k', 'x'), { instanceOf: DecryptionError, message: /unknown stored format/ });
  t.throws(() => decodeStored(sealed, undefined, 'k', 'x'), { instanceOf: DecryptionError, message: /no `encryption` option/ });
});

for (const [label, encryption] of [
  ['not an object', 'secret'],
  ['no keys', { keys: {}, current: 'a' }],
  ['keys as an array', { keys: [keyA], current: '0' }],
  ['a 16-byte key', { keys: { a: randomBytes(16) }, current: 'a' }],
  ['a key given as a string', { keys: { a: 'x'.repeat(32) }, current: 'a' }],
  ['an empty key id', { keys: { '': keyA }, current: '' }],
  ['a key id with a colon', { keys: { 'a:1': keyA }, current: 'a:1' }],
  ['a current id not in keys', { keys: { a: keyA }, current: 'b' }],
  ['no current', { keys: { a: keyA } }],
  ['an unknown key', { keys: { a: keyA }, current: 'a', cipher: 'aes' }],
] as const) {
  test(`createQueue rejects encryption with ${label} (InvalidOptionError)`, (t) => {
    t.throws(() => createQueue('q', { redis: 'redis://127.0.0.1:1', encryption: encryption as never }), { instanceOf: InvalidOptionError, message: /encryption/ });
  });
}

test('createQueue takes a Uint8Array key, and the queue keeps its own copy', (t) => {
  const bytes = new Uint8Array(keyA);
  const enc = resolveEncryption({ keys: { a: bytes }, current: 'a' });
  const sealed = encodeStored('1', enc);
  bytes.fill(0);
  t.is(decodeStored(sealed, resolveEncryption(onlyA), 'k', 'x'), '1');
  t.notRegex(inspect(enc), /Buffer|Uint8Array|\d\d \d\d/, 'logging the options shows no key bytes');
});

forEachBackend((test, ctx) => {
  test('a payload is stored sealed; the handler, getJob and progress see it decrypted', async (t) => {
    const q = ctx.queue<{ card: string }>({ encryption: onlyA, jobTimeout: 0 });
    await q.addJob(new Job('pay', { card: 'CARD-MARKER-4111' }));
    const stored = String(await ctx.backend.inspect.sendCommand(['HGET', q.keys.payload, 'pay']));
    t.true(stored.startsWith('\u0000enc1:a:'), JSON.stringify(stored));
    t.false(stored.includes('CARD-MARKER'));
    t.deepEqual((await q.getJob('pay'))?.payload, { card: 'CARD-MARKER-4111' });
    t.deepEqual((await q.listJobs('queued')).map((j) => j.payload), [{ card: 'CARD-MARKER-4111' }]);

    let release!: () => void;
    const seen: ActiveJob<{ card: string }>[] = [];
    q.process(async (job) => {
      seen.push(job);
      await job.updateProgress({ note: 'PROGRESS-MARKER' });
      await new Promise<void>((r) => (release = r));
    });
    await until(async () => (await q.getJob('pay'))?.progress, Boolean, { what: 'the progress to be stored', timeout: BOUND });
    t.deepEqual(seen[0].payload, { card: 'CARD-MARKER-4111' });
    const progress = String(await ctx.backend.inspect.sendCommand(['HGET', q.keys.progress, 'pay']));
    t.false(progress.includes('PROGRESS-MARKER'), progress);
    t.deepEqual((await q.getJob('pay'))?.progress, { note: 'PROGRESS-MARKER' });
    release();
    await until(() => q.countCommitted(), (n) => n === 0, { what: 'the job to complete', timeout: BOUND });
  });

  test('error records are stored sealed; getFailed and getJob decrypt them; trimFailed still reads their time', async (t) => {
    const q = ctx.queue<{ card: string }>({ encryption: onlyA });
    q.process(async () => {
      throw new Error('ERROR-MARKER: card declined');
    });
    await q.addJob(new Job('f', { card: 'CARD-MARKER' }, { attempts: 2 }));
    await until(() => q.countFailed(), (n) => n === 1, { what: 'the job to fail for good', timeout: BOUND });
    const record = String(await ctx.backend.inspect.sendCommand(['HGET', q.keys.failinfo, 'f']));
    const log = (await ctx.backend.inspect.lRange(q.keys.errors, 0, -1)) as string[];
    t.is(log.length, 2, 'the retry and the final failure');
    for (const entry of [record, ...log]) {
      t.false(entry.includes('MARKER'), entry);
      t.true(entry.includes('\\u0000enc1:a:'), entry);
    }
    const [failed] = await q.getFailed();
    t.is(failed.lastError?.message, 'ERROR-MARKER: card declined');
    t.is(failed.lastError?.name, 'Error');
    t.deepEqual(failed.payload, { card: 'CARD-MARKER' });
    const info = await q.getJob('f');
    t.is(info?.lastError?.message, 'ERROR-MARKER: card declined');
    t.deepEqual(info?.payload, { card: 'CARD-MARKER' });
    t.is(await q.trimFailed({ olderThan: 3600 }), 0, 'the record is not an hour old');
    const other = ctx.queue({ name: q.name, encryption: onlyB });
    t.regex((await other.getFailed())[0].lastError?.message ?? '', /key id "a"/, 'a queue object without the key says so, and does not throw');
  });

  test('key rotation: jobs sealed with the old key and plain jobs of an unencrypted queue run on a queue whose current key is new', async (t) => {
    const name = ctx.name();
    const plain = ctx.queue({ name });
    const old = ctx.queue({ name, encryption: onlyA });
    const q = ctx.queue<{ n: number }>({ name, encryption: rotated });
    await plain.addJob(new Job('plain', { n: 0 }));
    await old.addJob(new Job('old', { n: 1 }));
    await q.addJob(new Job('new', { n: 2 }));
    t.true(String(await ctx.backend.inspect.sendCommand(['HGET', q.keys.payload, 'new'])).startsWith('\u0000enc1:b:'));
    t.is(String(await ctx.backend.inspect.sendCommand(['HGET', q.keys.payload, 'plain'])), '{"n":0}');
    const ran = new Map<string, unknown>();
    q.process(async (job) => {
      ran.set(job.id, job.payload);
    });
    await until(() => ran.size, (n) => n === 3, { what: 'the three jobs to run', timeout: BOUND });
    t.deepEqual(Object.fromEntries(ran), { plain: { n: 0 }, old: { n: 1 }, new: { n: 2 } });
    t.is(await q.countFailed(), 0);
  });

  test('a job that cannot be decrypted fails for good with a DecryptionError without running, and the worker goes on', async (t) => {
    const name = ctx.name();
    const producer = ctx.queue({ name, encryption: onlyA });
    const q = ctx.queue({ name, encryption: onlyB });
    await producer.addJob(new Job('unknown-key', { n: 1 }, { attempts: 3 }));
    await q.addJob(new Job('tampered', { n: 2 }, { attempts: 3 }));
    const stored = String(await ctx.backend.inspect.sendCommand(['HGET', q.keys.payload, 'tampered']));
    await ctx.backend.inspect.hSet(q.keys.payload, 'tampered', flipLastByte(stored));
    await q.addJob(new Job('good', { n: 3 }));
    const ran: string[] = [];
    const failed = new Map<string, Error>();
    q.on('failed', (job, err) => failed.set(job.id, err));
    q.process(async (job) => {
      ran.push(job.id);
    });
    await until(() => ran.includes('good') && failed.size === 2, Boolean, { what: 'the good job to run and the two others to fail', timeout: BOUND });
    t.deepEqual(ran, ['good']);
    for (const id of ['unknown-key', 'tampered']) {
      t.true(failed.get(id) instanceof DecryptionError, `${id}: ${failed.get(id)}`);
      t.is((failed.get(id) as DecryptionError).key, q.keys.payload);
    }
    t.regex(failed.get('unknown-key')!.message, /key id "a"/);
    const records = new Map((await q.getFailed()).map((f) => [f.id, f]));
    t.is(records.get('unknown-key')?.lastError?.name, 'DecryptionError');
    t.is(records.get('tampered')?.lastError?.name, 'DecryptionError');
    t.is(records.get('tampered')?.payload, undefined);
    // No retry, whatever attempts it had: one run, failed.
    t.deepEqual((await q.listJobs('failed')).map((j) => [j.id, j.attempt]).sort(), [['tampered', 1], ['unknown-key', 1]]);
    await t.throwsAsync(q.getJob('unknown-key'), { instanceOf: DecryptionError });
    t.deepEqual((await producer.getJob('unknown-key'))?.payload, { n: 1 }, 'the key holder still reads it');
  });
});
