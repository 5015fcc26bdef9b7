/**
 * What every scenario is built from: a run on a clean server with fresh
 * library objects (session), a worker closed whatever happens (withWorker),
 * the timed part with its Redis command count (timed), and the checks that a
 * run did all the work and no more (expectWaiting, drain).
 */
import { performance } from 'node:perf_hooks';
import type { Adapter, AdapterFactory, BenchWorker, Feature, JobOptions, Target, WorkerOptions } from './adapter.js';
import { totalCalls, type Admin } from './admin.js';
import type { Plan } from '../suite.js';
import { chunks, withTimeout } from './util.js';

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
  /** Rate limit: how the starts kept to it. */
  readonly rate?: RateRun;
}

export interface RateRun {
  /** The limit: at most `max` starts in any `duration` ms. */
  readonly max: number;
  readonly duration: number;
  /** The most handler starts in any window of `duration` ms: what the handlers saw, delivery delays included. */
  readonly maxInWindow: number;
  /** The same over the library's own start stamps (what its limiter counts), for a library that keeps them. */
  readonly maxInWindowStamped?: number;
  /** Starts per `duration` after the first window, over `max`: 1 = the limit exactly. */
  readonly ofLimit: number;
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
  /** Jobs of a run when not N, with no warm-up run: a rate-limited run is paced by its limit, not the machine. */
  readonly jobs?: (plan: Plan) => number;
  run(lib: AdapterFactory, ctx: Ctx, n: number): Promise<ThroughputRun>;
}

export const IN_FLIGHT = 100;
export const BULK_CHUNK = 1000;
export const CONCURRENCY = 32;
const CLOSE_TIMEOUT_MS = 15_000;

/** One run of a scenario on a clean server with fresh library objects, closed whatever happens. */
export async function session<T>(lib: AdapterFactory, ctx: Ctx, fn: (a: Adapter) => Promise<T>): Promise<T> {
  await ctx.admin.flushAll();
  const adapter = await lib.open(ctx.target);
  try {
    return await fn(adapter);
  } finally {
    await withTimeout(adapter.close(), CLOSE_TIMEOUT_MS, `${lib.name}: closing the producer`);
  }
}

export function withWorker<T>(a: Adapter, concurrency: number, opts: WorkerOptions | undefined, fn: (w: BenchWorker) => Promise<T>): Promise<T> {
  return withWorkers(a, 1, concurrency, opts, ([w]) => fn(w));
}

/** `count` workers of the same queue (as separate processes would be), all closed whatever happens. */
export async function withWorkers<T>(
  a: Adapter,
  count: number,
  concurrency: number,
  opts: WorkerOptions | undefined,
  fn: (ws: BenchWorker[]) => Promise<T>,
): Promise<T> {
  const opened = await Promise.allSettled(Array.from({ length: count }, () => a.worker(concurrency, opts)));
  const ws = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  try {
    const failed = opened.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
    return await fn(ws);
  } finally {
    await Promise.all(ws.map((w) => withTimeout(w.close(), CLOSE_TIMEOUT_MS, `${a.name}: closing the worker`)));
  }
}

/** Time `fn` and count the Redis commands it caused. */
export async function timed(ctx: Ctx, jobs: number, fn: () => Promise<unknown>): Promise<ThroughputRun> {
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

export async function addAllBulk(a: Adapter, ids: readonly string[], opts?: (id: string) => JobOptions): Promise<void> {
  for (const chunk of chunks(ids, BULK_CHUNK)) await a.addBulk(chunk, opts);
}

export async function expectWaiting(a: Adapter, n: number, what: string): Promise<void> {
  const waiting = await a.waiting();
  if (waiting !== n) throw new Error(`${a.name}: ${what}: ${waiting} jobs waiting, expected ${n}`);
}

/** Wait for N completions and check there were no extra (duplicate) runs. */
export async function drain(w: Pick<BenchWorker, 'done'>, n: number, ctx: Ctx): Promise<void> {
  await w.done.until(n, ctx.stallMs);
  if (w.done.count !== n) throw new Error(`${w.done.count} jobs completed, expected ${n}`);
}
