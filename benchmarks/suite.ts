/**
 * Runs every scenario for every library, one library after another: a
 * warm-up run (JIT, script caches, connection pools), then the measured runs.
 * A run that fails is recorded and the suite goes on, so one broken library
 * still leaves the others' numbers; the caller exits non-zero on any error.
 */
import type { AdapterFactory, LibName } from './harness/adapter.js';
import { median, spread, type Spread } from './harness/util.js';
import { THROUGHPUT, idle, latency, type Ctx, type IdleRun, type ThroughputRun } from './scenarios.js';

export interface Plan {
  readonly n: number;
  readonly runs: number;
  /** Jobs in the warm-up run of each scenario; 0 skips it. */
  readonly warmupN: number;
  readonly latencySamples: number;
  readonly latencyWarmupSamples: number;
  readonly idleMs: number;
  readonly libs: readonly AdapterFactory[];
  /** Scenario keys to run (throughput keys, 'latency', 'idle'); all when empty. */
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

export interface RunError {
  readonly lib: LibName;
  readonly scenario: string;
  readonly message: string;
}

export interface SuiteResults {
  throughput: ThroughputResult[];
  latency: LatencyResult[];
  idle: IdleResult[];
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
  };
}

export async function runSuite(plan: Plan, ctx: Ctx): Promise<SuiteResults> {
  const results: SuiteResults = { throughput: [], latency: [], idle: [], errors: [] };
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

  for (const lib of plan.libs) {
    for (const s of THROUGHPUT.filter((t) => wanted(t.key))) {
      await attempt(lib.name, s.key, async () => {
        if (plan.warmupN > 0) {
          progress(`${lib.name} · ${s.key} · warm-up (${fmt(plan.warmupN)} jobs)`);
          await s.run(lib, ctx, plan.warmupN);
        }
        const runs: ThroughputRun[] = [];
        for (let i = 1; i <= plan.runs; i++) {
          const r = await s.run(lib, ctx, plan.n);
          progress(`${lib.name} · ${s.key} · run ${i}/${plan.runs} · ${fmt(r.jobs / r.seconds)} jobs/s · ${(r.commands / r.jobs).toFixed(2)} cmds/job`);
          runs.push(r);
        }
        results.throughput.push(summarise(s.key, s.title, lib.name, runs));
      });
    }

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
  }
  return results;
}
