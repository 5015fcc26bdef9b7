/**
 * Runs every scenario for every library, one library after another: a
 * warm-up run (JIT, script caches, connection pools), then the measured runs.
 * A run that fails is recorded and the suite goes on, so one broken library
 * still leaves the others' numbers; the caller exits non-zero on any error.
 */
import type { AdapterFactory, LibName } from './harness/adapter.js';
import { median, spread, type Spread } from './harness/util.js';
import type { Ctx, RateRun, ThroughputRun } from './harness/session.js';
import { THROUGHPUT, idle, idleScheduled, latency, type IdleRun, type IdleScheduledRun } from './scenarios.js';
import { CALLERS, callLatency, callThroughput } from './calls.js';

export interface Plan {
  readonly n: number;
  readonly runs: number;
  /** Jobs in the warm-up run of each scenario; 0 skips it. */
  readonly warmupN: number;
  readonly latencySamples: number;
  readonly latencyWarmupSamples: number;
  readonly idleMs: number;
  /** Scheduled (far-off) jobs the 'idle-scheduled' worker sits next to. */
  readonly scheduledJobs: number;
  /** Windows of the rate limit a rate-limited run takes (its jobs: this × the limit). */
  readonly rateWindows: number;
  readonly libs: readonly AdapterFactory[];
  /** Scenario keys to run (throughput keys, 'latency', 'idle', 'idle-scheduled', 'call-latency', 'call-throughput'); all when empty. */
  readonly only: readonly string[];
}

export interface ThroughputResult {
  readonly scenario: string;
  readonly title: string;
  readonly lib: LibName;
  readonly jobs: number;
  /** jobs/s of each measured run */
  readonly runs: number[];
  readonly jobsPerSec: Spread;
  readonly commandsPerJob: number;
  /** redis-server CPU time per job (µs), median over the runs */
  readonly redisCpuUsPerJob: number;
  /** Per-command calls of the median-speed run, per job. */
  readonly commandsPerJobByCommand: Record<string, number>;
  readonly bytesPerJob?: number;
  /** Delayed jobs: lateness percentiles (ms), median over the runs. */
  readonly lateness?: { p50: Spread; p99: Spread; max: Spread; min: Spread };
  /** Rate limit: the most starts in any window over all runs; the pace as a fraction of the limit, over the runs. */
  readonly rate?: Omit<RateRun, 'ofLimit'> & { ofLimit: Spread };
}

export interface LatencyResult {
  readonly lib: LibName;
  readonly samples: number;
  readonly p50: Spread;
  readonly p99: Spread;
}

export interface IdleResult extends IdleRun {
  readonly lib: LibName;
}

export interface IdleScheduledResult extends IdleScheduledRun {
  readonly lib: LibName;
}

/**
 * The idle-worker-with-scheduled-jobs scenario runs for convoy only: pre-loading
 * a million delayed jobs takes BullMQ minutes (it adds ~5-25k jobs/s), more than
 * the whole benchmark's budget, and the target is convoy's.
 */
const IDLE_SCHEDULED_LIBS: readonly LibName[] = ['convoy'];

/** Calls (calls.ts): round trip on an idle queue and calls/s, for the libraries with a way back for results. */
export interface CallResult {
  readonly lib: LibName;
  readonly latency?: LatencyResult;
  readonly throughput?: { readonly calls: number; readonly callsPerSec: Spread; readonly commandsPerCall: number };
}

export interface RunError {
  readonly lib: LibName;
  readonly scenario: string;
  readonly message: string;
}

export interface SuiteResults {
  throughput: ThroughputResult[];
  latency: LatencyResult[];
  idle: IdleResult[];
  idleScheduled: IdleScheduledResult[];
  calls: CallResult[];
  errors: RunError[];
}

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

function perJob(stats: Record<string, number>, jobs: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(stats)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [k, Math.round((v / jobs) * 1000) / 1000]),
  );
}

