/**
 * Flow-control scenarios: priorities and the rate limit, for the libraries
 * that have them (Bee-Queue and raw have neither). Each checks the feature
 * worked, so its number is for a working feature: priority runs start the
 * jobs in priority order, rate-limited runs report how their starts kept to
 * the limit.
 */
import { performance } from 'node:perf_hooks';
import type { RateLimit } from './harness/adapter.js';
import { Completions } from './harness/completions.js';
import { CONCURRENCY, addAllBulk, drain, expectWaiting, session, timed, withWorker, withWorkers, type RateRun, type ThroughputScenario } from './harness/session.js';
import { jobIds, random } from './harness/util.js';

/** Priorities of the priority runs: drawn from 0 to this (lower first), the same sequence for every library. */
const MAX_PRIORITY = 10;
const PRIORITY_SEED = 11;

/** How many jobs started after a less urgent one had started: 0 when every start kept priority order. */
export function outOfOrder(priorities: readonly number[]): number {
  let seen = -Infinity;
  let late = 0;
  for (const p of priorities) {
    if (p < seen) late++;
    else seen = p;
  }
  return late;
}

/**
 * N pre-added jobs with random priorities, one worker. All jobs wait before
 * the worker starts, so every start must keep priority order: a run that
 * does not is void (the feature did not work).
 */
function prioritized(concurrency: number): ThroughputScenario {
  return {
    key: `priority-c${concurrency}`,
    title: `process pre-added, priorities 0–${MAX_PRIORITY}, concurrency ${concurrency}`,
    needs: 'priority',
    run: (lib, ctx, n) =>
      session(lib, ctx, async (a) => {
        const next = random(PRIORITY_SEED);
        const ids = jobIds(n);
        const priority = new Map(ids.map((id) => [id, Math.floor(next() * (MAX_PRIORITY + 1))]));
        await addAllBulk(a, ids, (id) => ({ priority: priority.get(id)! }));
        const order: string[] = [];
        const run = await withWorker(a, concurrency, { onStart: (id) => order.push(id) }, (w) =>
          timed(ctx, n, async () => {
            w.run();
            await drain(w, n, ctx);
          }),
        );
        await expectWaiting(a, 0, 'after processing');
        const late = outOfOrder(order.map((id) => priority.get(id)!));
        if (late > 0) throw new Error(`${late} of ${n} jobs started after a less urgent one`);
        return run;
      }),
  };
}

/** The rate-limit runs' limit: far below what every library does unlimited, so each is held to it. */
export const RATE_LIMIT: RateLimit = { max: 500, duration: 1000 };
/** Workers sharing the limit, each with a share of the usual concurrency. */
const RATE_WORKERS = 4;

/** The most of these times (ms) in any window of `duration` ms. */
export function mostInWindow(times: readonly number[], duration: number): number {
  const t = [...times].sort((x, y) => x - y);
  let most = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (j < t.length && t[j] < t[i] + duration) j++;
    most = Math.max(most, j - i);
  }
  return most;
}

/**
 * How the starts kept to the limit: the most in any window, by handler start
 * and by the library's stamps, and the pace after the first window (whose
 * starts may all come at once) as a fraction of the limit.
 */
function keptTo(starts: readonly number[], stamps: readonly number[], limit: RateLimit): RateRun {
  const span = Math.max(...starts) - Math.min(...starts);
  return {
    ...limit,
    maxInWindow: mostInWindow(starts, limit.duration),
    ...(stamps.length === starts.length ? { maxInWindowStamped: mostInWindow(stamps, limit.duration) } : {}),
    ofLimit: (((starts.length - limit.max) / span) * limit.duration) / limit.max,
  };
}

/**
 * Rate limit: jobs pre-added, then several workers of the queue share one
 * limit (the library's own: convoy's sliding window, BullMQ's fixed window);
 * every handler start is recorded. Timed from the workers' start until all
 * jobs ran. Not a speed race: all libraries should reach the limit.
 */
function rateLimited(): ThroughputScenario {
  const { max, duration } = RATE_LIMIT;
  return {
    key: 'rate-limit',
    title: `rate limit ${max} starts / ${duration} ms, pre-added, ${RATE_WORKERS} workers × concurrency ${CONCURRENCY / RATE_WORKERS}`,
    needs: 'rate-limit',
    jobs: (plan) => plan.rateWindows * max,
    run: (lib, ctx, n) =>
      session(lib, ctx, async (a) => {
        await addAllBulk(a, jobIds(n));
        const starts: number[] = [];
        const stamps: number[] = [];
        const onStart = (_id: string, startedAt?: number) => {
          starts.push(performance.now());
          if (startedAt !== undefined) stamps.push(startedAt);
        };
        const opts = { onStart, rateLimit: RATE_LIMIT };
        const run = await withWorkers(a, RATE_WORKERS, CONCURRENCY / RATE_WORKERS, opts, (ws) => {
          const done = Completions.sum(ws.map((w) => w.done));
          return timed(ctx, n, async () => {
            for (const w of ws) w.run();
            await drain({ done }, n, ctx);
          });
        });
        await expectWaiting(a, 0, 'after processing');
        if (starts.length !== n) throw new Error(`${starts.length} starts, expected ${n}`);
        return { ...run, rate: keptTo(starts, stamps, RATE_LIMIT) };
      }),
  };
}

export const FLOW_CONTROL: readonly ThroughputScenario[] = [prioritized(1), prioritized(CONCURRENCY), rateLimited()];
