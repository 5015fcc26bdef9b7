/**
 * The scenarios, written once against the Adapter interface. Every run starts
 * from an empty Redis (FLUSHALL) and fresh library objects; setup (connecting,
 * pre-adding jobs) stays outside the timed part, and the Redis command counts
 * cover only the timed part (CONFIG RESETSTAT just before it).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Adapter, AdapterFactory, BenchWorker, Feature, JobOptions, Target, WorkerOptions } from './harness/adapter.js';
import { totalCalls, type Admin } from './harness/admin.js';
import { chunks, hash32, inFlight, jobIds, percentile, random, withTimeout } from './harness/util.js';

export interface Ctx {
  readonly admin: Admin;
  readonly target: Target;
  /** Fail a run when no job finishes for this long. */
  readonly stallMs: number;
  /** Called around the timed part only (profile.ts uses it to profile just that). */
  readonly probe?: { start(): Promise<void>; stop(): Promise<void> };
}

export interface ThroughputRun {
  readonly jobs: number;
  readonly seconds: number;
  /** Redis commands (Lua-inner ones included) during the timed part. */
  readonly commands: number;
  readonly commandStats: Record<string, number>;
  /** CPU seconds redis-server used during the timed part (scripts, commands and network I/O). */
  readonly redisCpuSeconds: number;
  /** used_memory per waiting job, for the scenario that leaves N jobs waiting. */
  readonly bytesPerJob?: number;
  /** Delayed jobs: handler start − due time (ms), for the scenario that delays them. */
  readonly lateness?: Lateness;
}

export interface Lateness {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Below 0: a job started before it was due. */
  readonly min: number;
}

export interface ThroughputScenario {
  readonly key: string;
  readonly title: string;
  /** Libraries without this feature are left out of the scenario. */
  readonly needs?: Feature;
  run(lib: AdapterFactory, ctx: Ctx, n: number): Promise<ThroughputRun>;
}

const IN_FLIGHT = 100;
const BULK_CHUNK = 1000;
const CONCURRENCY = 32;
const CLOSE_TIMEOUT_MS = 15_000;

/** One run of a scenario on a clean server with fresh library objects, closed whatever happens. */
async function session<T>(lib: AdapterFactory, ctx: Ctx, fn: (a: Adapter) => Promise<T>): Promise<T> {
  await ctx.admin.flushAll();
  const adapter = await lib.open(ctx.target);
  try {
    return await fn(adapter);
  } finally {
    await withTimeout(adapter.close(), CLOSE_TIMEOUT_MS, `${lib.name}: closing the producer`);
  }
}

async function withWorker<T>(a: Adapter, concurrency: number, opts: WorkerOptions | undefined, fn: (w: BenchWorker) => Promise<T>): Promise<T> {
  const w = await a.worker(concurrency, opts);
  try {
    return await fn(w);
  } finally {
    await withTimeout(w.close(), CLOSE_TIMEOUT_MS, `${a.name}: closing the worker`);
  }
}

/** Time `fn` and count the Redis commands it caused. */
async function timed(ctx: Ctx, jobs: number, fn: () => Promise<unknown>): Promise<ThroughputRun> {
  await ctx.admin.resetStats();
  const cpu0 = await ctx.admin.cpuSeconds();
  await ctx.probe?.start();
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  await ctx.probe?.stop();
  const redisCpuSeconds = (await ctx.admin.cpuSeconds()) - cpu0;
  const commandStats = await ctx.admin.commandStats();
  return { jobs, seconds, commands: totalCalls(commandStats), commandStats, redisCpuSeconds };
}

async function addAllBulk(a: Adapter, ids: readonly string[], opts?: (id: string) => JobOptions): Promise<void> {
  for (const chunk of chunks(ids, BULK_CHUNK)) await a.addBulk(chunk, opts);
}

async function expectWaiting(a: Adapter, n: number, what: string): Promise<void> {
  const waiting = await a.waiting();
  if (waiting !== n) throw new Error(`${a.name}: ${what}: ${waiting} jobs waiting, expected ${n}`);
}

/** Wait for N completions and check there were no extra (duplicate) runs. */
async function drain(w: BenchWorker, n: number, ctx: Ctx): Promise<void> {
  await w.done.until(n, ctx.stallMs);
  if (w.done.count !== n) throw new Error(`${w.done.count} jobs completed, expected ${n}`);
}

function processPreAdded(concurrency: number): ThroughputScenario {
  return {
    key: `process-c${concurrency}`,
    title: `process pre-added, concurrency ${concurrency}`,
    run: (lib, ctx, n) =>
      session(lib, ctx, async (a) => {
        await addAllBulk(a, jobIds(n));
        const run = await withWorker(a, concurrency, undefined, (w) =>
          timed(ctx, n, async () => {
            w.run();
            await drain(w, n, ctx);
          }),
        );
        await expectWaiting(a, 0, 'after processing');
        return run;
      }),
  };
}