function summarise(scenario: string, title: string, lib: LibName, runs: ThroughputRun[]): ThroughputResult {
  const rates = runs.map((r) => r.jobs / r.seconds);
  const mid = runs[rates.indexOf(median(rates))] ?? runs[0];
  const bytes = runs.map((r) => r.bytesPerJob).filter((b): b is number => b !== undefined);
  const late = runs.map((r) => r.lateness).filter((l) => l !== undefined);
  const rate = runs.map((r) => r.rate).filter((x) => x !== undefined);
  return {
    scenario,
    title,
    lib,
    jobs: runs[0].jobs,
    runs: rates.map(Math.round),
    jobsPerSec: spread(rates),
    commandsPerJob: median(runs.map((r) => r.commands / r.jobs)),
    redisCpuUsPerJob: median(runs.map((r) => (r.redisCpuSeconds * 1e6) / r.jobs)),
    commandsPerJobByCommand: perJob(mid.commandStats, mid.jobs),
    ...(bytes.length ? { bytesPerJob: median(bytes) } : {}),
    ...(late.length
      ? {
          lateness: {
            p50: spread(late.map((l) => l.p50)),
            p99: spread(late.map((l) => l.p99)),
            max: spread(late.map((l) => l.max)),
            min: spread(late.map((l) => l.min)),
          },
        }
      : {}),
    ...(rate.length
      ? {
          rate: {
            max: rate[0].max,
            duration: rate[0].duration,
            maxInWindow: Math.max(...rate.map((x) => x.maxInWindow)),
            ...(rate.every((x) => x.maxInWindowStamped !== undefined) ? { maxInWindowStamped: Math.max(...rate.map((x) => x.maxInWindowStamped!)) } : {}),
            ofLimit: spread(rate.map((x) => x.ofLimit)),
          },
        }
      : {}),
  };
}

export async function runSuite(plan: Plan, ctx: Ctx): Promise<SuiteResults> {
  const results: SuiteResults = { throughput: [], latency: [], idle: [], idleScheduled: [], calls: [], errors: [] };
  const wanted = (key: string) => plan.only.length === 0 || plan.only.includes(key);
  const attempt = async (lib: LibName, scenario: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      progress(`${lib} · ${scenario} · FAILED: ${message}`);
      results.errors.push({ lib, scenario, message });
    }
  };

  // Throughput: scenario by scenario, the libraries' runs interleaved (run 1
  // of each, then run 2 of each, ...), so a machine whose speed drifts during
  // the benchmark (a shared host) skews no library against another.
  for (const s of THROUGHPUT.filter((t) => wanted(t.key))) {
    const libs = plan.libs.filter((lib) => !s.needs || lib.features.includes(s.needs));
    const runs = new Map<LibName, ThroughputRun[]>();
    for (const lib of libs) {
      await attempt(lib.name, s.key, async () => {
        if (plan.warmupN > 0 && !s.jobs) {
          progress(`${lib.name} · ${s.key} · warm-up (${fmt(plan.warmupN)} jobs)`);
          await s.run(lib, ctx, plan.warmupN);
        }
        runs.set(lib.name, []);
      });
    }
    for (let i = 1; i <= plan.runs; i++) {
      for (const lib of libs) {
        const done = runs.get(lib.name);
        if (!done) continue;
        // a failed run leaves the library out of this scenario
        runs.delete(lib.name);
        await attempt(lib.name, s.key, async () => {
          const r = await s.run(lib, ctx, s.jobs?.(plan) ?? plan.n);
          const late = r.lateness ? ` · late p50 ${r.lateness.p50.toFixed(1)} ms, p99 ${r.lateness.p99.toFixed(1)} ms` : '';
          const rate = r.rate
            ? ` · most starts per ${r.rate.duration} ms ${r.rate.maxInWindow} (by its stamps ${r.rate.maxInWindowStamped ?? '–'}; limit ${r.rate.max}), pace ${r.rate.ofLimit.toFixed(3)} of the limit`
            : '';
          progress(`${lib.name} · ${s.key} · run ${i}/${plan.runs} · ${fmt(r.jobs / r.seconds)} jobs/s · ${(r.commands / r.jobs).toFixed(2)} cmds/job${late}${rate}`);
          runs.set(lib.name, [...done, r]);
        });
      }
    }
    for (const lib of libs) {
      const done = runs.get(lib.name);
      if (done) results.throughput.push(summarise(s.key, s.title, lib.name, done));
    }
  }

  for (const lib of plan.libs) {
    if (wanted('latency')) {
      await attempt(lib.name, 'latency', async () => {
        if (plan.latencyWarmupSamples > 0) {
          progress(`${lib.name} · latency · warm-up (${plan.latencyWarmupSamples} jobs)`);
          await latency(lib, ctx, plan.latencyWarmupSamples);
        }
        const runs = [];
        for (let i = 1; i <= plan.runs; i++) {
          const r = await latency(lib, ctx, plan.latencySamples);
          progress(`${lib.name} · latency · run ${i}/${plan.runs} · p50 ${r.p50.toFixed(3)} ms · p99 ${r.p99.toFixed(3)} ms`);
          runs.push(r);
        }
        results.latency.push({
          lib: lib.name,
          samples: plan.latencySamples,
          p50: spread(runs.map((r) => r.p50)),
          p99: spread(runs.map((r) => r.p99)),
        });
      });
    }

    if (wanted('idle')) {
      await attempt(lib.name, 'idle', async () => {
        progress(`${lib.name} · idle · ${plan.idleMs / 1000} s`);
        const r = await idle(lib, ctx, plan.idleMs);
        progress(`${lib.name} · idle · ${r.commandsPerSecond.toFixed(2)} cmds/s`);
        results.idle.push({ lib: lib.name, ...r });
      });
    }

    if (wanted('idle-scheduled') && IDLE_SCHEDULED_LIBS.includes(lib.name)) {
      await attempt(lib.name, 'idle-scheduled', async () => {
        progress(`${lib.name} · idle-scheduled · ${fmt(plan.scheduledJobs)} scheduled jobs · ${plan.idleMs / 1000} s`);
        const r = await idleScheduled(lib, ctx, plan.scheduledJobs, plan.idleMs);
        progress(
          `${lib.name} · idle-scheduled · loaded in ${r.loadSeconds.toFixed(1)} s · ${Math.round(r.bytesPerJob)} bytes/job · ${r.commandsPerSecond.toFixed(2)} cmds/s`,
        );
        results.idleScheduled.push({ lib: lib.name, ...r });
      });
    }

    if (CALLERS[lib.name]) await runCalls(lib.name, plan, ctx, wanted, attempt, results.calls);
  }
  return results;
}

