/**
 * The chaos run, short: producers and workers in child processes while workers
 * are SIGKILLed, connections killed, Redis paused and restarted (chaos/run.ts).
 * And the run's checks themselves, on made-up logs, so a clean report means
 * something.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { analyze, checkSnapshot, leftovers, type JamLine, type KillLine } from '../chaos/check.js';
import type { AddLine, RunLine } from '../chaos/common.js';
import { ConnectionError, createQueue, Job } from '../src/index.js';
import { startRedisServer } from './helpers/redis-server.js';
import { BUSY_MARGIN_MS, until, withTimeout } from './helpers/backends.js';

const root = fileURLToPath(new URL('..', import.meta.url));

// ---- the checks on made-up logs

const add = (id: string, t0: number, o: AddLine['o'] = 'queued'): AddLine => ({ id, p: 1, t0, t1: t0 + 1, o });
const run = (id: string, pid: number, k: number, start: number, end?: number, r: RunLine['r'] = 'ok'): RunLine[] => [
  { e: 's', id, pid, k, t: start },
  ...(end === undefined ? [] : [{ e: 'e' as const, id, pid, k, t: end, r }]),
];

test('the check counts an ID lost when no run starts after its last queued or committed add', (t) => {
  const adds = [add('a', 100), add('a', 300, 'committed'), add('b', 100), add('b', 400, 'processing'), add('c', 100)];
  const runs = [...run('a', 1, 1, 150, 160), ...run('b', 1, 2, 150, 500), ...run('c', 1, 3, 99, 120)];
  const a = analyze(adds, runs, [], []);
  // a: committed at 300, last run at 150 → lost; b: 'processing' adds promise nothing → fine; c: ran before the add → lost.
  t.is(a.idsLost, 2);
  t.deepEqual(a.examples.lost.map((s) => s.split(':')[0]).sort(), ['a', 'c']);
  t.is(a.addsResolved, 5);
  t.is(a.idsAdded, 3);
});

test('rejected adds (unknown outcome) neither count as adds nor demand a run', (t) => {
  const adds: AddLine[] = [{ id: 'x', p: 1, t0: 10, t1: 20, err: 'timeout' }];
  const a = analyze(adds, [], [], []);
  t.is(a.idsLost, 0);
  t.is(a.addsRejected, 1);
  t.is(a.addsResolved, 0);
});

test('the check flags overlapping runs of one ID unless a jam guard sweep requeued it between their starts', (t) => {
  const runs = [...run('a', 1, 1, 100, 500), ...run('a', 2, 1, 200, 300), ...run('b', 1, 2, 100, 500), ...run('b', 2, 2, 200, 300)];
  const jams: JamLine[] = [{ id: 'b', t0: 150, t1: 160 }];
  const a = analyze([], runs, jams, []);
  t.is(a.overlapsWithoutJam, 1);
  t.is(a.overlapsWithJam, 1);
  t.regex(a.examples.overlaps[0], /^a:/);
  // A sweep that failed may have requeued anything: it explains any overlap in its window.
  t.is(analyze([], runs, [{ id: '*', t0: 150, t1: 190 }], []).overlapsWithoutJam, 0);
  // A sweep after the second run started explains nothing.
  t.is(analyze([], runs.filter((l) => l.id === 'a'), [{ id: 'a', t0: 250, t1: 260 }], []).overlapsWithoutJam, 1);
});

test("a killed worker's unfinished run ends at the kill; a live worker's unfinished run is reported", (t) => {
  const runs = [...run('a', 1, 1, 100), ...run('a', 2, 1, 300, 320), ...run('z', 3, 1, 100)];
  const kills: KillLine[] = [{ pid: 1, t: 200 }];
  const a = analyze([], runs, [], kills);
  t.is(a.runsCutByKill, 1);
  t.is(a.overlapsWithoutJam, 0, 'the killed run ended at 200, before the next began');
  t.is(a.unfinishedRuns, 1);
  t.regex(a.examples.unfinished[0], /^z:/);
  // Without the kill the first run never ended, so it overlaps the second.
  t.is(analyze([], runs, [], []).overlapsWithoutJam, 1);
});

test('the check flags a run that no add and no jam since the previous claim explains', (t) => {
  const claimRun = (id: string, k: number, claim: number): RunLine[] => [
    { e: 's', id, pid: 1, k, t: claim + 1, c: claim },
    { e: 'e', id, pid: 1, k, t: claim + 5, r: 'ok' },
  ];
  const adds = [add('a', 100), add('a', 300), add('b', 100), add('c', 100), add('c', 150, 'processing')];
  const runs = [...claimRun('a', 1, 200), ...claimRun('a', 2, 400), ...claimRun('b', 3, 200), ...claimRun('b', 4, 400), ...claimRun('c', 5, 120), ...claimRun('c', 6, 400)];
  const a = analyze(adds, runs, [], []);
  // a: re-added at 300 → fine; b: ran again at 400 with no add since 200 → uncaused;
  // c: the add at 150 found it processing ('processing' asks for no rerun) → uncaused.
  t.is(a.runsWithoutCause, 2);
  t.deepEqual(a.examples.uncaused.map((s) => s.split(':')[0]).sort(), ['b', 'c']);
  // A jam guard requeue, or an add whose outcome is unknown, is a cause.
  t.is(analyze(adds, runs.filter((l) => l.id === 'b'), [{ id: 'b', t0: 250, t1: 260 }], []).runsWithoutCause, 0);
  t.is(analyze([...adds, { id: 'b', p: 1, t0: 300, t1: 310, err: 'timeout' }], runs.filter((l) => l.id === 'b'), [], []).runsWithoutCause, 0);
  // A run with no add at all before it has no cause either.
  t.is(analyze([], claimRun('z', 1, 50), [], []).runsWithoutCause, 1);
});

test('snapshots: committed outside queued ∪ processing, duplicates, both at once and uncommitted IDs are all found', (t) => {
  t.deepEqual(checkSnapshot({ committed: ['a', 'b'], queued: ['a'], processing: ['b'] }), {
    committedOutside: [],
    queuedDuplicates: [],
    queuedAndProcessing: [],
    notCommitted: [],
  });
  t.deepEqual(checkSnapshot({ committed: ['a', 'b', 'c', 'd'], queued: ['a', 'a', 'b'], processing: ['b', 'e'] }), {
    committedOutside: ['c', 'd'],
    queuedDuplicates: ['a'],
    queuedAndProcessing: ['b'],
    notCommitted: ['e'],
  });
});

test('after a drain only failure records, the error log and payloads of failed IDs may stay', (t) => {
  const base = 'convoy:{chaos}:';
  const keys = ['failed', 'failinfo', 'errors', 'payload', 'wake', 'lock'].map((k) => base + k);
  t.deepEqual(leftovers(keys, base, ['f1', 'ok1'], ['f1', 'f2']), [`${base}wake`, `${base}lock`, `${base}payload[ok1]`]);
  t.deepEqual(leftovers([base + 'errors'], base, [], []), []);
});

// ---- a frozen server

test('while Redis is frozen (SIGSTOP), calls reject with a ConnectionError within commandTimeout instead of hanging', async (t) => {
  // A frozen server or a silent network keeps the TCP connection open: only the
  // command timeout can end the wait. (The chaos run's 500 ms pauses stay well
  // under its 2 s command timeout, so they do not show this.)
  const server = await startRedisServer();
  const admin = createClient({ url: server.url });
  await admin.connect();
  const pid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1]);
  const q = createQueue('frozen', { redis: server.url, commandTimeout: 300 });
  q.on('error', () => undefined);
  // set-up: connected before the freeze (retried, a busy machine may take longer than 300 ms)
  await until(() => q.countQueued(), () => true, "the queue's connection to come up");
  // commandTimeout 300 plus a margin for a busy machine; past HUNG_MS the call is stuck
  const BOUND_MS = 300 + BUSY_MARGIN_MS;
  const HUNG_MS = BOUND_MS + 5000;
  const settled = async (p: Promise<unknown>) => {
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      p.then(() => 'resolved', (err: Error) => err),
      new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), HUNG_MS))),
    ]);
    clearTimeout(timer);
    return { r, ms: Date.now() - t0 };
  };
  process.kill(pid, 'SIGSTOP');
  try {
    const count = await settled(q.countQueued());
    const add = await settled(q.addJob(new Job('x')));
    for (const [what, { r, ms }] of Object.entries({ count, add })) {
      t.true(r instanceof ConnectionError, `${what}: ${r === 'hung' ? `still waiting after ${HUNG_MS} ms` : String(r)}`);
      t.true(ms < BOUND_MS, `${what} took ${ms} ms with commandTimeout 300 (bound ${BOUND_MS} ms)`);
    }
  } finally {
    process.kill(pid, 'SIGCONT');
    await withTimeout(q.close({ timeout: 500 }), 15_000, 'closing the queue').catch((err: Error) => t.fail(err.message));
    admin.destroy();
    await withTimeout(server.stop(), 20_000, 'stopping the redis-server');
  }
});

// ---- the short chaos run

test('a short chaos run (kills, connection kills, pauses, Redis restarts) loses no ID, never runs one twice at once and leaves the structures consistent', async (t) => {
  t.timeout(120_000);
  // The run's temp folders (its logs, its server's) go in a folder of this
  // test's own: removed when the test passes, kept (and named) when it fails.
  const tmp = mkdtempSync(join(tmpdir(), 'convoy-chaos-test-'));
  t.teardown(() => {
    if (t.passed) rmSync(tmp, { recursive: true, force: true });
    else console.warn(`chaos test: the run's logs are kept in ${tmp}`);
  });
  const child = spawn(process.execPath, ['--import', 'tsx', 'chaos/run.ts', '--duration', '15', '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: tmp },
  });
  // a test that fails or times out does not leave the run going
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const last = stdout.trim().split('\n').pop() ?? '';
  let report: { ok: boolean; figures: Record<string, number>; mustBeZero: Record<string, number> };
  try {
    report = JSON.parse(last);
  } catch {
    t.fail(`no JSON report (exit ${code}):\n${stderr.slice(-3000)}`);
    return;
  }
  t.log(stderr.slice(stderr.indexOf('convoy-queue chaos run')));
  for (const [what, value] of Object.entries(report.mustBeZero)) t.is(value, 0, what);
  t.true(report.ok);
  t.is(code, 0);
  // The run did what it says: chaos of every kind, and real traffic through it.
  const f = report.figures;
  t.true(f['worker kills (SIGKILL)'] >= 1);
  t.true(f['connection kills (CLIENT KILL calls)'] >= 1);
  t.true(f['Redis pauses (CLIENT PAUSE 500 ALL)'] >= 1);
  t.true(f['Redis restarts (SIGKILL + AOF)'] >= 1);
  // (floors a loaded 2-core machine clears: they show traffic, not speed)
  t.true(f['IDs added'] > 100, `only ${f['IDs added']} IDs added`);
  t.true(f['runs'] > 200, `only ${f['runs']} runs`);
  t.true(f['consistency snapshots (MULTI)'] > 5);
});
