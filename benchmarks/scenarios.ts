/**
 * The scenarios, written once against the Adapter interface. Every run starts
 * from an empty Redis (FLUSHALL) and fresh library objects; setup (connecting,
 * pre-adding jobs) stays outside the timed part, and the Redis command counts
 * cover only the timed part (CONFIG RESETSTAT just before it).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AdapterFactory } from './harness/adapter.js';
import { totalCalls } from './harness/admin.js';
import { BULK_CHUNK, CONCURRENCY, IN_FLIGHT, addAllBulk, drain, expectWaiting, session, timed, withWorker, type Ctx, type ThroughputScenario } from './harness/session.js';
import { hash32, inFlight, jobIds, percentile, random } from './harness/util.js';
import { FLOW_CONTROL } from './flow.js';

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
  ...FLOW_CONTROL,
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
