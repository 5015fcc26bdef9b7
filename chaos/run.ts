/**
 * The chaos run: producers and workers in child processes against a private
 * redis-server (AOF, fsync always), while this process SIGKILLs workers, kills
 * client connections, pauses Redis and restarts it. Then it drains the queue
 * and checks, from the processes' logs and from Redis, that no ID was lost or
 * run twice at once, and that the queue's structures stayed consistent.
 *
 *   npx tsx chaos/run.ts [--duration 60] [--workers 3] [--producers 3] [--json] [--keep]
 *   npx tsx chaos/run.ts --soak [--jobs 200000] [--json] [--keep]
 *
 * The table goes to stderr; --json also prints the figures as one JSON line on
 * stdout; --keep keeps the logs (they are kept anyway when a check fails).
 * Exit code 1 when any must-be-zero figure is not zero.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, readdirSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { createQueue, Job, queueKeys, type Queue } from '../src/index.js';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';
import { QUEUE, readLines, rand, sleep, type AddLine, type ChildConfig, type ChildMessage, type RunLine } from './common.js';
import {
  analyze,
  checkSnapshot,
  leftovers,
  table,
  type Figure,
  type JamLine,
  type KillLine,
  type Snapshot,
  type SnapshotViolations,
} from './check.js';

const { values: argv } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    soak: { type: 'boolean', default: false },
    jobs: { type: 'string', default: '200000' },
    workers: { type: 'string' },
    producers: { type: 'string' },
  },
});

const started = Date.now();
const say = (msg: string) => process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
const here = fileURLToPath(new URL('.', import.meta.url));
const keys = queueKeys('convoy', QUEUE);
const base = keys.queued.slice(0, -'queued'.length);

/** jobTimeout of the workers, and the idle time after which the jam guard requeues. */
const JOB_TIMEOUT = 1000;
const JAM_IDLE = 3;

// ---- child processes

interface Child {
  kind: 'producer' | 'worker';
  proc: ChildProcess;
  pid: number;
  ready: Promise<void>;
  exited: Promise<void>;
  done?: ChildMessage;
  exitedAt?: number;
  /** soak producers: IDs added so far, and whether the whole range is in */
  added?: number;
  finished?: boolean;
}

let childCount = 0;

function spawnChild(kind: Child['kind'], cfg: ChildConfig, logDir: string): Child {
  const out = openSync(join(logDir, `${kind}-${++childCount}.out`), 'a');
  const proc = fork(join(here, `${kind}.ts`), [JSON.stringify(cfg)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', out, out, 'ipc'],
  });
  closeSync(out);
  const child: Child = { kind, proc, pid: proc.pid!, ready: undefined!, exited: undefined! };
  child.ready = new Promise<void>((resolve) => {
    proc.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') resolve();
      if (m.type === 'done') child.done = m;
      if (m.type === 'progress') {
        child.added = m.added;
        if (m.finished) child.finished = true;
      }
    });
    proc.once('exit', () => resolve());
  });
  child.exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      child.exitedAt = Date.now();
      resolve();
    }),
  );
  return child;
}

/** Ask a child to stop; SIGKILL it after `ms`. Resolves true when it stopped by itself. */
async function stopChild(c: Child, ms: number): Promise<boolean> {
  if (c.exitedAt) return true;
  try {
    c.proc.send('stop');
  } catch {
    // already gone
  }
  const timer = new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
  const clean = await Promise.race([c.exited.then(() => true), timer]);
  if (!clean) {
    c.proc.kill('SIGKILL');
    await c.exited;
  }
  return clean;
}

// ---- the jam guard, run here, each sweep logged with its send and answer times

