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
import {
  analyze,
  checkFlowSnapshot,
  checkSnapshot,
  collectRuns,
  concurrencyAudit,
  flowAudit,
  leftovers,
  reportAudit,
  type FlowLimits,
  type JamLine,
  type KillLine,
} from '../chaos/check.js';
import type { AddLine, RemoveLine, RunLine, WorkerEventLine, WorkerLine } from '../chaos/common.js';
import { ConnectionError, createQueue, Job } from '../src/index.js';
import { startRedisServer } from './helpers/redis-server.js';

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

test('a run that ignored its signal is live until its handler ends: a run of the same ID started before that overlaps it', (t) => {
  const runs = [...run('a', 1, 1, 100, 900, 'late'), ...run('a', 2, 1, 400, 450)];
  const a = analyze([], runs, [], []);
  t.is(a.overlapsWithoutJam, 1);
  t.is(a.overlapsAfterLateRun, 1);
  t.is(a.runsLate, 1);
  t.is(a.runsTimedOut, 1);
  t.regex(a.examples.overlaps[0], /ignored its signal past jobTimeout/);
});

test('a stall recovery between two overlapping runs explains them like a jam; the rerun of a run cut by a kill needs no add', (t) => {
  const runs = [...run('a', 1, 1, 100, 900), ...run('a', 2, 1, 600, 650)];
  t.is(analyze([], runs, [], []).overlapsWithoutJam, 1);
  t.is(analyze([], runs, [{ id: 'a', t0: 400, t1: 590 }], []).overlapsWithoutJam, 0);
  const claimRun = (pid: number, k: number, claim: number, end?: number): RunLine[] => [
    { e: 's', id: 'b', pid, k, t: claim, c: claim },
    ...(end === undefined ? [] : [{ e: 'e' as const, id: 'b', pid, k, t: end, r: 'ok' as const }]),
  ];
  const reran = [...claimRun(1, 1, 100), ...claimRun(2, 1, 600, 650)];
  t.is(analyze([add('b', 50)], reran, [], []).runsWithoutCause, 1);
  t.is(analyze([add('b', 50)], reran, [], [{ pid: 1, t: 300 }]).runsWithoutCause, 0);
});

test("an add that found the ID processing asks for one more run with 'rerun', and for none without", (t) => {
  const adds: AddLine[] = [add('a', 100), { ...add('a', 150, 'processing'), rr: 1 }, add('b', 100), add('b', 150, 'processing')];
  const once = [...run('a', 1, 1, 120, 200), ...run('b', 1, 2, 120, 200)];
  const a = analyze(adds, once, [], []);
  t.is(a.idsLost, 1);
  t.regex(a.examples.lost[0], /^a:/);
  // The second run of a has its cause: the 'rerun' add.
  const twice = [...once, { e: 's' as const, id: 'a', pid: 1, k: 3, t: 210, c: 210 }, { e: 'e' as const, id: 'a', pid: 1, k: 3, t: 220, r: 'ok' as const }];
  const b = analyze(adds, twice, [], []);
  t.is(b.idsLost, 0);
  t.is(b.runsWithoutCause, 0);
});

/** A run with its claim, attempt and attempts option; `r` its end. */
const arun = (id: string, pid: number, k: number, claim: number, end: number, a: number, ax: number, r: RunLine['r'] = 'ok'): RunLine[] => [
  { e: 's', id, pid, k, t: claim, c: claim, a, ax },
  { e: 'e', id, pid, k, t: end, r },
];
const ev = (e: 'c' | 'f' | 'r', id: string, pid: number, k: number, t: number, ms?: number): WorkerEventLine => ({ e, id, pid, k, t, ...(ms === undefined ? {} : { ms }) });
const rm = (id: string, t0: number, ok: boolean | undefined = true): RemoveLine => ({ id, p: 9, t0, t1: t0 + 2, ...(ok === undefined ? { err: 'timeout' } : { ok }) });

