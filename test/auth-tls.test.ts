/**
 * Redis behind a password, an ACL user, and TLS: queues connect, their
 * blocking connections too, and a wrong secret fails fast and says why.
 */
import test from 'ava';
import { createClient } from 'redis';
import { ConnectionError, createQueue, Job, type Queue, type RedisConfig } from '../src/index.js';
import { startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { makeTestCerts, redisServerTls, removeTestCerts, startTlsRedisServer, type TlsRedisServer } from './helpers/tls-redis.js';
import { BUSY_MARGIN_MS, until, withTimeout } from './helpers/backends.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
let counter = 0;
const qname = () => `auth${++counter}`;

/** Settle `p` or give up after `ms`: a hang is a failure of its own. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: Error; hung?: true; ms: number }> {
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.then((value) => ({ value }), (error: Error) => ({ error })),
    new Promise<{ hung: true }>((resolve) => (timer = setTimeout(() => resolve({ hung: true }), ms))),
  ]);
  clearTimeout(timer);
  return { ...r, ms: Date.now() - t0 };
}

/**
 * Idle workers here block for BLOCK_S seconds: jobs that run within WAKE_MS
 * (far less) can only have been woken by the add, on the blocking connection.
 */
const BLOCK_S = 40;
const WAKE_MS = 15_000;
/** commandTimeout of the failing-connection tests, and how long a call may take to fail. */
// long enough that a busy machine finishes connecting (and hears the auth error) within it
const CMD_MS = 3000;
const FAIL_MS = CMD_MS + BUSY_MARGIN_MS;
/** Past this a call or close has hung (not merely slow). */
const HUNG_MS = FAIL_MS + 5000;

/**
 * Start a worker first (so it is idle, blocked on its own pooled connection),
 * then add jobs: they only run promptly if that blocking connection also
 * got through auth/TLS.
 */
async function processesJobs(q: Queue<{ n: number }>, count = 5): Promise<{ ran: number[]; errors: string[]; ms: number }> {
  const errors: string[] = [];
  q.on('error', (err) => errors.push(err.message));
  const ran: number[] = [];
  q.process(async (job) => {
    ran.push(job.payload!.n);
  });
  await sleep(300);
  const t0 = Date.now();
  for (let n = 0; n < count; n++) await q.addJob(new Job(`j${n}`, { n }));
  const deadline = Date.now() + WAKE_MS;
  while (ran.length < count && Date.now() < deadline) await sleep(10);
  return { ran: ran.sort(), errors, ms: Date.now() - t0 };
}

// ---- password and ACL user

let server: RedisServer;

test.before(async () => {
  // redis-server.ts probes readiness with a bare PING, so the password is set after start.
  server = await startRedisServer();
  const admin = createClient({ url: server.url });
  await admin.connect();
  await admin.sendCommand(['ACL', 'SETUSER', 'convoy', 'on', '>pass', '~*', '&*', '+@all']);
  await admin.configSet('requirepass', 'secret');
  admin.destroy();
});

test.after.always(async () => {
  if (server) await withTimeout(server.stop(), 20_000, 'stopping the password-protected redis-server');
});

const url = (auth: string) => `redis://${auth}@127.0.0.1:${server.port}`;

test('an ACL user in the URL connects, and idle workers wake and process jobs', async (t) => {
  const q = createQueue<{ n: number }>(qname(), { redis: url('convoy:pass'), blockingTimeout: BLOCK_S });
  try {
    const r = await processesJobs(q);
    t.deepEqual(r.ran, [0, 1, 2, 3, 4]);
    t.true(r.ms < WAKE_MS, `took ${r.ms} ms: the blocking connection did not get the wake-up`);
    t.deepEqual(r.errors, []);
    t.is(await q.countCommitted(), 0);
  } finally {
    await q.close({ timeout: 1000 });
  }
});

const runsThree = test.macro(async (t, redis: () => RedisConfig) => {
  const q = createQueue<{ n: number }>(qname(), { redis: redis(), blockingTimeout: BLOCK_S });
  try {
    const r = await processesJobs(q, 3);
    t.deepEqual(r.ran, [0, 1, 2]);
    t.deepEqual(r.errors, []);
  } finally {
    await q.close({ timeout: 1000 });
  }
});

test('the default user with requirepass connects through a URL with only a password', runsThree, () => url(':secret'));

test('node-redis options with username and password work like the URL', runsThree, () => ({
  socket: { host: '127.0.0.1', port: server.port },
  username: 'convoy',
  password: 'pass',
}));

test('a wrong password makes addJob reject within the command timeout, with an error that says authentication failed', async (t) => {
  const q = createQueue(qname(), { redis: url('convoy:wrong'), commandTimeout: CMD_MS });
  q.on('error', () => undefined);
  try {
    const r = await within(q.addJob(new Job('x')), HUNG_MS);
    t.falsy(r.hung, 'addJob hung');
    t.true(r.ms < FAIL_MS, `settled after ${r.ms} ms, commandTimeout ${CMD_MS} ms (bound ${FAIL_MS} ms)`);
    t.truthy(r.error, 'addJob resolved with a wrong password');
    t.log(`${r.error?.name}: ${r.error?.message} (${r.ms} ms)`);
    t.regex(r.error?.message ?? '', /WRONGPASS|auth/i);
    // Later calls fail the same way, not with something vaguer.
    const again = await within(q.addJob(new Job('y')), HUNG_MS);
    t.falsy(again.hung);
    t.regex(again.error?.message ?? '', /WRONGPASS|auth/i);
  } finally {
    const closed = await within(q.close({ timeout: 500 }), HUNG_MS);
    t.falsy(closed.hung, 'close hung');
  }
});

test('a wrong password fails counts fast too, and a worker reports auth errors without crashing', async (t) => {
  const q = createQueue(qname(), { redis: url('convoy:wrong'), commandTimeout: CMD_MS, blockingTimeout: 0.5 });
  const errors: string[] = [];
  q.on('error', (err) => errors.push(err.message));
  try {
    const r = await within(q.countQueued(), HUNG_MS);
    t.falsy(r.hung);
    t.true(r.ms < FAIL_MS, `settled after ${r.ms} ms, commandTimeout ${CMD_MS} ms (bound ${FAIL_MS} ms)`);
    t.true(r.error instanceof Error);
    t.regex(r.error?.message ?? '', /WRONGPASS|NOAUTH|auth/i);
    q.process(async () => undefined);
    await until(() => errors.length, (n) => n > 0, 'the worker to report an error').catch(() => undefined);
    t.true(errors.length > 0, 'the worker said nothing');
    t.true(errors.some((m) => /WRONGPASS|NOAUTH|auth/i.test(m)), errors.join(' | '));
  } finally {
    const closed = await within(q.close({ timeout: 500 }), HUNG_MS);
    t.falsy(closed.hung, 'close hung');
  }
});

test('no password at all against requirepass is refused within the command timeout', async (t) => {
  const q = createQueue(qname(), { redis: server.url, commandTimeout: CMD_MS });
  q.on('error', () => undefined);
  try {
    const r = await within(q.countQueued(), HUNG_MS);
    t.falsy(r.hung);
    t.true(r.ms < FAIL_MS, `settled after ${r.ms} ms, commandTimeout ${CMD_MS} ms (bound ${FAIL_MS} ms)`);
    t.regex(r.error?.message ?? '', /NOAUTH|auth/i);
  } finally {
    await within(q.close({ timeout: 500 }), HUNG_MS);
  }
});

// ---- TLS

const tlsSupport = redisServerTls();
const tlsMissing = tlsSupport.ok ? undefined : tlsSupport.reason;
if (tlsMissing) console.warn(`auth-tls.test.ts: TLS tests skipped: ${tlsMissing}`);
const tlsTest = tlsMissing ? test.skip : test;
const tlsTitle = (s: string) => (tlsMissing ? `${s} (skipped: ${tlsMissing})` : s);

let tls: TlsRedisServer | undefined;
test.before(async () => {
  if (!tlsMissing) tls = await startTlsRedisServer();
});
test.after.always(async () => {
  if (tls) await withTimeout(tls.stop(), 20_000, 'stopping the TLS redis-server');
});
const tlsServer = () => tls!;

tlsTest(tlsTitle('over TLS with the test CA (rediss:// and socket.ca), idle workers wake and process jobs'), async (t) => {
  const s = tlsServer();
  const q = createQueue<{ n: number }>(qname(), {
    redis: { url: `rediss://127.0.0.1:${s.port}`, socket: { tls: true, ca: s.certs.ca } },
    blockingTimeout: BLOCK_S,
  });
  try {
    const r = await processesJobs(q);
    t.deepEqual(r.ran, [0, 1, 2, 3, 4]);
    t.true(r.ms < WAKE_MS, `took ${r.ms} ms: the blocking connection did not get the wake-up`);
    t.deepEqual(r.errors, []);
    t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 0, paused: false });
  } finally {
    await q.close({ timeout: 1000 });
  }
});