/** Longest delay of the delayed-jobs scenario (ms); each job's is drawn from 0 to this. */
const MAX_DELAY_MS = 1000;
/** Seed of the delays: every library gets the same ones. */
const DELAY_SEED = 10;

/**
 * Delayed jobs: each added on its own (100 in flight) with a delay of 0–1 s,
 * a worker running all along. Time from the first add until every job ran,
 * and each job's lateness: handler start − due, due = the producer's clock
 * right before its add + its delay (one clock: producer and worker share the
 * process).
 */
function delayed(): ThroughputScenario {
  return {
    key: 'delayed',
    title: `delayed 0–${MAX_DELAY_MS / 1000} s (one add each, ${IN_FLIGHT} in flight) until all ran, concurrency ${CONCURRENCY}`,
    needs: 'delay',
    run: (lib, ctx, n) =>
      session(lib, ctx, async (a) => {
        const next = random(DELAY_SEED);
        const jobs = jobIds(n).map((id) => ({ id, delay: Math.floor(next() * (MAX_DELAY_MS + 1)) }));
        const due = new Map<string, number>();
        const started = new Map<string, number>();
        const onStart = (id: string) => {
          if (!started.has(id)) started.set(id, performance.now());
        };
        const run = await withWorker(a, CONCURRENCY, { onStart, delayed: true }, (w) =>
          timed(ctx, n, async () => {
            w.run();
            const add = ({ id, delay }: { id: string; delay: number }) => {
              due.set(id, performance.now() + delay);
              return a.addOne(id, { delay });
            };
            await Promise.all([inFlight(jobs, IN_FLIGHT, add), drain(w, n, ctx)]);
          }),
        );
        const late = jobs.map(({ id }) => started.get(id)! - due.get(id)!);
        return {
          ...run,
          lateness: { p50: percentile(late, 0.5), p99: percentile(late, 0.99), max: Math.max(...late), min: Math.min(...late) },
        };
      }),
  };
}

/** Runs in all of a job in the retries scenario, retried at once. */
const ATTEMPTS = 3;

/** The jobs whose first run fails: about 1 in 10, by a hash of the ID, the same for every library. */
export function failsFirst(id: string): boolean {
  return hash32(id) % 10 === 0;
}

/**
 * Retries: N pre-added jobs with attempts 3 and no backoff; the first run of
 * about 10 % of them (failsFirst) throws, the retry succeeds. Jobs finished
 * for good per second, the retried runs included in the work; the number of
 * runs is checked, so every library does the same work.
 */
function retries(): ThroughputScenario {
  return {
    key: 'retry-c32',
    title: `process pre-added, attempts ${ATTEMPTS}, first run of ~10 % fails, concurrency ${CONCURRENCY}`,
    needs: 'retry',
    run: (lib, ctx, n) =>
      session(lib, ctx, async (a) => {
        const ids = jobIds(n);
        const planned = new Set(ids.filter(failsFirst));
        await addAllBulk(a, ids, () => ({ attempts: ATTEMPTS }));
        const failed = new Set<string>();
        let runs = 0;
        const fail = (id: string) => {
          runs++;
          if (!planned.has(id) || failed.has(id)) return false;
          failed.add(id);
          return true;
        };
        const run = await withWorker(a, CONCURRENCY, { fail }, (w) =>
          timed(ctx, n, async () => {
            w.run();
            await drain(w, n, ctx);
          }),
        );
        if (runs !== n + planned.size) throw new Error(`${runs} runs, expected ${n + planned.size} (${planned.size} retried)`);
        await expectWaiting(a, 0, 'after processing');
        return run;
      }),
  };
}

export const THROUGHPUT: readonly ThroughputScenario[] = [
  {
    key: 'add-one',
    title: `add, one call each, ${IN_FLIGHT} in flight`,
    run: (lib, ctx, n) =>
      session(lib, ctx, async (a) => {
        const ids = jobIds(n);
        const run = await timed(ctx, n, () => inFlight(ids, IN_FLIGHT, (id) => a.addOne(id)));
        await expectWaiting(a, n, 'after adding');
        return run;
      }),
  },
  {
    key: 'add-bulk',
    title: `add in bulk, chunks of ${BULK_CHUNK}`,
    run: (lib, ctx, n) =>
      session(lib, ctx, async (a) => {
        const ids = jobIds(n);
        // The baseline has the library's connections open, so only the jobs count.
        const empty = await ctx.admin.usedMemory();
        const run = await timed(ctx, n, () => addAllBulk(a, ids));
        await expectWaiting(a, n, 'after adding');
        const bytesPerJob = ((await ctx.admin.usedMemory()) - empty) / n;
        return { ...run, bytesPerJob };
      }),
  },
  {
    key: 'add-dup',
    title: `add the same IDs again (dedup), one call each, ${IN_FLIGHT} in flight`,
    run: (lib, ctx, n) =>
      session(lib, ctx, async (a) => {
        const ids = jobIds(n);
        await addAllBulk(a, ids);
        const run = await timed(ctx, n, () => inFlight(ids, IN_FLIGHT, (id) => a.addOne(id)));
        await expectWaiting(a, n, 'dedup check: the queue grew on adding the same IDs again');
        return run;
      }),
  },
  processPreAdded(1),
  processPreAdded(CONCURRENCY),
  {
    key: 'e2e',
    title: `produce (one call each, ${IN_FLIGHT} in flight) and process at once, concurrency ${CONCURRENCY}`,
    run: (lib, ctx, n) =>
      session(lib, ctx, (a) =>
        withWorker(a, CONCURRENCY, undefined, (w) =>
          timed(ctx, n, async () => {
            w.run();
            await Promise.all([inFlight(jobIds(n), IN_FLIGHT, (id) => a.addOne(id)), drain(w, n, ctx)]);
          }),
        ),
      ),
  },
  // After the plain-job scenarios, so their rows keep their place in the report.
  delayed(),
  retries(),
];