test('retries: attempt +1 after a retried failure, never above attempts, not before the backoff, and never lost', (t) => {
  const adds: AddLine[] = [{ ...add('a', 100), at: 3 }];
  const good = [...arun('a', 1, 1, 110, 120, 1, 3, 'fail'), ...arun('a', 1, 2, 200, 210, 2, 3, 'fail'), ...arun('a', 2, 1, 300, 310, 3, 3, 'fail')];
  const events = [ev('r', 'a', 1, 1, 121, 50), ev('r', 'a', 1, 2, 211, 50), ev('f', 'a', 2, 1, 311)];
  const ok = analyze(adds, good, [], [], { events });
  t.is(ok.runsOverAttempts + ok.attemptSteps + ok.retriesBeforeBackoff + ok.retriesLost + ok.runsWithoutCause + ok.livesEndedTwice + ok.livesNotEnded, 0);
  t.is(ok.runsRetried, 2);
  t.is(ok.maxAttempt, 3);
  t.is(ok.livesFailed, 1);
  // A fourth run over the limit, a retry 30 ms after a 50 ms backoff, a skipped attempt, a retry that never came.
  t.is(analyze(adds, [...good, ...arun('a', 2, 2, 400, 410, 4, 3)], [], [], { events }).runsOverAttempts, 1);
  const early = [...arun('a', 1, 1, 110, 120, 1, 3, 'fail'), ...arun('a', 1, 2, 150, 160, 2, 3)];
  t.is(analyze(adds, early, [], [], { events: [ev('r', 'a', 1, 1, 121, 50), ev('c', 'a', 1, 2, 161)] }).retriesBeforeBackoff, 1);
  const skipped = [...arun('a', 1, 1, 110, 120, 1, 3, 'fail'), ...arun('a', 1, 2, 200, 210, 3, 3)];
  t.is(analyze(adds, skipped, [], [], { events: [ev('r', 'a', 1, 1, 121, 50), ev('c', 'a', 1, 2, 211)] }).attemptSteps, 1);
  const lost = analyze(adds, arun('a', 1, 1, 110, 120, 1, 3, 'fail'), [], [], { events: [ev('r', 'a', 1, 1, 121, 50)] });
  t.is(lost.retriesLost, 1);
  // ...unless the ID was removed meanwhile.
  t.is(analyze(adds, arun('a', 1, 1, 110, 120, 1, 3, 'fail'), [], [], { events: [ev('r', 'a', 1, 1, 121, 50)], removes: [rm('a', 150)] }).retriesLost, 0);
  // ...or its life ended stalled past its stallLimit (the retry's claim may have lost its answer): a StalledError record is left.
  const stalledAway = analyze(adds, arun('a', 1, 1, 110, 120, 1, 3, 'fail'), [], [], { events: [ev('r', 'a', 1, 1, 121, 50)], stalledFailed: new Set(['a']) });
  t.is(stalledAway.retriesLost + stalledAway.livesNotEnded, 0);
  // A run after a completed one may not be the next attempt; after a stall it is the same attempt.
  const afterOk = [...arun('a', 1, 1, 110, 120, 1, 3), ...arun('a', 1, 2, 200, 210, 2, 3)];
  t.is(analyze([...adds, { ...add('a', 150), at: 3 }], afterOk, [], []).attemptSteps, 1);
  const stalled = [{ e: 's' as const, id: 'a', pid: 1, k: 1, t: 110, c: 110, a: 2, ax: 3 }, ...arun('a', 2, 1, 4000, 4010, 2, 3)];
  t.is(analyze(adds, stalled, [], [{ pid: 1, t: 200 }]).attemptSteps, 0);
});

test('delays: a run of a scheduled life claimed before add time + delay is flagged, unless a removal ended that life', (t) => {
  const adds: AddLine[] = [{ ...add('a', 100, 'scheduled'), d: 500 }];
  t.is(analyze(adds, arun('a', 1, 1, 600, 610, 1, 1), [], []).runsBeforeDue, 0);
  t.is(analyze(adds, arun('a', 1, 1, 597, 610, 1, 1), [], []).runsBeforeDue, 0, 'within the tolerance');
  const early = analyze(adds, arun('a', 1, 1, 550, 560, 1, 1), [], []);
  t.is(early.runsBeforeDue, 1);
  t.regex(early.examples.due[0], /50 ms early/);
  // Removed at 200 and added again without a delay at 300: its run at 310 is of the new life.
  const again = [...adds, add('a', 300)];
  t.is(analyze(again, arun('a', 1, 1, 310, 320, 1, 1), [], [], { removes: [rm('a', 200)] }).runsBeforeDue, 0);
  // The ID is lost when nothing runs after its add, unless it was removed since.
  t.is(analyze(adds, [], [], []).idsLost, 1);
  t.is(analyze(adds, [], [], [], { removes: [rm('a', 200, undefined)] }).idsLost, 0);
});

