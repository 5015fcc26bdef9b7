/**
 * The chaos run: producers and workers in child processes against a private
 * redis-server (AOF, fsync always), while this process SIGKILLs workers, kills
 * client connections, pauses Redis (CLIENT PAUSE shorter and longer than the
 * workers' commandTimeout) and restarts it (SIGKILL, down for shorter and
 * longer than commandTimeout). Then it drains the queues and checks, from the
 * processes' logs and from Redis, that no ID was lost, stuck in processing or
 * run twice at once, that no worker ran more handlers at once than its
 * concurrency, that no run was reported twice, and that the queues'
 * structures stayed consistent (committed = queued ∪ scheduled ∪ processing).
 *
 * The job lifecycle is in it too: half the adds carry { attempts: 3, backoff },
 * a quarter a delay of 0..1 s, handlers fail 15% of their runs, and producer 1
 * calls removeJob some 10 times a second (on recent adds, a third of the time
 * on a running ID). The audit checks that each life (an add answered queued or
 * scheduled) ends once ('completed', 'failed' for good, or removed) and none is
 * lost, that no run starts before its due time or a retry before its backoff,
 * that attempts stay within the limit and go up by one per retry, that a
 * removed ID runs again only after a new add and that a run cancelled by a
 * removal is not reported. Two runs of an ID may overlap across a removal:
 * the removed run is cancelled (its signal aborts at its worker's next
 * renewal, or never, for a handler that ignores it) while the ID, added again,
 * runs anew; its result changes nothing.
 *
 * Three queues: QUEUE, swept by a jam guard in this process, BARE_QUEUE,
 * swept by none (its workers have only the library's own recovery: the lease,
 * `stallTimeout`), and FLOW_QUEUE, swept by none either, under flow control
 * (FLOW: group and global concurrency, a rate limit that binds; adds with
 * priorities 0..10 and, half, a group), paused now and then for 200..800 ms.
 * Its audit (chaos/check.ts flowAudit, checkFlowSnapshot): no more current
 * claims at once than the limits, globally and per group; starts `max` apart
 * in claim order at least `duration` apart; no claim inside a pause (Redis
 * clock); and in snapshots, processing and each group's counter within and
 * true to the limits. The workers' modes are mixed (chaos/worker.ts): async or
 * callback handlers (calling `done` from the abort listener), handlers that
 * ignore their signal past jobTimeout, duplicateWhileProcessing 'rerun'.
 *
 *   npx tsx chaos/run.ts [--duration 60] [--workers 5] [--producers 3] [--json] [--keep]
 *                        [--command-timeout 500] [--stall-timeout 3000 | --no-stall-timeout]
 *                        [--drain-timeout S]   (the drain's cap; it ends sooner when nothing moves)
 *   npx tsx chaos/run.ts --soak [--jobs 200000] [--json] [--keep]
 *
 * The stall timeout also comes from CHAOS_STALL_TIMEOUT (ms; 0 = do not pass
 * it). The table goes to stderr; --json also prints the figures as one JSON
 * line on stdout; --keep keeps the logs (they are kept anyway when a check
 * fails). Exit code 1 when any must-be-zero figure is not zero.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, readdirSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { createQueue, Job, queueKeys, type Queue, type QueueKeys } from '../src/index.js';
import { groupKeys } from '../src/keys.js';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';
import {
  BARE_QUEUE,
  FLOW_GROUPS,
  FLOW_QUEUE,
  QUEUE,
  flowGroup,
  isRunLine,
  readLines,
  rand,
  sleep,
  type AddLine,
  type ChildConfig,
  type RemoveLine,
  type WorkerEventLine,
  type ChildMessage,
  type RunLine,
  type WorkerLine,
  type WorkerMode,
} from './common.js';
import {
  analyze,
  checkFlowSnapshot,
  checkSnapshot,
  collectRuns,
  flowAudit,
  concurrencyAudit,
  leftovers,
  KEPT_FOR_FAILED,
  reportAudit,
  table,
  type Figure,
  type FlowLimits,
  type FlowSnapshot,
  type PauseWindow,
  type JamLine,
  type KillLine,
  type RunAnalysis,
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
    'command-timeout': { type: 'string', default: '500' },
    'stall-timeout': { type: 'string', default: process.env.CHAOS_STALL_TIMEOUT ?? '3000' },
    'no-stall-timeout': { type: 'boolean', default: false },
    'drain-timeout': { type: 'string' },
  },
});

const started = Date.now();
const say = (msg: string) => process.stderr.write(`[chaos +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
const here = fileURLToPath(new URL('.', import.meta.url));
const keys = queueKeys('convoy', QUEUE);
const bareKeys = queueKeys('convoy', BARE_QUEUE);
const flowKeys = queueKeys('convoy', FLOW_QUEUE);
const GROUPS = Array.from({ length: FLOW_GROUPS }, (_, i) => flowGroup(i));
/** every queue, with its keys and the groups its jobs may have */
const QUEUES = [
  [QUEUE, keys, []],
  [BARE_QUEUE, bareKeys, []],
  [FLOW_QUEUE, flowKeys, GROUPS],
] as const;
const baseOf = (k: QueueKeys) => k.queued.slice(0, -'queued'.length);
const base = baseOf(keys);

