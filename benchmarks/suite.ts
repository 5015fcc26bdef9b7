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
import { CALLERS, callLatency, callThroughput, type CallLatencyRun, type CallsRun } from './calls.js';

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

/**
 * A scenario's runs for several libraries, interleaved (each library's
 * warm-up, then run 1 of each, run 2 of each, ...), so a host whose speed
 * drifts during the benchmark skews no library against another. A library
 * whose warm-up or run fails is left out of the scenario (`attempt` records
 * why). Resolves each remaining library's runs.
 */
async function interleaved<L extends LibName, R>(
  key: string,
  libs: readonly L[],
  runs: number,
  attempt: (lib: LibName, scenario: string, fn: () => Promise<void>) => Promise<void>,
  steps: { warmUp(lib: L): Promise<unknown>; run(lib: L): Promise<R>; say(r: R): string },
): Promise<Map<L, R[]>> {
  const got = new Map<L, R[]>();
  for (const lib of libs) {
    await attempt(lib, key, async () => {
      await steps.warmUp(lib);
      got.set(lib, []);
    });
  }
  for (let i = 1; i <= runs; i++) {
    for (const lib of libs) {
      const done = got.get(lib);
      if (!done) continue;
      got.delete(lib);
      await attempt(lib, key, async () => {
        const r = await steps.run(lib);
        progress(`${lib} · ${key} · run ${i}/${runs} · ${steps.say(r)}`);
        got.set(lib, [...done, r]);
      });
    }
  }
  return got;
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

  // Throughput: scenario by scenario, the libraries' runs interleaved.
  for (const s of THROUGHPUT.filter((t) => wanted(t.key))) {
    const libs = plan.libs.filter((lib) => !s.needs || lib.features.includes(s.needs));
    const byName = new Map(libs.map((l) => [l.name, l]));
    const runs = await interleaved(s.key, [...byName.keys()], plan.runs, attempt, {
      warmUp: async (name) => {
        if (plan.warmupN === 0 || s.jobs) return;
        progress(`${name} · ${s.key} · warm-up (${fmt(plan.warmupN)} jobs)`);
        await s.run(byName.get(name)!, ctx, plan.warmupN);
      },
      run: (name) => s.run(byName.get(name)!, ctx, s.jobs?.(plan) ?? plan.n),
      say: (r) => {
        const late = r.lateness ? ` · late p50 ${r.lateness.p50.toFixed(1)} ms, p99 ${r.lateness.p99.toFixed(1)} ms` : '';
        const rate = r.rate
          ? ` · most starts per ${r.rate.duration} ms ${r.rate.maxInWindow} (by its stamps ${r.rate.maxInWindowStamped ?? '–'}; limit ${r.rate.max}), pace ${r.rate.ofLimit.toFixed(3)} of the limit`
          : '';
        return `${fmt(r.jobs / r.seconds)} jobs/s · ${(r.commands / r.jobs).toFixed(2)} cmds/job${late}${rate}`;
      },
    });
    for (const [name, done] of runs) results.throughput.push(summarise(s.key, s.title, name, done));
  }

  if (wanted('latency')) {
    const byName = new Map(plan.libs.map((l) => [l.name, l]));
    const runs = await interleaved('latency', [...byName.keys()], plan.runs, attempt, {
      warmUp: async (name) => {
        if (plan.latencyWarmupSamples === 0) return;
        progress(`${name} · latency · warm-up (${plan.latencyWarmupSamples} jobs)`);
        await latency(byName.get(name)!, ctx, plan.latencyWarmupSamples);
      },
      run: (name) => latency(byName.get(name)!, ctx, plan.latencySamples),
      say: (r) => `p50 ${r.p50.toFixed(3)} ms · p99 ${r.p99.toFixed(3)} ms`,
    });
    for (const [lib, done] of runs) {
      results.latency.push({ lib, samples: plan.latencySamples, p50: spread(done.map((r) => r.p50)), p99: spread(done.map((r) => r.p99)) });
    }
  }

  for (const lib of plan.libs) {
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
  }
  await runCalls(plan.libs.map((l) => l.name).filter((l) => CALLERS[l]), plan, ctx, wanted, attempt, results.calls);
  return results;
}

/**
 * The calls scenarios (calls.ts) of the libraries with a way back for results,
 * each with its warm-up as its job-queue counterpart has, the libraries' runs
 * interleaved as the throughput scenarios' are.
 */
async function runCalls(
  libs: LibName[],
  plan: Plan,
  ctx: Ctx,
  wanted: (key: string) => boolean,
  attempt: (lib: LibName, scenario: string, fn: () => Promise<void>) => Promise<void>,
  out: CallResult[],
): Promise<void> {
  const latency = wanted('call-latency')
    ? await interleaved('call-latency', libs, plan.runs, attempt, {
        warmUp: async (lib) => {
          if (plan.latencyWarmupSamples === 0) return;
          progress(`${lib} · call-latency · warm-up (${plan.latencyWarmupSamples} calls)`);
          await callLatency(lib, ctx, plan.latencyWarmupSamples);
        },
        run: (lib) => callLatency(lib, ctx, plan.latencySamples),
        say: (r) => `p50 ${r.p50.toFixed(3)} ms · p99 ${r.p99.toFixed(3)} ms`,
      })
    : new Map<LibName, CallLatencyRun[]>();
  const throughput = wanted('call-throughput')
    ? await interleaved('call-throughput', libs, plan.runs, attempt, {
        warmUp: async (lib) => {
          if (plan.warmupN === 0) return;
          progress(`${lib} · call-throughput · warm-up (${fmt(plan.warmupN)} calls)`);
          await callThroughput(lib, ctx, plan.warmupN);
        },
        run: (lib) => callThroughput(lib, ctx, plan.n),
        say: (r) => `${fmt(r.calls / r.seconds)} calls/s · ${(r.commands / r.calls).toFixed(2)} cmds/call`,
      })
    : new Map<LibName, CallsRun[]>();
  for (const lib of libs) {
    const result: { lib: LibName; latency?: LatencyResult; throughput?: CallResult['throughput'] } = { lib };
    const l = latency.get(lib);
    if (l) result.latency = { lib, samples: plan.latencySamples, p50: spread(l.map((r) => r.p50)), p99: spread(l.map((r) => r.p99)) };
    const t = throughput.get(lib);
    if (t) {
      result.throughput = {
        calls: plan.n,
        callsPerSec: spread(t.map((r) => r.calls / r.seconds)),
        commandsPerCall: median(t.map((r) => r.commands / r.calls)),
      };
    }
    if (result.latency || result.throughput) out.push(result);
  }
}