test('lives: each add that started one ends once; a rerun is another run of the same life', (t) => {
  const adds = [add('a', 100), add('a', 300), add('b', 100)];
  const runs = [...arun('a', 1, 1, 110, 120, 1, 1), ...arun('a', 1, 2, 310, 320, 1, 1), ...arun('b', 1, 3, 110, 120, 1, 1), ...arun('b', 2, 1, 130, 140, 1, 1)];
  // b: two 'completed' for one add: ended twice. (Its second run has no cause either.)
  const events = [ev('c', 'a', 1, 1, 121), ev('c', 'a', 1, 2, 321), ev('c', 'b', 1, 3, 121), ev('c', 'b', 2, 1, 141)];
  const a = analyze(adds, runs, [], [], { events });
  t.is(a.livesStarted, 3);
  t.is(a.livesEndedTwice, 1);
  t.regex(a.examples.lives[0], /^b:/);
  // With a 'rerun' add that met b processing, b's first 'completed' was not an end.
  const rerun: AddLine = { ...add('b', 112, 'processing'), rr: 1 };
  t.is(analyze([...adds, rerun], runs, [], [], { events }).livesEndedTwice, 0);
  // A life with no end, sure or possible: its run was reported as retried, and nothing came after.
  const open = analyze([add('c', 100)], arun('c', 1, 1, 110, 120, 1, 3, 'fail'), [], [], { events: [ev('r', 'c', 1, 1, 121, 10)] });
  t.is(open.livesNotEnded, 1);
  // An unreported run (answer lost, worker killed) or a removal may have ended it.
  t.is(analyze([add('c', 100)], arun('c', 1, 1, 110, 120, 1, 1), [], []).livesNotEnded, 0);
  t.is(analyze([add('c', 100)], [], [], [], { removes: [rm('c', 105)] }).livesNotEnded, 0);
  // A life whose claims never answered ended failed for good as stalled (stallLimit), its record cleared by a new add:
  // the stall recovery that named the ID is a possible end.
  const stalledLife = [add('d', 100), add('d', 900)];
  const after = arun('d', 1, 1, 910, 920, 1, 1);
  t.is(analyze(stalledLife, after, [], [], { events: [ev('c', 'd', 1, 1, 921)] }).livesNotEnded, 1);
  t.is(analyze(stalledLife, after, [], [], { events: [ev('c', 'd', 1, 1, 921), { e: 'st', pid: 2, t: 500, ids: ['d'] }] }).livesNotEnded, 0);
});

test('removals: no run of a removed ID without a new add, no report of a run it cancelled; overlaps across a removal are allowed', (t) => {
  const adds = [add('a', 100)];
  const runs = [...arun('a', 1, 1, 110, 900, 1, 1, 'late'), ...arun('a', 2, 1, 400, 410, 1, 1)];
  const removes = [rm('a', 200)];
  const a = analyze(adds, runs, [], [], { removes });
  t.is(a.runsAfterRemoval, 1, 'run 2#1 claimed at 400 with no add since the removal');
  t.is(a.runsCancelled, 1);
  t.is(a.runsCancelledLate, 1);
  t.is(a.overlapsWithRemoval, 1);
  t.is(a.overlapsWithoutJam, 0);
  const readded = analyze([...adds, add('a', 300)], runs, [], [], { removes });
  t.is(readded.runsAfterRemoval, 0);
  t.is(readded.reportsAfterRemoval, 0);
  // The cancelled run reported 'completed' after the removal: flagged.
  t.is(analyze([...adds, add('a', 300)], runs, [], [], { removes, events: [ev('c', 'a', 1, 1, 901)] }).reportsAfterRemoval, 1);
  // A removal answered false removed nothing: the overlap is not explained.
  t.is(analyze([...adds, add('a', 300)], runs, [], [], { removes: [rm('a', 200, false)] }).overlapsWithoutJam, 1);
});