/** jobTimeout of the workers, and the idle time after which the jam guard requeues. */
const JOB_TIMEOUT = 1000;
const JAM_IDLE = 3;
/** IDs 0..HOT_POOL-1 get a share of the adds: adds keep meeting them while they run. */
const HOT_POOL = 25;
/**
 * The flow queue's limits: the global concurrency below its workers' slots
 * (6 + 4, see MODES), so it binds; a rate limit below what its workers could
 * start (some 10 slots / 70 ms), so it binds too; and its IDs' pool, small so
 * the rate-limited backlog drains in seconds.
 */
const FLOW: FlowLimits = { concurrency: 6, groupConcurrency: 2, rate: { max: 40, duration: 500 } };
const FLOW_POOL = 250;

// ---- child processes

interface Child {
  kind: 'producer' | 'worker';
  proc: ChildProcess;
  pid: number;
  ready: Promise<void>;
  exited: Promise<void>;
  done?: ChildMessage;
  /** a worker that could not start: why */
  fatal?: string;
  exitedAt?: number;
  /** workers: the mode, kept when a killed worker is replaced */
  mode?: WorkerMode;
  /** soak producers: IDs added so far, and whether the whole range is in */
  added?: number;
  finished?: boolean;
}

let childCount = 0;
/** Every child still running: SIGKILLed when this process exits, however it exits. */
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    say(`${sig}: stopping`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

function spawnChild(kind: Child['kind'], cfg: ChildConfig, logDir: string): Child {
  const out = openSync(join(logDir, `${kind}-${++childCount}.out`), 'a');
  const proc = fork(join(here, `${kind}.ts`), [JSON.stringify(cfg)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', out, out, 'ipc'],
  });
  closeSync(out);
  liveChildren.add(proc);
  const child: Child = { kind, proc, pid: proc.pid!, ready: undefined!, exited: undefined! };
  child.ready = new Promise<void>((resolve) => {
    proc.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') resolve();
      if (m.type === 'done') child.done = m;
      if (m.type === 'fatal') child.fatal = m.message;
      if (m.type === 'progress') {
        child.added = m.added;
        if (m.finished) child.finished = true;
      }
    });
    proc.once('exit', () => resolve());
  });
  child.exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      liveChildren.delete(proc);
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

/** The queue's structures at one instant; the waiting IDs of the prioritized zset and of the groups' lists count as queued. */
async function snapshot(control: Control, k: QueueKeys = keys, groups: readonly string[] = []): Promise<Snapshot> {
  const multi = control.multi().sMembers(k.committed).lRange(k.queued, 0, -1).zRange(k.processing, 0, -1).zRange(k.scheduled, 0, -1).zRange(k.prioritized, 0, -1);
  for (const g of groups) multi.lRange(groupKeys(k, g).list, 0, -1);
  const [committed, queued, processing, scheduled, ...waiting] = (await multi.exec()) as unknown as string[][];
  return { committed, queued: [...queued, ...waiting.flat()], processing, scheduled };
}

/** Read-only: the processing count, the IDs in processing per group (their stored options), and the gactive hash, at one instant. */
const FLOW_SNAPSHOT = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local byGroup = {}
for _, id in ipairs(ids) do
  local o = redis.call('HGET', KEYS[2], id)
  local ok, t = pcall(cjson.decode, o or '')
  if ok and type(t) == 'table' and t.group then byGroup[t.group] = (byGroup[t.group] or 0) + 1 end