/** The calls scenarios of one library (calls.ts), each with its warm-up as its job-queue counterpart has. */
async function runCalls(
  lib: LibName,
  plan: Plan,
  ctx: Ctx,
  wanted: (key: string) => boolean,
  attempt: (lib: LibName, scenario: string, fn: () => Promise<void>) => Promise<void>,
  out: CallResult[],
): Promise<void> {
  const result: { lib: LibName; latency?: LatencyResult; throughput?: CallResult['throughput'] } = { lib };
  if (wanted('call-latency')) {
    await attempt(lib, 'call-latency', async () => {
      if (plan.latencyWarmupSamples > 0) {
        progress(`${lib} · call-latency · warm-up (${plan.latencyWarmupSamples} calls)`);
        await callLatency(lib, ctx, plan.latencyWarmupSamples);
      }
      const runs = [];
      for (let i = 1; i <= plan.runs; i++) {
        const r = await callLatency(lib, ctx, plan.latencySamples);
        progress(`${lib} · call-latency · run ${i}/${plan.runs} · p50 ${r.p50.toFixed(3)} ms · p99 ${r.p99.toFixed(3)} ms`);
        runs.push(r);
      }
      result.latency = { lib, samples: plan.latencySamples, p50: spread(runs.map((r) => r.p50)), p99: spread(runs.map((r) => r.p99)) };
    });
  }
  if (wanted('call-throughput')) {
    await attempt(lib, 'call-throughput', async () => {
      if (plan.warmupN > 0) {
        progress(`${lib} · call-throughput · warm-up (${fmt(plan.warmupN)} calls)`);
        await callThroughput(lib, ctx, plan.warmupN);
      }
      const runs = [];
      for (let i = 1; i <= plan.runs; i++) {
        const r = await callThroughput(lib, ctx, plan.n);
        progress(`${lib} · call-throughput · run ${i}/${plan.runs} · ${fmt(r.calls / r.seconds)} calls/s · ${(r.commands / r.calls).toFixed(2)} cmds/call`);
        runs.push(r);
      }
      result.throughput = {
        calls: plan.n,
        callsPerSec: spread(runs.map((r) => r.calls / r.seconds)),
        commandsPerCall: median(runs.map((r) => r.commands / r.calls)),
      };
    });
  }
  if (result.latency || result.throughput) out.push(result);
}