test('handlers at once: a worker whose handlers counted more than its concurrency is flagged', (t) => {
  const lines: WorkerLine[] = [
    { e: 'h', pid: 1, t: 0, q: 'chaos', mode: 'callback', concurrency: 1 },
    { e: 's', id: 'a', pid: 1, k: 1, t: 10, n: 1 },
    { e: 's', id: 'b', pid: 1, k: 2, t: 20, n: 2 },
    { e: 's', id: 'c', pid: 1, k: 3, t: 30, n: 3 },
    { e: 'h', pid: 2, t: 0, q: 'chaos', mode: 'async', concurrency: 6 },
    { e: 's', id: 'd', pid: 2, k: 1, t: 10, n: 6 },
  ];
  const c = concurrencyAudit(lines);
  t.is(c.workersOver, 1);
  t.is(c.startsOver, 2);
  t.is(c.maxSeen, 6);
  t.deepEqual(c.workers.map((w) => [w.pid, w.maxSeen, w.concurrency]), [[1, 3, 1], [2, 6, 6]]);
  t.regex(c.examples[0], /worker 1 \(callback, chaos, concurrency 1\): 3 handlers at once/);
  t.is(concurrencyAudit(lines.filter((l) => l.pid === 2)).workersOver, 0);
});

test("each run is reported at most once: a second 'failed' or 'completed' event of one run is flagged", (t) => {
  const lines: WorkerLine[] = [
    { e: 'f', pid: 1, k: 1, t: 10, id: 'a' },
    { e: 'f', pid: 1, k: 1, t: 11, id: 'a' },
    { e: 'c', pid: 1, k: 2, t: 12, id: 'b' },
    { e: 'f', pid: 2, k: 1, t: 12, id: 'a' },
    { e: 'c', pid: 1, k: 3, t: 13, id: 'c' },
    { e: 'f', pid: 1, k: 3, t: 14, id: 'c' },
  ];
  const r = reportAudit(lines, new Map([[1, 'callback']]));
  t.is(r.runsReportedTwice, 2);
  t.is(r.extraReports, 2);
  t.is(r.failedEvents, 4);
  t.is(r.completedEvents, 2);
  t.regex(r.examples[0], /^a: run 1#1 \(callback\) reported 2 times: failed, failed/);
});

test('snapshots: committed outside queued ∪ scheduled ∪ processing, duplicates, two states at once and uncommitted IDs are all found', (t) => {
  t.deepEqual(checkSnapshot({ committed: ['a', 'b', 's'], queued: ['a'], processing: ['b'], scheduled: ['s'] }), {
    committedOutside: [],
    queuedDuplicates: [],
    queuedAndProcessing: [],
    scheduledAndOther: [],
    notCommitted: [],
  });
  t.deepEqual(checkSnapshot({ committed: ['a', 'b', 'c', 'd', 's'], queued: ['a', 'a', 'b'], processing: ['b', 'e'], scheduled: ['s', 'a', 'x'] }), {
    committedOutside: ['c', 'd'],
    queuedDuplicates: ['a'],
    queuedAndProcessing: ['b'],
    scheduledAndOther: ['a'],
    notCommitted: ['e', 'x'],
  });
});

test('after a drain only failure records, the error log, the worker registry and what failed IDs keep may stay', (t) => {
  const base = 'convoy:{chaos}:';
  const keys = ['failed', 'failinfo', 'errors', 'workers', 'workerinfo', 'payload', 'options', 'wake', 'lock', 'leases'].map((k) => base + k);
  t.deepEqual(leftovers(keys, base, { payload: ['f1', 'ok1'], options: ['f2', 'ok2'] }, ['f1', 'f2']), [
    `${base}wake`,
    `${base}lock`,
    `${base}leases`,
    `${base}payload[ok1]`,
    `${base}options[ok2]`,
  ]);
  t.deepEqual(leftovers([base + 'errors'], base, {}, []), []);
});

// ---- the flow control checks on made-up logs

const LIMITS: FlowLimits = { concurrency: 2, groupConcurrency: 2, rate: { max: 3, duration: 100 } };
/** A run of the flow queue: claimed at `claim` (its startedAt), ended at `end`, maybe in a group. */
const frun = (id: string, pid: number, k: number, claim: number, end: number, g?: string): RunLine[] => [
  { e: 's', id, pid, k, t: claim, c: claim, ...(g === undefined ? {} : { g }) },
  { e: 'e', id, pid, k, t: end, r: 'ok' },
];
const flows = (lines: RunLine[], ctx: Parameters<typeof flowAudit>[2] = {}, limits = LIMITS) => flowAudit(collectRuns(lines, []), limits, ctx);

test('flow: more current claims at once than the global concurrency are flagged, unless a claim was taken away before', (t) => {
  // a 100..500, b 150..400, c 200..300: three at once at 200, limit 2.
  const lines = [...frun('a', 1, 1, 100, 500), ...frun('b', 1, 2, 150, 400), ...frun('c', 2, 1, 200, 300)];
  const over = flows(lines);
  t.is(over.startsOverConcurrency, 1);
  t.is(over.maxAtOnce, 3);
  t.regex(over.examples[0], /global concurrency: 3 current claims at 200 \(limit 2\), starting c/);
  // a's lease lapsed and a renewal put it back (sent at 180): from then on a no longer counts.
  const stalled = flows(lines, { jams: [{ id: 'a', t0: 180, t1: 190 }] });
  t.is(stalled.startsOverConcurrency, 0);
  t.is(stalled.runsTakenAway, 1);
  // So does a renewal that failed (it may have put back any ID), or a removal that may have taken a.
  t.is(flows(lines, { jams: [{ id: '*', t0: 180, t1: 250 }] }).startsOverConcurrency, 0);
  t.is(flows(lines, { removes: [rm('a', 180)] }).startsOverConcurrency, 0);
  t.is(flows(lines, { removes: [rm('a', 180, undefined)] }).startsOverConcurrency, 0);
  // Not a removal answered false, nor a recovery of another ID, nor one sent after c's claim.
  t.is(flows(lines, { removes: [rm('a', 180, false)] }).startsOverConcurrency, 1);
  t.is(flows(lines, { jams: [{ id: 'z', t0: 180, t1: 190 }] }).startsOverConcurrency, 1);
  t.is(flows(lines, { jams: [{ id: 'a', t0: 250, t1: 260 }] }).startsOverConcurrency, 1);
});

test('flow: a run ending in the ms another is claimed frees its slot first; a run of zero ms holds none', (t) => {
  const lines = [...frun('a', 1, 1, 100, 200), ...frun('b', 1, 2, 150, 400), ...frun('c', 2, 1, 200, 300), ...frun('d', 2, 2, 250, 250)];
  const ok = flows(lines);
  t.is(ok.startsOverConcurrency, 0);
  t.is(ok.maxAtOnce, 2);
  // One ms later, a is still running when c is claimed.
  t.is(flows([...frun('a', 1, 1, 100, 201), ...frun('b', 1, 2, 150, 400), ...frun('c', 2, 1, 200, 300)]).startsOverConcurrency, 1);
});

test('flow: more current claims of one group at once than the group concurrency are flagged; other groups and ungrouped runs do not count', (t) => {
  const limits = { ...LIMITS, concurrency: 100 };
  const three = [...frun('a', 1, 1, 100, 500, 'g0'), ...frun('b', 1, 2, 150, 400, 'g0'), ...frun('c', 2, 1, 200, 300, 'g0')];
  const over = flows(three, {}, limits);
  t.is(over.startsOverGroupConcurrency, 1);
  t.is(over.maxInGroup, 3);
  t.regex(over.examples[0], /^group g0: 3 current claims at 200/);
  const mixed = [...frun('a', 1, 1, 100, 500, 'g0'), ...frun('b', 1, 2, 150, 400, 'g0'), ...frun('c', 2, 1, 200, 300, 'g1'), ...frun('d', 2, 2, 200, 300)];
  const fine = flows(mixed, {}, limits);
  t.is(fine.startsOverGroupConcurrency, 0);
  t.is(fine.maxInGroup, 2);
  t.is(fine.runsGrouped, 3);
  // A stall recovery of a (a lapsed lease) before c's claim: a no longer counts in g0 either.
  t.is(flows(three, { jams: [{ id: 'a', t0: 160, t1: 170 }] }, limits).startsOverGroupConcurrency, 0);
});

test('flow: starts max apart in claim order must be at least duration apart', (t) => {
  const at = (...claims: number[]) => claims.flatMap((c, i) => frun(`j${i}`, 1, i + 1, c, c));
  // max 3 per 100 ms: 0, 10, 20, 100 is fine (exactly 100 ms between the 1st and the 4th).
  const ok = flows(at(0, 10, 20, 100, 110));
  t.is(ok.rateViolations, 0);
  t.is(ok.closestSpacing, 100);
  const bad = flows(at(0, 10, 20, 99, 140));
  t.is(bad.rateViolations, 1);
  t.is(bad.closestSpacing, 99);
  t.regex(bad.examples[0], /rate limit: starts 3 apart 99 ms apart \(limit 3 per 100 ms\): j0 \(1#1\) at 0, j3 \(1#4\) at 99/);
  // Claims taken away still count: every claim is a start in the window.
  t.is(flows(at(0, 10, 20, 99), { jams: [{ id: '*', t0: 0, t1: 200 }] }).rateViolations, 1);
  t.is(flows(at(0, 10, 20)).closestSpacing, Infinity);
});

test('flow: a claim inside a pause (Redis clock, between pause() resolved and resume() called) is flagged', (t) => {
  const pauses = [{ from: 1000.5, to: 1500.2 }];
  const at = (c: number) => flows(frun('a', 1, 1, c, c + 5), { pauses }).claimsInPause;
  // A claim at 1000 ms was in [1000, 1001): maybe before the pause took effect.
  t.is(at(1000), 0);
  t.is(at(1001), 1);
  t.is(at(1499), 1);
  // A claim at 1500 ms may have come after resume() (called after 1500.2).
  t.is(at(1500), 0);
  t.regex(flows(frun('a', 1, 1, 1200, 1205), { pauses }).examples[0], /^pause: a \(1#1\) claimed at 1200, inside the pause 1000\.500\.\.1500\.200/);
});

test('flow snapshots: processing above the global concurrency, a group above its concurrency and a group counter off its IDs are found', (t) => {
  const clean = checkFlowSnapshot({ processing: 2, processingByGroup: { g0: 2 }, gactive: { g0: 2 } }, LIMITS);
  t.deepEqual(clean, { overConcurrency: 0, overGroupConcurrency: [], counterDrift: [] });
  const bad = checkFlowSnapshot({ processing: 5, processingByGroup: { g0: 3, g1: 1 }, gactive: { g0: 3, g2: 1 } }, LIMITS);
  t.is(bad.overConcurrency, 3);
  t.deepEqual(bad.overGroupConcurrency, ['g0: 3']);
  t.deepEqual(bad.counterDrift, ['g1: 1 processing, gactive 0', 'g2: 0 processing, gactive 1']);
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
  await q.countQueued();
  const settled = async (p: Promise<unknown>) => {
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      p.then(() => 'resolved', (err: Error) => err),
      new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 3000))),
    ]);
    clearTimeout(timer);
    return { r, ms: Date.now() - t0 };
  };
  process.kill(pid, 'SIGSTOP');
  try {
    const count = await settled(q.countQueued());
    const add = await settled(q.addJob(new Job('x')));
    for (const [what, { r, ms }] of Object.entries({ count, add })) {
      t.true(r instanceof ConnectionError, `${what}: ${r === 'hung' ? 'still waiting after 3000 ms' : String(r)}`);
      t.true(ms < 1500, `${what} took ${ms} ms with commandTimeout 300`);
    }
  } finally {
    process.kill(pid, 'SIGCONT');
    await q.close({ timeout: 500 });
    admin.destroy();
    await server.stop();
  }
});