class JamLoop {
  readonly jams: JamLine[] = [];
  sweeps = 0;
  failedSweeps = 0;
  /** sweeps begun, and whether one is under way (to tell our lock from an orphaned one) */
  begun = 0;
  sweeping = false;
  private running = true;
  private readonly loop: Promise<void>;
  constructor(
    private readonly guard: Queue,
    private readonly idle: number,
    private readonly every: number,
  ) {
    this.loop = this.run();
  }
  private async run(): Promise<void> {
    while (this.running) {
      const t0 = Date.now();
      this.begun++;
      this.sweeping = true;
      try {
        const jobs = await this.guard.jamGuard(this.idle);
        const t1 = Date.now();
        for (const j of jobs) this.jams.push({ id: j.id, t0, t1 });
        this.sweeps++;
      } catch {
        // The sweep may have requeued jobs before its answer was lost: any ID may have jammed then.
        this.failedSweeps++;
        this.jams.push({ id: '*', t0, t1: Date.now() });
      }
      this.sweeping = false;
      await sleep(this.every);
    }
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** A plain client on the side: snapshots, CLIENT KILL / PAUSE, key checks. Reconnects fast. */
async function controlClient(url: string) {
  const c = createClient({ url, socket: { reconnectStrategy: () => 50 } });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}
type Control = Awaited<ReturnType<typeof controlClient>>;

async function snapshot(control: Control): Promise<Snapshot> {
  const [committed, queued, processing] = (await control
    .multi()
    .sMembers(keys.committed)
    .lRange(keys.queued, 0, -1)
    .zRange(keys.processing, 0, -1)
    .exec()) as unknown as [string[], string[], string[]];
  return { committed, queued, processing };
}

function countViolations(v: SnapshotViolations): number {
  return v.committedOutside.length + v.queuedDuplicates.length + v.queuedAndProcessing.length + v.notCommitted.length;
}

async function stats(control: Control) {
  const [queued, committed, processing] = (await control
    .multi()
    .lLen(keys.queued)
    .sCard(keys.committed)
    .zCard(keys.processing)
    .exec()) as unknown as number[];
  return { queued, committed, processing };
}

// ---- the chaos run

async function chaos(): Promise<number> {
  const duration = Number(argv.duration) * 1000;
  const nWorkers = Number(argv.workers ?? 3);
  const nProducers = Number(argv.producers ?? 3);
  const logDir = mkdtempSync(join(tmpdir(), 'convoy-chaos-'));
  const server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always']);
  say(`redis-server on ${server.port} (AOF, fsync always); logs in ${logDir}`);

  const control = await controlClient(server.url);
  const guard = createQueue(QUEUE, { redis: server.url, commandTimeout: 2000 });
  guard.on('error', () => undefined);

  const workerCfg = (n: number): ChildConfig => ({
    url: server.url,
    log: join(logDir, `runs-${n}.jsonl`),
    concurrency: 6,
    jobTimeout: JOB_TIMEOUT,
    minMs: 1,
    maxMs: 25,
    failRate: 0.03,
    slowRate: 0.005,
  });
  let workerN = 0;
  const workers: Child[] = [];
  const spawnWorker = () => {
    const w = spawnChild('worker', workerCfg(++workerN), logDir);
    workers.push(w);
    return w;
  };
  for (let i = 0; i < nWorkers; i++) spawnWorker();
  const producers = Array.from({ length: nProducers }, (_, i) =>
    spawnChild('producer', { url: server.url, log: join(logDir, `adds-${i + 1}.jsonl`), pool: 3000, lanes: 4, pauseMs: 12 }, logDir),
  );
  await Promise.all([...workers, ...producers].map((c) => c.ready));
  say(`${nWorkers} workers and ${nProducers} producers ready`);

  const jam = new JamLoop(guard, JAM_IDLE, 300);
  const counts = { workerKills: 0, connectionKills: 0, clientKillCalls: 0, pauses: 0, restarts: 0, snapshots: 0 };
  const snapshotViolations = { committedOutside: 0, queuedDuplicates: 0, queuedAndProcessing: 0, notCommitted: 0 };
  const violationExamples: string[] = [];
  const kills: KillLine[] = [];

  const record = (v: SnapshotViolations, when: string) => {
    for (const k of Object.keys(snapshotViolations) as (keyof SnapshotViolations)[]) {
      snapshotViolations[k] += v[k].length;
      if (v[k].length && violationExamples.length < 10) violationExamples.push(`${when}: ${k}: ${v[k].slice(0, 5).join(', ')}`);
    }
  };

  // This process is the only sweeper: a sweep lock held while it is not
  // sweeping is orphaned (a sweep lost the answer to its SET NX).
  let orphanedLockSeen = 0;
  let orphanedLockLongest = 0;
  const lockOrphaned = async () => {
    const begun = jam.begun;
    if (jam.sweeping) return false;
    const pttl = await control.pTTL(keys.lock);
    return pttl > 0 && !jam.sweeping && jam.begun === begun ? pttl : false;
  };
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      try {
        const v = checkSnapshot(await snapshot(control));
        counts.snapshots++;
        if (countViolations(v)) record(v, `snapshot at +${Date.now() - started} ms`);
        const orphan = await lockOrphaned();
        if (orphan) {
          orphanedLockSeen++;
          orphanedLockLongest = Math.max(orphanedLockLongest, 30_000 - orphan);
        }
      } catch {
        // Redis down or paused: next time
      }
      await sleep(400);
    }
  })();

  const actions = {
    async kill() {
      const live = workers.filter((w) => !w.exitedAt);
      const w = live[Math.floor(Math.random() * live.length)];
      if (!w) return;
      w.proc.kill('SIGKILL');
      await w.exited;
      kills.push({ pid: w.pid, t: w.exitedAt! });
      workers.splice(workers.indexOf(w), 1);
      counts.workerKills++;
      say(`SIGKILLed worker ${w.pid}`);
      await sleep(rand(100, 400));
      spawnWorker();
    },
    async clientKill() {
      const n = Number(await control.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']));
      counts.connectionKills += n;
      counts.clientKillCalls++;
      say(`CLIENT KILL: ${n} connections`);
    },
    async pause() {
      await control.sendCommand(['CLIENT', 'PAUSE', '500', 'ALL']);
      counts.pauses++;
      say('CLIENT PAUSE 500 ALL');
    },
    async restart() {
      await server.stop({ hard: true });
      const down = rand(100, 700);
      await sleep(down);
      await server.start();
      counts.restarts++;
      say(`redis-server SIGKILLed and restarted (down ${Math.round(down)} ms + AOF load)`);
    },
  };
  type Action = keyof typeof actions;
  const first: Action[] = (['kill', 'clientKill', 'pause', 'restart'] as Action[]).sort(() => Math.random() - 0.5);
  const weighted: Action[] = ['kill', 'kill', 'kill', 'clientKill', 'clientKill', 'pause', 'pause', 'restart', 'restart'];
  const until = Date.now() + duration;
  const gap = Math.min(2000, duration / 8);
  while (Date.now() < until) {
    await sleep(rand(gap * 0.4, gap));
    if (Date.now() >= until) break;
    const action = first.shift() ?? weighted[Math.floor(Math.random() * weighted.length)];
    try {
      await actions[action]();
    } catch (err) {
      say(`${action} failed: ${(err as Error).message}`);
    }
  }

  say('stopping producers');
  const producersClean = await Promise.all(producers.map((p) => stopChild(p, 20_000)));

  say('draining');
  const drainStart = Date.now();
  const drainDeadline = drainStart + 50_000;
  let drained = false;
  let calm = 0;
  while (Date.now() < drainDeadline) {
    try {
      const s = await stats(control);
      calm = s.queued + s.processing + s.committed === 0 ? calm + 1 : 0;
      if (calm >= 3) {
        drained = true;
        break;
      }
    } catch {
      calm = 0;
    }
    await sleep(200);
  }
  const drainMs = Date.now() - drainStart;
  say(drained ? `drained in ${drainMs} ms` : `NOT drained after ${drainMs} ms`);
  // Idle workers take the last wake-up marker; then the jam guard stops.
  await sleep(1500);
  await jam.stop();
  watching = false;
  await watcher;

  const final = await snapshot(control);
  const finalV = checkSnapshot(final);
  record(finalV, 'final snapshot');
  const allKeys = (await control.keys(`${base.replace(/[{}]/g, (c) => `\\${c}`)}*`)).sort();
  const payloadIds = await control.hKeys(keys.payload);
  const failedIds = await control.zRange(keys.failed, 0, -1);
  // An orphaned sweep lock expires by itself (PX): reported on its own line, not as a leftover.
  const orphanAtEnd = (await control.pTTL(keys.lock)) > 0 ? 1 : 0;
  const left = leftovers(allKeys.filter((k) => !(orphanAtEnd && k === keys.lock)), base, payloadIds, failedIds);
  const errorLog = await control.lLen(keys.errors);

  say('stopping workers');
  const workersClean = await Promise.all(workers.map((w) => stopChild(w, 20_000)));
  for (const [i, w] of workers.entries()) if (!workersClean[i]) kills.push({ pid: w.pid, t: w.exitedAt! });

  const adds: AddLine[] = [];
  const runLines: RunLine[] = [];
  for (const f of readdirSync(logDir)) {
    if (f.startsWith('adds-')) adds.push(...readLines<AddLine>(join(logDir, f)));
    if (f.startsWith('runs-')) runLines.push(...readLines<RunLine>(join(logDir, f)));
  }
  const a = analyze(adds, runLines, jam.jams, kills);

  const figures: Figure[] = [
    { label: 'adds resolved', value: a.addsResolved },
    { label: '  outcome queued', value: a.outcomes.queued },
    { label: '  outcome committed', value: a.outcomes.committed },
    { label: '  outcome processing', value: a.outcomes.processing },
    { label: 'adds rejected (outcome unknown, retried)', value: a.addsRejected },
    { label: 'IDs added', value: a.idsAdded },
    { label: 'runs', value: a.runs },
    { label: '  completed', value: a.runsOk },
    { label: '  failed (handler threw)', value: a.runsFailed },
    { label: '  timed out (jobTimeout)', value: a.runsTimedOut },
    { label: '  cut short by SIGKILL', value: a.runsCutByKill },
    { label: 'worker kills (SIGKILL)', value: counts.workerKills },
    { label: 'connection kills (CLIENT KILL calls)', value: counts.clientKillCalls },
    { label: 'connections killed', value: counts.connectionKills },
    { label: 'Redis pauses (CLIENT PAUSE 500 ALL)', value: counts.pauses },
    { label: 'Redis restarts (SIGKILL + AOF)', value: counts.restarts },
    { label: 'jam guard sweeps', value: jam.sweeps },
    { label: 'jam guard sweeps that failed', value: jam.failedSweeps },
    { label: 'IDs requeued by the jam guard', value: a.jammedIds },
    { label: 'snapshots with an orphaned sweep lock', value: orphanedLockSeen },
    { label: 'orphaned sweep lock: longest age seen (ms)', value: orphanedLockLongest },
    { label: 'orphaned sweep lock left at the end', value: orphanAtEnd },
    { label: 'overlapping runs with a jam between', value: a.overlapsWithJam },
    { label: 'consistency snapshots (MULTI)', value: counts.snapshots },
    { label: 'drain time (ms)', value: drainMs },
    { label: 'error log length', value: errorLog },
    { label: 'IDs lost', value: a.idsLost, mustBeZero: true },
    { label: 'duplicate IDs in queued', value: snapshotViolations.queuedDuplicates, mustBeZero: true },
    { label: 'committed IDs outside queued ∪ processing', value: snapshotViolations.committedOutside, mustBeZero: true },
    { label: 'queued/processing IDs not committed', value: snapshotViolations.notCommitted, mustBeZero: true },
    { label: 'IDs both queued and processing', value: snapshotViolations.queuedAndProcessing, mustBeZero: true },
    { label: 'overlapping runs without a jam between', value: a.overlapsWithoutJam, mustBeZero: true },
    { label: 'runs without their payload', value: a.runsWithoutPayload, mustBeZero: true },
    { label: 'runs with no add or jam since the last claim', value: a.runsWithoutCause, mustBeZero: true },
    { label: 'runs of live workers that never ended', value: a.unfinishedRuns, mustBeZero: true },
    { label: 'not drained (queued+processing+committed)', value: drained ? 0 : 1, mustBeZero: true },
    { label: 'leftover keys/fields after drain', value: left.length, mustBeZero: true },
    { label: 'children that did not stop when asked', value: [...producersClean, ...workersClean].filter((c) => !c).length, mustBeZero: true },
  ];
  const failures = figures.filter((f) => f.mustBeZero && f.value !== 0);
  const report = table(figures);
  process.stderr.write(`\nconvoy-queue chaos run: ${duration / 1000} s\n${report}\n`);
  const examples = { ...a.examples, snapshots: violationExamples, leftovers: left.slice(0, 10) };
  for (const [k, v] of Object.entries(examples)) if (v.length) process.stderr.write(`${k}:\n  ${v.join('\n  ')}\n`);
  if (argv.json) {
    const out = Object.fromEntries(figures.map((f) => [f.label.trim(), f.value]));
    process.stdout.write(
      JSON.stringify({
        ok: failures.length === 0,
        figures: out,
        mustBeZero: Object.fromEntries(figures.filter((f) => f.mustBeZero).map((f) => [f.label, f.value])),
        examples,
      }) + '\n',
    );
  }

  await guard.close({ timeout: 1000 });
  control.destroy();
  await server.stop();
  if (!argv.keep && failures.length === 0) rmSync(logDir, { recursive: true, force: true });
  else say(`logs kept in ${logDir}`);
  return failures.length ? 1 : 0;
}