export interface LatencyRun {
  readonly samples: number;
  /** milliseconds */
  readonly p50: number;
  readonly p99: number;
}

/** Time the worker needs to notice an idle gap before it is blocked again. */
const SETTLE_MS = 1;

/**
 * Add to handler start on an idle queue: one job at a time, each added only
 * after the previous one completed and the worker had a moment to block again.
 */
export function latency(lib: AdapterFactory, ctx: Ctx, samples: number): Promise<LatencyRun> {
  return session(lib, ctx, async (a) => {
    const started = new Map<string, number>();
    const ms = await withWorker(a, CONCURRENCY, { onStart: (id) => started.set(id, performance.now()) }, async (w) => {
      w.run();
      await sleep(200); // the worker finds the queue empty and blocks
      const out: number[] = [];
      for (const [i, id] of jobIds(samples, 'lat-').entries()) {
        const t0 = performance.now();
        await a.addOne(id);
        await w.done.until(i + 1, ctx.stallMs);
        out.push(started.get(id)! - t0);
        await sleep(SETTLE_MS);
      }
      return out;
    });
    return { samples, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99) };
  });
}

export interface IdleRun {
  readonly seconds: number;
  readonly commandsPerSecond: number;
  readonly commandStats: Record<string, number>;
}

/** What an idle worker costs Redis: commands per second with nothing to do. */
export function idle(lib: AdapterFactory, ctx: Ctx, ms: number): Promise<IdleRun> {
  return session(lib, ctx, (a) =>
    withWorker(a, CONCURRENCY, undefined, async (w) => {
      w.run();
      await sleep(1000); // past start-up work (stall checks, first claims)
      await ctx.admin.resetStats();
      await sleep(ms);
      const commandStats = await ctx.admin.commandStats();
      return { seconds: ms / 1000, commandsPerSecond: totalCalls(commandStats) / (ms / 1000), commandStats };
    }),
  );
}

/** Delays of the scheduled jobs an idle worker sits next to: hours away. */
const FAR_MIN_MS = 2 * 3600_000;
const FAR_SPREAD_MS = 2 * 3600_000;

export interface IdleScheduledRun extends IdleRun {
  readonly jobs: number;
  /** used_memory per scheduled job */
  readonly bytesPerJob: number;
  /** Time to add them all in bulk (chunks of 1000), not a measurement of interest. */
  readonly loadSeconds: number;
}

/**
 * What an idle worker costs Redis when `jobs` scheduled jobs (due in 2–4 h)
 * wait: pre-loaded in bulk, then one worker, settled, counted like `idle`.
 */
export function idleScheduled(lib: AdapterFactory, ctx: Ctx, jobs: number, ms: number): Promise<IdleScheduledRun> {
  return session(lib, ctx, async (a) => {
    const next = random(DELAY_SEED);
    const empty = await ctx.admin.usedMemory();
    const t0 = performance.now();
    await addAllBulk(a, jobIds(jobs), () => ({ delay: FAR_MIN_MS + Math.floor(next() * FAR_SPREAD_MS) }));
    const loadSeconds = (performance.now() - t0) / 1000;
    const bytesPerJob = ((await ctx.admin.usedMemory()) - empty) / jobs;
    const run = await withWorker(a, CONCURRENCY, { delayed: true }, async (w) => {
      w.run();
      await sleep(2000); // past start-up work (stall checks, first claims, the first look at the schedule)
      await ctx.admin.resetStats();
      await sleep(ms);
      const commandStats = await ctx.admin.commandStats();
      if (w.done.count !== 0) throw new Error(`${w.done.count} jobs ran, none was due`);
      return { seconds: ms / 1000, commandsPerSecond: totalCalls(commandStats) / (ms / 1000), commandStats };
    });
    await expectWaiting(a, 0, 'with only far-off scheduled jobs');
    return { ...run, jobs, bytesPerJob, loadSeconds };
  });
}