tlsTest(tlsTitle('TLS against a certificate from another CA is refused within the command timeout, not hung'), async (t) => {
  const s = tlsServer();
  const other = await makeTestCerts();
  t.teardown(() => removeTestCerts(other));
  const q = createQueue(qname(), {
    redis: { url: `rediss://127.0.0.1:${s.port}`, socket: { tls: true, ca: other.ca, reconnectStrategy: false } },
    commandTimeout: CMD_MS,
  });
  q.on('error', () => undefined);
  try {
    const r = await within(q.addJob(new Job('x')), HUNG_MS);
    t.falsy(r.hung, 'addJob hung');
    t.true(r.ms < FAIL_MS, `settled after ${r.ms} ms, commandTimeout ${CMD_MS} ms (bound ${FAIL_MS} ms)`);
    t.true(r.error instanceof ConnectionError, String(r.error));
    t.log(`${r.error?.name}: ${r.error?.message} (${r.ms} ms)`);
  } finally {
    await within(q.close({ timeout: 500 }), HUNG_MS);
  }
});

tlsTest(tlsTitle('a plain-text client cannot reach the TLS-only server: nothing listens without TLS'), async (t) => {
  const s = tlsServer();
  const q = createQueue(qname(), { redis: { socket: { host: '127.0.0.1', port: s.port, reconnectStrategy: false } }, commandTimeout: CMD_MS });
  q.on('error', () => undefined);
  try {
    const r = await within(q.countQueued(), HUNG_MS);
    t.falsy(r.hung, 'countQueued hung');
    t.true(r.ms < FAIL_MS, `settled after ${r.ms} ms, commandTimeout ${CMD_MS} ms (bound ${FAIL_MS} ms)`);
    t.true(r.error instanceof Error, 'a plain-text client got an answer from the TLS port');
  } finally {
    await within(q.close({ timeout: 500 }), HUNG_MS);
  }
});