// ---- the soak run

async function soak(): Promise<number> {
  const total = Number(argv.jobs);
  const logDir = mkdtempSync(join(tmpdir(), 'convoy-soak-'));
  const server: RedisServer = await startRedisServer();
  say(`soak: ${total} jobs; redis-server on ${server.port}; logs in ${logDir}`);
  const control = await controlClient(server.url);
  const guard = createQueue(QUEUE, { redis: server.url, commandTimeout: 5000 });
  guard.on('error', () => undefined);
  const errorLogSize = guard.options.errorLogSize;

  const removeAllFailed = async () => {
    let removed = 0;
    for (;;) {
      const page = await guard.getFailed({ limit: 1000 });
      if (!page.length) return removed;
      removed += await guard.removeFailed(...page.map((f) => f.id));
    }
  };
  // The slow log keeps up to 128 slow commands with their arguments (big add
  // batches land there): server memory that is not the queue's, so it is
  // emptied before each measurement and its length reported.
  const slowlog: number[] = [];
  const memory = async () => {
    slowlog.push(Number(await control.sendCommand(['SLOWLOG', 'LEN'])));
    await control.sendCommand(['SLOWLOG', 'RESET']);
    const info = await control.info('memory');
    const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1]);
    const stats = flatten(await control.sendCommand(['MEMORY', 'STATS']));
    return {
      used: field('used_memory'),
      dataset: field('used_memory_dataset'),
      errorLog: Number((await control.sendCommand(['MEMORY', 'USAGE', keys.errors])) ?? 0),
      stats,
    };
  };

  // Fill the error log with entries like the soak's (short stacks), so its size is the same before and after.
  {
    const warm = createQueue(QUEUE, { redis: server.url, jobTimeout: JOB_TIMEOUT });
    let n = 0;
    warm.process(async (job) => {
      if (n++ % 10 === 0) return;
      const err = new Error(`boom ${job.id}`);
      err.stack = 'Error: boom';
      throw err;
    });
    await warm.addJobs(Array.from({ length: errorLogSize + 200 }, (_, i) => new Job(`warm-${i}`, { p: 0, n: i })));
    while ((await guard.countCommitted()) > 0) await sleep(50);
    await warm.close();
    await guard.jamGuard(JAM_IDLE);
    await removeAllFailed();
  }
  /**
   * One pass of IDs [from, to) through child-process workers (SIGKILLed now and
   * then, so runs jam) and producers, until the queue is empty; then every
   * child stops and the failure records go. Returns what it saw.
   */
  let workerN = 0;
  let passN = 0;
  const pass = async (from: number, to: number) => {
    const t0 = Date.now();
    const n = ++passN;
    const workers: Child[] = [];
    const spawnWorker = () => {
      workers.push(
        spawnChild('worker', {
          url: server.url,
          log: join(logDir, `runs-${n}-${++workerN}.jsonl`),
          concurrency: 32,
          jobTimeout: JOB_TIMEOUT,
          minMs: 0,
          maxMs: 3,
          failRate: 0.02,
          slowRate: 0.0005,
          shortStacks: true,
        }, logDir),
      );
    };
    spawnWorker();
    spawnWorker();
    const mid = from + Math.ceil((to - from) / 2);
    const producers = [
      spawnChild('producer', { url: server.url, log: join(logDir, `adds-${n}-1.jsonl`), range: [from, mid] }, logDir),
      spawnChild('producer', { url: server.url, log: join(logDir, `adds-${n}-2.jsonl`), range: [mid, to] }, logDir),
    ];
    const jam = new JamLoop(guard, 2, 500);
    let lastKill = Date.now();
    let workerKills = 0;
    let lastSay = Date.now();
    for (;;) {
      await sleep(250);
      const allAdded = producers.every((p) => p.finished);
      if (!allAdded && Date.now() - lastKill > 4000) {
        const w = workers.shift()!;
        w.proc.kill('SIGKILL');
        await w.exited;
        workerKills++;
        lastKill = Date.now();
        spawnWorker();
      }
      if (Date.now() - lastSay > 10_000) {
        lastSay = Date.now();
        const st = await stats(control).catch(() => undefined);
        say(`pass ${n}: added ${producers.reduce((k, p) => k + (p.added ?? 0), 0)} of ${to - from}; queued ${st?.queued}, processing ${st?.processing}`);
      }
      if (allAdded) {
        const st = await stats(control).catch(() => undefined);
        if (st && st.queued + st.processing + st.committed === 0) break;
      }
      if (Date.now() - t0 > 600_000) {
        say(`pass ${n} did not finish within 10 minutes`);
        break;
      }
    }
    const ms = Date.now() - t0;
    await sleep(1000);
    await jam.stop();
    await Promise.all([...workers, ...producers].map((c) => stopChild(c, 20_000)));
    const started = new Set<string>();
    let runs = 0;
    for (const f of readdirSync(logDir)) {
      if (!f.startsWith(`runs-${n}-`)) continue;
      for (const l of readLines<RunLine>(join(logDir, f))) {
        if (l.e !== 's') continue;
        runs++;
        started.add(l.id);
      }
    }
    let lost = 0;
    for (let i = from; i < to; i++) if (!started.has(`soak-${i}`)) lost++;
    const failedRecords = await guard.countFailed();
    const errorLogLength = await control.lLen(keys.errors);
    const removed = await removeAllFailed();
    await sleep(500);
    const mem = await memory();
    say(`pass ${n} (${to - from} jobs, ${Math.round(ms / 1000)} s): used_memory ${mem.used}, dataset ${mem.dataset}`);
    return { jobs: to - from, runs, lost, ms, workerKills, jams: jam.jams.length, failedRecords, removed, errorLogLength, mem };
  };

  // A short pass first: whatever Redis allocates once (script caches, client
  // and Lua buffers grown to their working size) is then in the baseline.
  const warmup = await pass(total, total + Math.min(5000, total));
  const before = warmup.mem;
  const half = Math.ceil(total / 2);
  const first = await pass(0, half);
  const second = await pass(half, total);
  const after = second.mem;
  const mainPasses = [first, second];
  const sum = (k: 'runs' | 'lost' | 'workerKills' | 'jams' | 'failedRecords' | 'removed' | 'ms') => mainPasses.reduce((n, p) => n + p[k], 0);
  const errorLogLength = Math.max(...mainPasses.map((p) => p.errorLogLength));
  const leftKeys = (await control.keys(`${base.replace(/[{}]/g, (c) => `\\${c}`)}*`)).filter((k) => k !== keys.errors);
  const growth = (after.used - before.used) / before.used;
  const figures: Figure[] = [
    { label: 'jobs added (after a warm-up pass)', value: total },
    { label: 'runs', value: sum('runs') },
    { label: 'worker kills (SIGKILL)', value: sum('workerKills') },
    { label: 'IDs requeued by the jam guard', value: sum('jams') },
    { label: 'failure records before removeFailed', value: sum('failedRecords') },
    { label: 'failure records removed', value: sum('removed') },
    { label: 'seconds to pass all jobs', value: Math.round(sum('ms') / 1000) },
    { label: 'used_memory after warm-up (bytes)', value: before.used },
    { label: 'used_memory after half the jobs', value: first.mem.used },
    { label: 'used_memory after all jobs', value: after.used },
    { label: 'used_memory_dataset after warm-up', value: before.dataset },
    { label: 'used_memory_dataset after all jobs', value: after.dataset },
    { label: 'error log MEMORY USAGE before', value: before.errorLog },
    { label: 'error log MEMORY USAGE after', value: after.errorLog },
    { label: 'used_memory change (per mille)', value: Math.round(growth * 1000) },
    { label: 'error log length (most seen)', value: errorLogLength },
    { label: 'slow log entries reset before measuring', value: slowlog.at(-1) ?? 0 },
    { label: 'IDs never run', value: sum('lost') + warmup.lost, mustBeZero: true },
    { label: 'used_memory off by more than 5%', value: Math.abs(growth) > 0.05 ? 1 : 0, mustBeZero: true },
    { label: 'error log longer than errorLogSize', value: errorLogLength > errorLogSize ? 1 : 0, mustBeZero: true },
    { label: 'keys left besides the error log', value: leftKeys.length, mustBeZero: true },
  ];
  const failures = figures.filter((f) => f.mustBeZero && f.value !== 0);
  process.stderr.write(`\nconvoy-queue soak run\n${table(figures)}\n`);
  if (leftKeys.length) process.stderr.write(`left: ${leftKeys.join(', ')}\n`);
  const moved = Object.keys(after.stats).filter((k) => Math.abs(after.stats[k] - (before.stats[k] ?? 0)) >= 1024);
  if (moved.length) {
    process.stderr.write(`MEMORY STATS fields that moved by 1 KB or more since the warm-up:\n`);
    for (const k of moved) process.stderr.write(`  ${k}: ${before.stats[k]} -> ${after.stats[k]}\n`);
  }
  if (argv.json) process.stdout.write(JSON.stringify({ ok: failures.length === 0, figures: Object.fromEntries(figures.map((f) => [f.label, f.value])) }) + '\n');
  await guard.close({ timeout: 1000 });
  control.destroy();
  await server.stop();
  if (!argv.keep && failures.length === 0) rmSync(logDir, { recursive: true, force: true });
  else say(`logs kept in ${logDir}`);
  return failures.length ? 1 : 0;
}

/** MEMORY STATS as name → number (nested maps flattened with dots; a flat array or an object). */
function flatten(reply: unknown, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  const entries: Array<[string, unknown]> = Array.isArray(reply)
    ? Array.from({ length: reply.length >> 1 }, (_, i) => [String(reply[2 * i]), reply[2 * i + 1]])
    : Object.entries((reply ?? {}) as Record<string, unknown>);
  for (const [key, value] of entries) {
    const name = prefix + key;
    if (value !== null && typeof value === 'object') Object.assign(out, flatten(value, `${name}.`));
    else if (typeof value === 'number' || /^-?\d+(\.\d+)?$/.test(String(value))) out[name] = Number(value);
  }
  return out;
}

const code = await (argv.soak ? soak() : chaos());
process.exit(code);