// ---- the short chaos run

/** The whole run's wall-clock limit: run.ts and everything it started are SIGKILLed then. */
const RUN_LIMIT_MS = 150_000;

test('a short chaos run (mixed worker modes, no jam guard on two queues; retries, delays and removals; priorities, groups, concurrency and rate limits, pauses; kills, connection kills, pauses and Redis restarts shorter and longer than commandTimeout) passes its audit', async (t) => {
  t.timeout(RUN_LIMIT_MS + 15_000);
  // The run's temp folders (its logs, its server's) go in a folder of this
  // test's own: removed when the test passes, kept (and named) when it fails.
  const tmp = mkdtempSync(join(tmpdir(), 'convoy-chaos-test-'));
  t.teardown(() => {
    if (t.passed) rmSync(tmp, { recursive: true, force: true });
    else console.warn(`chaos test: the run's logs are kept in ${tmp}`);
  });
  // run.ts leads its own process group: its workers, producers and redis-server
  // are in it, so one kill of the group ends them all, on any exit path.
  const child = spawn(process.execPath, ['--import', 'tsx', 'chaos/run.ts', '--duration', '15', '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TMPDIR: tmp },
    detached: true,
  });
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone
    }
  };
  process.once('exit', killGroup);
  t.teardown(() => {
    killGroup();
    process.off('exit', killGroup);
  });
  let timedOut = false;
  const limit = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, RUN_LIMIT_MS);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(limit);
  killGroup(); // a child that outlived run.ts goes too
  if (timedOut) {
    t.fail(`the chaos run did not finish within ${RUN_LIMIT_MS / 1000} s; killed it and its children:\n${stderr.slice(-3000)}`);
    return;
  }
  const last = stdout.trim().split('\n').pop() ?? '';
  let report: {
    ok: boolean;
    fatal?: string;
    figures: Record<string, number>;
    mustBeZero: Record<string, number>;
    examples: Record<string, string[]>;
  };
  try {
    report = JSON.parse(last);
  } catch {
    t.fail(`no JSON report (exit ${code}):\n${stderr.slice(-3000)}`);
    return;
  }
  if (report.fatal) {
    t.fail(`the chaos run could not start its children: ${report.fatal}`);
    return;
  }
  const table = stderr.slice(stderr.indexOf('convoy-queue chaos run'));
  t.log(table);
  // What the audit found, in the failure message itself.
  const failing = Object.entries(report.mustBeZero).filter(([, v]) => v !== 0);
  const findings = [
    ...failing.map(([what, v]) => `${what}: ${v}`),
    ...Object.entries(report.examples)
      .filter(([, v]) => v.length)
      .map(([k, v]) => `${k}:\n    ${v.slice(0, 5).join('\n    ')}`),
  ].join('\n  ');
  t.true(report.ok && failing.length === 0, `the chaos audit found violations:\n  ${findings}`);
  t.is(code, report.ok ? 0 : 1);
  // The run did what it says: chaos of every kind, each worker mode, and real traffic through it.
  const f = report.figures;
  t.true(f['worker kills (SIGKILL)'] >= 1, 'no worker kill');
  t.true(f['connection kills (CLIENT KILL calls)'] >= 1, 'no connection kill');
  t.true(f['Redis pauses shorter than commandTimeout'] + f['Redis pauses longer than commandTimeout'] >= 1, 'no CLIENT PAUSE');
  t.true(f['Redis restarts shorter than commandTimeout'] + f['Redis restarts longer than commandTimeout'] >= 1, 'no Redis restart');
  t.true(f['Redis pauses longer than commandTimeout'] + f['Redis restarts longer than commandTimeout'] >= 1, 'no fault longer than commandTimeout');
  const modes = Object.keys(f).filter((k) => k.startsWith('most handlers at once'));
  t.true(modes.some((k) => k.includes('callback')), `no callback worker: ${modes.join(', ')}`);
  t.true(modes.some((k) => k.includes('bare')), `no worker on the queue without a jam guard: ${modes.join(', ')}`);
  t.true(f['of which ignored the signal, ran on'] >= 1, 'no run ignored its signal past jobTimeout');
  // The job lifecycle under chaos: delayed adds, retries (attempts 3), removals.
  t.true(f['outcome scheduled'] >= 20, `only ${f['outcome scheduled']} adds were scheduled (delayed)`);
  t.true(f["'retrying' events"] >= 20 && f['runs with attempt > 1 (retries)'] >= 20, `only ${f["'retrying' events"]} retries`);
  t.true(f['highest attempt seen'] === 3, `highest attempt ${f['highest attempt seen']}, not 3`);
  t.true(f["ended 'failed' for good (sure)"] >= 1, 'no job failed for good');
  t.true(f['removeJob calls answered true'] >= 10, `only ${f['removeJob calls answered true']} removals`);
  // (floors a loaded 2-core machine clears: they show traffic, not speed)
  t.true(f['IDs added'] > 100, `only ${f['IDs added']} IDs added`);
  t.true(f['runs'] > 200, `only ${f['runs']} runs`);
  t.true(f['consistency snapshots (MULTI)'] > 5);
  // The flow queue: prioritized and grouped runs went through its limits, and it was paused and resumed.
  t.true(f['flow queue: runs'] > 50, `only ${f['flow queue: runs']} runs on the flow queue`);
  t.true(f['with a group'] >= 10 && f['with a priority > 0'] >= 10, `flow queue: ${f['with a group']} grouped and ${f['with a priority > 0']} prioritized runs`);
  // a pause whose bounds could not be read (Redis restarting or paused at the time) is not audited, so
  // under these faults a short run may audit none: that it was tried is what this run can promise
  t.true(f['flow queue: pause() … resume() calls'] >= 1, 'the flow queue was never paused');
  t.true(f['flow queue: snapshots (processing, per group, group counters)'] > 5);
});