end
local flat = {}
for g, n in pairs(byGroup) do flat[#flat + 1] = g; flat[#flat + 1] = n end
return { #ids, flat, redis.call('HGETALL', KEYS[3]) }`;
async function flowSnapshot(control: Control): Promise<FlowSnapshot> {
  const [processing, byGroup, gactive] = (await control.eval(FLOW_SNAPSHOT, { keys: [flowKeys.processing, flowKeys.options, flowKeys.gactive] })) as [number, unknown[], unknown[]];
  const pairs = (flat: unknown[]) => Object.fromEntries(Array.from({ length: flat.length >> 1 }, (_, i) => [String(flat[2 * i]), Number(flat[2 * i + 1])]));
  return { processing: Number(processing), processingByGroup: pairs(byGroup), gactive: pairs(gactive) };
}

function countViolations(v: SnapshotViolations): number {
  return v.committedOutside.length + v.queuedDuplicates.length + v.queuedAndProcessing.length + v.scheduledAndOther.length + v.notCommitted.length;
}

async function stats(control: Control, k: QueueKeys = keys) {
  const [queued, committed, processing, scheduled] = (await control
    .multi()
    .lLen(k.queued)
    .sCard(k.committed)
    .zCard(k.processing)
    .zCard(k.scheduled)
    .exec()) as unknown as number[];
  return { queued, committed, processing, scheduled };
}

/** Sum two analyses (of the two queues); examples are tagged with their queue. */
function mergeAnalyses(parts: Array<[string, RunAnalysis]>): RunAnalysis {
  const out = structuredClone(parts[0][1]);
  for (const [k, v] of Object.entries(out.examples)) (out.examples as Record<string, string[]>)[k] = v.map((s) => `[${parts[0][0]}] ${s}`);
  for (const [name, a] of parts.slice(1)) {
    for (const key of Object.keys(a) as (keyof RunAnalysis)[]) {
      if (key === 'maxAttempt') out.maxAttempt = Math.max(out.maxAttempt, a.maxAttempt);
      else if (typeof a[key] === 'number') (out[key] as number) += a[key] as number;
    }
    for (const [k, v] of Object.entries(a.outcomes)) out.outcomes[k] = (out.outcomes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(a.examples)) {
      const list = (out.examples as Record<string, string[]>)[k];
      list.push(...v.map((s) => `[${name}] ${s}`));
    }
  }
  for (const v of Object.values(out.examples)) v.splice(8);
  return out;
}

// ---- the chaos run

/**
 * The fleet's modes, in turn: worker i gets MODES[i % MODES.length], and a
 * killed worker is replaced by one of the same mode.
 */
const MODES: WorkerMode[] = [
  { name: 'async', queue: QUEUE, handler: 'async', ignoreSignal: false, rerun: false, concurrency: 6 },
  { name: 'bare, callback done-from-signal, rerun', queue: BARE_QUEUE, handler: 'callback', ignoreSignal: false, rerun: true, concurrency: 1 },
  { name: 'bare, async, ignores signal', queue: BARE_QUEUE, handler: 'async', ignoreSignal: true, rerun: false, concurrency: 4 },
  { name: 'callback, done-from-signal or ignores it, rerun', queue: QUEUE, handler: 'callback', ignoreSignal: true, rerun: true, concurrency: 2 },
  { name: 'bare, async', queue: BARE_QUEUE, handler: 'async', ignoreSignal: false, rerun: false, concurrency: 6 },
  // The flow queue's handlers take longer (20..120 ms), so its global and group concurrency bind as well as its rate limit.
  { name: 'flow, async', queue: FLOW_QUEUE, handler: 'async', ignoreSignal: false, rerun: false, concurrency: 6, handlerMs: [20, 120] },
  { name: 'flow, callback, ignores signal', queue: FLOW_QUEUE, handler: 'callback', ignoreSignal: true, rerun: false, concurrency: 4, handlerMs: [20, 120] },
];

async function chaos(): Promise<number> {
  const duration = Number(argv.duration) * 1000;
  const nWorkers = Number(argv.workers ?? MODES.length);
  const nProducers = Number(argv.producers ?? 3);
  const commandTimeout = Number(argv['command-timeout']);
  const stallTimeout = argv['no-stall-timeout'] ? 0 : Number(argv['stall-timeout']);
  /** the recovery's reach: runs of dead workers come back within a few stall timeouts (or the jam guard's idle time) */
  const recovery = Math.max(stallTimeout || 3000, JAM_IDLE * 1000);
  /** the drain goes on while the queues shrink; it ends when they stop shrinking for this long, or at the cap */
  const drainStall = 10_000 + 4 * recovery;
  const drainCap = argv['drain-timeout'] ? Number(argv['drain-timeout']) * 1000 : 90_000;
  const logDir = mkdtempSync(join(tmpdir(), 'convoy-chaos-'));
  const server = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always']);
  say(
    `redis-server on ${server.port} (AOF, fsync always); logs in ${logDir}; commandTimeout ${commandTimeout} ms; ` +
      (stallTimeout ? `stallTimeout ${stallTimeout} ms` : 'no stallTimeout passed'),
  );

  const control = await controlClient(server.url);
  const guard = createQueue(QUEUE, { redis: server.url, commandTimeout: 2000 });
  guard.on('error', () => undefined);
  // The flow queue's limits, set before any worker or producer starts; this object also pauses and resumes it.
  const flow = createQueue(FLOW_QUEUE, { redis: server.url, commandTimeout: 2000 });
  flow.on('error', () => undefined);
  await flow.setGroupConcurrency(FLOW.groupConcurrency);
  await flow.setGlobalConcurrency(FLOW.concurrency);
  await flow.setRateLimit(FLOW.rate);

  const workerCfg = (n: number, mode: WorkerMode): ChildConfig => ({
    url: server.url,
    log: join(logDir, `runs-${n}.jsonl`),
    queue: mode.queue,
    mode: mode.name,
    handler: mode.handler,
    ignoreSignal: mode.ignoreSignal,
    rerun: mode.rerun,
    concurrency: mode.concurrency,
    jobTimeout: JOB_TIMEOUT,
    commandTimeout,
    stallTimeout: stallTimeout || undefined,
    minMs: mode.handlerMs?.[0] ?? 1,
    maxMs: mode.handlerMs?.[1] ?? 25,
    // Handlers fail at random; adds with attempts: 3 retry (chaos/producer.ts).
    failRate: 0.15,
    slowRate: mode.ignoreSignal ? 0.03 : 0.005,
    // Runs of the hot IDs, which adds keep meeting while they run, are often slow.
    hotPool: HOT_POOL,
    hotSlowRate: 0.25,
  });
  let workerN = 0;
  const workers: Child[] = [];
  const modes = new Map<number, string>();
  const spawnWorker = (mode: WorkerMode) => {
    const w = spawnChild('worker', workerCfg(++workerN, mode), logDir);
    w.mode = mode;
    modes.set(w.pid, mode.name);
    workers.push(w);
    return w;
  };
  for (let i = 0; i < nWorkers; i++) spawnWorker(MODES[i % MODES.length]);
  const producers = Array.from({ length: nProducers }, (_, i) =>
    spawnChild(
      'producer',
      {
        url: server.url,
        log: join(logDir, `adds-${i + 1}.jsonl`),
        pool: 3000,
        lanes: 4,
        pauseMs: 12,
        queues: [QUEUE, BARE_QUEUE, FLOW_QUEUE],
        flow: { queue: FLOW_QUEUE, pool: FLOW_POOL, maxPriority: 10, groupRate: 0.5, groups: FLOW_GROUPS },
        commandTimeout,
        rerunRate: 0.3,
        hotRate: 0.2,
        hotPool: HOT_POOL,
        retryRate: 0.5,
        delayRate: 0.25,
        maxDelay: 1000,
        // Producer 1 also removes: some 10 removeJob calls a second.
        removeEvery: i === 0 ? 100 : 0,
        removeLog: join(logDir, `removes-${i + 1}.jsonl`),
      },
      logDir,
    ),
  );
  await Promise.all([...workers, ...producers].map((c) => c.ready));
  const broken = [...workers, ...producers].filter((c) => c.fatal || c.exitedAt);
  if (broken.length) {
    for (const c of broken) {
      const out = readFileSync(join(logDir, `${c.kind}-${[...workers, ...producers].indexOf(c) + 1}.out`), 'utf8').slice(-1000);
      say(`${c.kind} ${c.pid} did not start: ${c.fatal ?? out}`);
    }
    for (const c of [...workers, ...producers]) c.proc.kill('SIGKILL');
    control.destroy();
    await guard.close({ timeout: 500 }).catch(() => undefined);
    await flow.close({ timeout: 500 }).catch(() => undefined);
    await server.stop();
    say(`logs kept in ${logDir}`);
    if (argv.json) process.stdout.write(JSON.stringify({ ok: false, fatal: broken.map((c) => c.fatal ?? 'exited').join('; ') }) + '\n');
    return 1;
  }
  say(`${nWorkers} workers (${workers.map((w) => w.mode!.name).join(' | ')}) and ${nProducers} producers ready`);

  const jam = new JamLoop(guard, JAM_IDLE, 300);
  const counts = {
    workerKills: 0,
    connectionKills: 0,
    clientKillCalls: 0,
    pausesShort: 0,
    pausesLong: 0,
    restartsShort: 0,
    restartsLong: 0,
    snapshots: 0,
  };
  const snapshotViolations: Record<keyof SnapshotViolations, number> = {
    committedOutside: 0,
    queuedDuplicates: 0,
    queuedAndProcessing: 0,
    scheduledAndOther: 0,
    notCommitted: 0,
  };
  const violationExamples: string[] = [];
  const kills: KillLine[] = [];
  /** the flow queue's snapshots: over a limit, or a group counter off its IDs in processing */
  const flowSnapshots = { taken: 0, overConcurrency: 0, overGroupConcurrency: 0, counterDrift: 0, maxProcessing: 0 };
  const recordFlow = (s: FlowSnapshot, when: string) => {
    const v = checkFlowSnapshot(s, FLOW);
    flowSnapshots.taken++;
    flowSnapshots.maxProcessing = Math.max(flowSnapshots.maxProcessing, s.processing);
    flowSnapshots.overConcurrency += v.overConcurrency ? 1 : 0;
    flowSnapshots.overGroupConcurrency += v.overGroupConcurrency.length;
    flowSnapshots.counterDrift += v.counterDrift.length;
    const found = [...(v.overConcurrency ? [`${s.processing} processing`] : []), ...v.overGroupConcurrency, ...v.counterDrift];
    if (found.length && violationExamples.length < 10) violationExamples.push(`${FLOW_QUEUE} ${when}: ${found.join('; ')}`);
  };

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
        for (const [name, k, groups] of QUEUES) {
          const v = checkSnapshot(await snapshot(control, k, groups));
          counts.snapshots++;
          if (countViolations(v)) record(v, `${name} snapshot at +${Date.now() - started} ms`);
        }
        recordFlow(await flowSnapshot(control), `snapshot at +${Date.now() - started} ms`);
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

  const pause = async (ms: number, long: boolean) => {
    await control.sendCommand(['CLIENT', 'PAUSE', String(ms), 'ALL']);
    if (long) counts.pausesLong++;
    else counts.pausesShort++;
    say(`CLIENT PAUSE ${ms} ALL (${long ? 'longer' : 'shorter'} than commandTimeout ${commandTimeout})`);
  };
  /** Redis away for `down` ms plus its restart and AOF load: short or long by the outage measured. */
  const restart = async (down: number) => {
    const t0 = Date.now();
    await server.stop({ hard: true });
    await sleep(down);
    await server.start();
    const t1 = Date.now();
    const long = t1 - t0 > commandTimeout;
    if (long) counts.restartsLong++;
    else counts.restartsShort++;
    say(`redis-server SIGKILLed and restarted: down ${t1 - t0} ms (${long ? 'longer' : 'shorter'} than commandTimeout)`);
  };
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
      say(`SIGKILLed worker ${w.pid} (${w.mode!.name})`);
      await sleep(rand(100, 400));
      spawnWorker(w.mode!);
    },
    async clientKill() {
      const n = Number(await control.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']));
      counts.connectionKills += n;
      counts.clientKillCalls++;
      say(`CLIENT KILL: ${n} connections`);
    },
    pauseShort: () => pause(Math.round(rand(0.2, 0.7) * commandTimeout), false),
    pauseLong: () => pause(Math.round(rand(2, 3) * commandTimeout), true),
    // The restart itself takes some 100 ms more.
    restartShort: () => restart(rand(0.05, 0.3) * commandTimeout),
    // Down 1.5 × commandTimeout to 4 s (less in short runs).
    restartLong: () => restart(rand(1.5 * commandTimeout, Math.max(1.5 * commandTimeout, Math.min(4000, duration / 5)))),
  };
  // The flow queue is paused and resumed now and then, beside the faults: for
  // 200..800 ms, each pause bounded on the Redis clock (TIME right after
  // pause() resolved, right before resume() is called). A pause() that
  // rejected may have taken effect: it is resumed all the same, and not
  // audited. resume() is sent until it resolves.
  const pauses: PauseWindow[] = [];
  const pauseCounts = { calls: 0, unknown: 0 };
  const redisMs = async () => {
    const [sec, usec] = (await control.sendCommand(['TIME'])) as [string, string];
    return Number(sec) * 1000 + Number(usec) / 1000;
  };
  const pauseFlow = async () => {
    pauseCounts.calls++;
    let from: number | undefined;
    try {
      await flow.pause();
      from = await redisMs();
    } catch (err) {
      pauseCounts.unknown++;
      say(`${FLOW_QUEUE}: pause() failed (${(err as Error).message}); resuming anyway`);
    }
    const ms = rand(200, 800);
    await sleep(ms);
    let to: number | undefined;
    try {
      to = await redisMs();
    } catch {
      // not audited
    }
    for (let i = 0; ; i++) {
      try {
        await flow.resume();
        break;
      } catch (err) {
        if (i % 20 === 0) say(`${FLOW_QUEUE}: resume() failed (${(err as Error).message}); again`);
        await sleep(100);
      }
    }
    if (from !== undefined && to !== undefined) pauses.push({ from, to });
    say(`${FLOW_QUEUE} paused for ${Math.round(ms)} ms`);
  };
  const pauseLoop = (async () => {
    const n = Math.max(2, Math.round(duration / 10_000));
    const every = duration / (n + 1);
    const end = Date.now() + duration;
    for (let i = 0; i < n; i++) {
      await sleep(rand(0.5, 1.2) * every);
      if (Date.now() >= end - 1000) break;
      await pauseFlow();
    }
  })();
  type Action = keyof typeof actions;
  const kinds = Object.keys(actions) as Action[];
  const first: Action[] = [...kinds].sort(() => Math.random() - 0.5);
  const weighted: Action[] = ['kill', 'kill', 'kill', 'clientKill', 'clientKill', 'pauseShort', 'pauseLong', 'restartShort', 'restartLong'];
  const until = Date.now() + duration;
  const gap = Math.min(2000, duration / 12);
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

  await pauseLoop;
  say('stopping producers');
  const producersClean = await Promise.all(producers.map((p) => stopChild(p, 20_000)));

  say(
    `draining (the jam guard sweeps ${QUEUE}, only the library's recovery ${BARE_QUEUE} and ${FLOW_QUEUE}; ` +
      `until nothing moves for ${Math.round(drainStall / 1000)} s, at most ${Math.round(drainCap / 1000)} s)`,
  );
  const drainStart = Date.now();
  let drained = false;
  let calm = 0;
  let lastStats = '';
  let least = Infinity;
  let movedAt = drainStart;
  while (Date.now() < drainStart + drainCap && Date.now() < movedAt + drainStall) {
    try {
      let left = 0;
      lastStats = '';
      for (const [name, k] of QUEUES) {
        const s = await stats(control, k);
        lastStats += `${name} ${JSON.stringify(s)} `;
        left += s.queued + s.processing + s.scheduled + s.committed;
      }
      if (left < least) {
        least = left;
        movedAt = Date.now();
      }
      calm = left === 0 ? calm + 1 : 0;
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
  const why = Date.now() >= movedAt + drainStall ? `nothing moved for ${Math.round((Date.now() - movedAt) / 1000)} s` : 'the cap';
  say(drained ? `drained in ${drainMs} ms` : `NOT drained after ${drainMs} ms (${why}): ${lastStats}`);
  // Idle workers take the last wake-up marker; then the jam guard stops.
  await sleep(1500);
  await jam.stop();
  watching = false;
  await watcher;

  /** per queue: the final snapshot, IDs stuck in processing or committed, leftovers */
  const ends: Array<{ name: string; stuck: string[]; committed: string[]; left: string[]; errorLog: number; stalledFailed: Set<string> }> = [];
  let orphanAtEnd = 0;
  for (const [name, k, groups] of QUEUES) {
    const final = await snapshot(control, k, groups);
    record(checkSnapshot(final), `${name} final snapshot`);
    const b = baseOf(k);
    const allKeys = (await control.keys(`${b.replace(/[{}]/g, (c) => `\\${c}`)}*`)).sort();
    const fields: Record<string, string[]> = {};
    for (const h of KEPT_FOR_FAILED) fields[h] = await control.hKeys(k[h]);
    const failedIds = await control.zRange(k.failed, 0, -1);
    // An orphaned sweep lock expires by itself (PX): reported on its own line, not as a leftover.
    const orphan = (await control.pTTL(k.lock)) > 0 ? 1 : 0;
    if (k === keys) orphanAtEnd = orphan;
    ends.push({
      name,
      stuck: final.processing,
      committed: final.committed,
      left: leftovers(allKeys.filter((x) => !(orphan && x === k.lock)), b, fields, failedIds),
      errorLog: await control.lLen(k.errors),
      stalledFailed: new Set(
        Object.entries(await control.hGetAll(k.failinfo))
          .filter(([, err]) => /"stalled":true/.test(err))
          .map(([id]) => id),
      ),
    });
  }
  recordFlow(await flowSnapshot(control), 'final snapshot');
  const stuck = ends.flatMap((e) => e.stuck.map((id) => `[${e.name}] ${id}`));
  const stillCommitted = ends.flatMap((e) => e.committed.map((id) => `[${e.name}] ${id}`));
  const left = ends.flatMap((e) => e.left);

  say('stopping workers');
  const workersClean = await Promise.all(workers.map((w) => stopChild(w, 10_000)));
  for (const [i, w] of workers.entries()) if (!workersClean[i]) kills.push({ pid: w.pid, t: w.exitedAt! });

  const adds: AddLine[] = [];
  const removes: RemoveLine[] = [];
  const workerLines: WorkerLine[] = [];
  for (const f of readdirSync(logDir)) {
    if (f.startsWith('adds-')) adds.push(...readLines<AddLine>(join(logDir, f)));
    if (f.startsWith('removes-')) removes.push(...readLines<RemoveLine>(join(logDir, f)));
    if (f.startsWith('runs-')) workerLines.push(...readLines<WorkerLine>(join(logDir, f)));
  }
  const queueOfPid = new Map<number, string>();
  for (const l of workerLines) if (l.e === 'h') queueOfPid.set(l.pid, l.q ?? QUEUE);
  const runLines = workerLines.filter(isRunLine);
  // Stall recoveries are requeues like the jam guard's: each ID a renewal put
  // back (sent at most commandTimeout before its answer); a renewal that
  // failed, or a worker killed with one under way, may have put back any ID.
  const recoveries = new Map<string, JamLine[]>(QUEUES.map(([name]) => [name, []]));
  let stalledIds = 0;
  let renewalsFailed = 0;
  for (const l of workerLines) {
    const list = recoveries.get(queueOfPid.get(l.pid) ?? QUEUE)!;
    if (l.e === 'st') {
      for (const id of l.ids ?? []) list.push({ id, t0: l.t - commandTimeout, t1: l.t });
      stalledIds += l.ids?.length ?? 0;
    }
    if (l.e === 'rx') {
      list.push({ id: '*', t0: l.t - commandTimeout, t1: l.t });
      renewalsFailed++;
    }
  }
  for (const k of kills) recoveries.get(queueOfPid.get(k.pid) ?? QUEUE)!.push({ id: '*', t0: k.t - commandTimeout, t1: k.t });
  const a = mergeAnalyses(
    QUEUES.map(([name]) => [
      name,
      analyze(
        adds.filter((x) => (x.q ?? QUEUE) === name),
        runLines.filter((l: RunLine) => (queueOfPid.get(l.pid) ?? QUEUE) === name),
        [...(name === QUEUE ? jam.jams : []), ...recoveries.get(name)!],
        kills,
        {
          modes,
          stalledFailed: ends.find((e) => e.name === name)!.stalledFailed,
          removes: removes.filter((x) => (x.q ?? QUEUE) === name),
          events: workerLines.filter((l): l is WorkerEventLine => !isRunLine(l) && (queueOfPid.get(l.pid) ?? QUEUE) === name),
        },
      ),
    ]),
  );
  // Jams as the jam guard reported them (the analysis also counts stall recoveries as jams).
  const jammedIds = jam.jams.filter((j) => j.id !== '*').length;
  const conc = concurrencyAudit(workerLines, started);
  const flowRuns = collectRuns(runLines.filter((l) => queueOfPid.get(l.pid) === FLOW_QUEUE), kills);
  const fa = flowAudit(flowRuns, FLOW, { jams: recoveries.get(FLOW_QUEUE), removes: removes.filter((x) => x.q === FLOW_QUEUE), pauses });
  const flowAdds = adds.filter((x) => x.q === FLOW_QUEUE && x.o);
  const reports = reportAudit(workerLines, modes);

  const byMode = new Map<string, { concurrency: number; maxSeen: number }>();
  for (const w of conc.workers) {
    const m = byMode.get(w.mode) ?? { concurrency: w.concurrency, maxSeen: 0 };
    m.maxSeen = Math.max(m.maxSeen, w.maxSeen);
    byMode.set(w.mode, m);
  }

  const figures: Figure[] = [
    { label: 'adds resolved', value: a.addsResolved },
    { label: '  outcome queued', value: a.outcomes.queued },
    { label: '  outcome scheduled', value: a.outcomes.scheduled },
    { label: '  outcome committed', value: a.outcomes.committed },
    { label: '  outcome processing', value: a.outcomes.processing },
    { label: 'adds rejected (outcome unknown, retried)', value: a.addsRejected },
    { label: '  with a delay (0..1 s)', value: a.addsDelayed },
    { label: '  with attempts 3', value: a.addsWithAttempts },
    { label: 'IDs added', value: a.idsAdded },
    { label: 'lives started (adds answered queued or scheduled)', value: a.livesStarted },
    { label: "  ended 'completed' (sure)", value: a.livesCompleted },
    { label: "  ended 'failed' for good (sure)", value: a.livesFailed },
    { label: 'removeJob calls answered true', value: a.removesTrue },
    { label: 'removeJob calls answered false', value: a.removesFalse },
    { label: 'removeJob calls rejected (outcome unknown)', value: a.removesUnknown },
    { label: 'runs cancelled by removeJob', value: a.runsCancelled },
    { label: '  of which ran on 100 ms or more after it', value: a.runsCancelledLate },
    { label: 'runs', value: a.runs },
    { label: '  completed', value: a.runsOk },
    { label: '  failed (handler threw)', value: a.runsFailed },
    { label: '  timed out (jobTimeout)', value: a.runsTimedOut },
    { label: '    of which ignored the signal, ran on', value: a.runsLate },
    { label: '  cut short by SIGKILL', value: a.runsCutByKill },
    { label: 'runs with attempt > 1 (retries)', value: a.runsRetried },
    { label: '  highest attempt seen', value: a.maxAttempt },
    { label: "'completed' events", value: reports.completedEvents },
    { label: "'failed' events", value: reports.failedEvents },
    { label: "'retrying' events", value: reports.retryingEvents },
    { label: 'worker kills (SIGKILL)', value: counts.workerKills },
    { label: 'connection kills (CLIENT KILL calls)', value: counts.clientKillCalls },
    { label: 'connections killed', value: counts.connectionKills },
    { label: 'Redis pauses shorter than commandTimeout', value: counts.pausesShort },
    { label: 'Redis pauses longer than commandTimeout', value: counts.pausesLong },
    { label: 'Redis restarts shorter than commandTimeout', value: counts.restartsShort },
    { label: 'Redis restarts longer than commandTimeout', value: counts.restartsLong },
    { label: 'jam guard sweeps', value: jam.sweeps },
    { label: 'jam guard sweeps that failed', value: jam.failedSweeps },
    { label: 'IDs requeued by the jam guard', value: jammedIds },
    { label: 'IDs recovered as stalled (lease lapsed)', value: stalledIds },
    { label: '  IDs failed for good as stalled (StalledError record)', value: ends.reduce((n, e) => n + e.stalledFailed.size, 0) },
    { label: 'lease renewals that failed', value: renewalsFailed },
    { label: 'snapshots with an orphaned sweep lock', value: orphanedLockSeen },
    { label: 'orphaned sweep lock: longest age seen (ms)', value: orphanedLockLongest },
    { label: 'orphaned sweep lock left at the end', value: orphanAtEnd },
    { label: 'overlapping runs with a jam or stall recovery between', value: a.overlapsWithJam },
    { label: 'overlapping runs with a removeJob between', value: a.overlapsWithRemoval },
    { label: 'consistency snapshots (MULTI)', value: counts.snapshots },
    { label: 'drain time (ms)', value: drainMs },
    { label: 'error log length', value: ends.reduce((n, e) => n + e.errorLog, 0) },
    ...[...byMode].map(([mode, m]) => ({ label: `most handlers at once (allowed ${m.concurrency}): ${mode}`, value: m.maxSeen })),
    { label: `flow queue: adds resolved`, value: flowAdds.length },
    { label: '  with a priority > 0 (0..10)', value: flowAdds.filter((x) => x.pr).length },
    { label: '  with a group (g0..g4)', value: flowAdds.filter((x) => x.g !== undefined).length },
    { label: 'flow queue: runs', value: fa.runs },
    { label: '  with a group', value: fa.runsGrouped },
    { label: '  with a priority > 0', value: fa.runsPrioritized },
    { label: '  cut short in the counts (claim maybe taken away)', value: fa.runsTakenAway },
    { label: `flow queue: most current claims at once (global concurrency ${FLOW.concurrency})`, value: fa.maxAtOnce },
    { label: `flow queue: most current claims of one group (group concurrency ${FLOW.groupConcurrency})`, value: fa.maxInGroup },
    { label: `flow queue: least ms between starts ${FLOW.rate.max} apart (limit ${FLOW.rate.max} per ${FLOW.rate.duration} ms)`, value: Number.isFinite(fa.closestSpacing) ? fa.closestSpacing : -1 },
    { label: 'flow queue: pause() … resume() calls', value: pauseCounts.calls },
    { label: '  audited (pause resolved, both bounds read)', value: pauses.length },
    { label: '  paused ms in all (audited)', value: Math.round(pauses.reduce((n, p) => n + p.to - p.from, 0)) },
    { label: 'flow queue: snapshots (processing, per group, group counters)', value: flowSnapshots.taken },
    { label: '  most IDs in processing seen', value: flowSnapshots.maxProcessing },
    { label: 'IDs lost', value: a.idsLost, mustBeZero: true },
    { label: 'retries lost', value: a.retriesLost, mustBeZero: true },
    { label: 'IDs with a life ended twice', value: a.livesEndedTwice, mustBeZero: true },
    { label: 'IDs with a life that never ended', value: a.livesNotEnded, mustBeZero: true },
    { label: 'runs started before their due time', value: a.runsBeforeDue, mustBeZero: true },
    { label: 'retries started before their backoff', value: a.retriesBeforeBackoff, mustBeZero: true },
    { label: 'runs over their attempts', value: a.runsOverAttempts, mustBeZero: true },
    { label: 'attempt numbers out of step', value: a.attemptSteps, mustBeZero: true },
    { label: 'runs after a removeJob with no add since', value: a.runsAfterRemoval, mustBeZero: true },
    { label: 'runs reported after their removeJob', value: a.reportsAfterRemoval, mustBeZero: true },
    { label: 'IDs stuck in processing after the drain', value: stuck.length, mustBeZero: true },
    { label: 'IDs still committed after the drain', value: stillCommitted.length, mustBeZero: true },
    { label: 'workers that ran more handlers than concurrency', value: conc.workersOver, mustBeZero: true },
    { label: 'run starts above concurrency', value: conc.startsOver, mustBeZero: true },
    { label: 'runs reported more than once', value: reports.runsReportedTwice, mustBeZero: true },
    { label: 'duplicate IDs in queued', value: snapshotViolations.queuedDuplicates, mustBeZero: true },
    { label: 'committed IDs outside queued ∪ scheduled ∪ processing', value: snapshotViolations.committedOutside, mustBeZero: true },
    { label: 'queued/scheduled/processing IDs not committed', value: snapshotViolations.notCommitted, mustBeZero: true },
    { label: 'IDs both queued and processing', value: snapshotViolations.queuedAndProcessing, mustBeZero: true },
    { label: 'IDs both scheduled and queued or processing', value: snapshotViolations.scheduledAndOther, mustBeZero: true },
    { label: 'overlapping runs without a jam or stall recovery between', value: a.overlapsWithoutJam, mustBeZero: true },
    { label: '  of which the first ignored its signal', value: a.overlapsAfterLateRun },
    { label: 'runs without their payload', value: a.runsWithoutPayload, mustBeZero: true },
    { label: 'flow: starts above the global concurrency (current claims)', value: fa.startsOverConcurrency, mustBeZero: true },
    { label: 'flow: starts above the group concurrency (current claims)', value: fa.startsOverGroupConcurrency, mustBeZero: true },
    { label: 'flow: starts closer than the rate limit allows', value: fa.rateViolations, mustBeZero: true },
    { label: 'flow: runs claimed while paused', value: fa.claimsInPause, mustBeZero: true },
    { label: 'flow: snapshots with processing above the global concurrency', value: flowSnapshots.overConcurrency, mustBeZero: true },
    { label: 'flow: groups above the group concurrency in snapshots', value: flowSnapshots.overGroupConcurrency, mustBeZero: true },
    { label: 'flow: group counters off their IDs in processing', value: flowSnapshots.counterDrift, mustBeZero: true },
    { label: 'runs with no add, jam or stall recovery since the last claim', value: a.runsWithoutCause, mustBeZero: true },
    { label: 'runs of live workers that never ended', value: a.unfinishedRuns, mustBeZero: true },
    { label: 'not drained (queued+processing+committed)', value: drained ? 0 : 1, mustBeZero: true },
    { label: 'leftover keys/fields after drain', value: left.length, mustBeZero: true },
    { label: 'children that did not stop when asked', value: [...producersClean, ...workersClean].filter((c) => !c).length, mustBeZero: true },
  ];
  const failures = figures.filter((f) => f.mustBeZero && f.value !== 0);
  const report = table(figures);
  process.stderr.write(`\nconvoy-queue chaos run: ${duration / 1000} s\n${report}\n`);
  const examples = {
    ...a.examples,
    stuckInProcessing: stuck.slice(0, 10),
    stillCommitted: stillCommitted.slice(0, 10),
    concurrency: conc.examples,
    reportedTwice: reports.examples,
    flow: fa.examples,
    snapshots: violationExamples,
    leftovers: left.slice(0, 10),
  };
  for (const [k, v] of Object.entries(examples)) if (v.length) process.stderr.write(`${k}:\n  ${v.join('\n  ')}\n`);
  if (failures.length) process.stderr.write(`FAILED: ${failures.map((f) => `${f.label.trim()} = ${f.value}`).join('; ')}\n`);
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
  await flow.close({ timeout: 1000 });
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
