/**
 * Turns the suite's results into the report: ratios to the best peer and to
 * raw, convoy's targets, and the Markdown tables (printed and written next to
 * a JSON copy).
 */
import { LIB_NAMES as LIBS, PEERS, type LibName } from './harness/adapter.js';
import type { Spread } from './harness/util.js';
import { CALLS_SETUP } from './calls.js';
import type { IdleResult, IdleScheduledResult, LatencyResult, SuiteResults, ThroughputResult } from './suite.js';

export interface Meta {
  readonly date: string;
  /** git commit of the convoy code measured */
  readonly commit: string;
  readonly mode: 'full' | 'quick';
  readonly node: string;
  readonly redis: string;
  readonly cpu: string;
  readonly cores: number;
  readonly n: number;
  readonly runs: number;
  readonly versions: Record<string, string>;
  /** 1-minute load average at start and end: other work on the machine skews the numbers. */
  readonly loadBefore: number;
  readonly loadAfter?: number;
  readonly seconds?: number;
}

export interface Ratios {
  /** median jobs/s over the best median of BullMQ and Bee-Queue */
  readonly vsBestPeer?: number;
  readonly vsRaw?: number;
}

export interface Target {
  readonly target: string;
  readonly value: string;
  readonly met: boolean;
}

export interface Report extends SuiteResults {
  meta: Meta;
  throughput: Array<ThroughputResult & Ratios>;
  targets: Target[];
}

export function buildReport(meta: Meta, results: SuiteResults): Report {
  const rate = (scenario: string, lib: LibName) =>
    results.throughput.find((t) => t.scenario === scenario && t.lib === lib)?.jobsPerSec.median;
  // Grouped by scenario (in the suite's order), libraries in their usual order within each.
  const order = [...new Set(results.throughput.map((t) => t.scenario))];
  const sorted = [...results.throughput].sort(
    (a, b) => order.indexOf(a.scenario) - order.indexOf(b.scenario) || LIBS.indexOf(a.lib) - LIBS.indexOf(b.lib),
  );
  const throughput = sorted.map((t) => {
    const peers = PEERS.map((p) => rate(t.scenario, p)).filter((x): x is number => x !== undefined);
    const raw = rate(t.scenario, 'raw');
    return {
      ...t,
      ...(peers.length ? { vsBestPeer: t.jobsPerSec.median / Math.max(...peers) } : {}),
      ...(raw ? { vsRaw: t.jobsPerSec.median / raw } : {}),
    };
  });
  const report: Report = { meta, ...results, throughput, targets: [] };
  report.targets = targets(report);
  return report;
}

/** convoy's targets; a metric that was not measured is left out. */
function targets(r: Report): Target[] {
  const out: Target[] = [];
  for (const t of r.throughput.filter((x) => x.lib === 'convoy')) {
    if (t.rate) {
      // Held to a limit, speed is not the point: keeping to it and reaching it are.
      const { max, duration, maxInWindowStamped, ofLimit } = t.rate;
      out.push({
        target: `${t.scenario}: ≤ ${max} starts in any ${duration} ms (by startedAt)`,
        value: `${maxInWindowStamped ?? '?'}`,
        met: maxInWindowStamped !== undefined && maxInWindowStamped <= max,
      });
      out.push({ target: `${t.scenario}: pace ≥ 0.9 of the limit`, value: ofLimit.median.toFixed(3), met: ofLimit.median >= 0.9 });
      continue;
    }
    if (t.vsBestPeer === undefined) continue;
    if (t.vsRaw === undefined) {
      // Delays and retries: raw has neither, so the peers are the only yardstick.
      out.push({ target: `${t.scenario}: ≥ 1.5× best peer`, value: `${ratio(t.vsBestPeer)} peer`, met: t.vsBestPeer >= 1.5 });
      continue;
    }
    out.push({
      target: `${t.scenario}: ≥ 1.5× best peer and above raw`,
      value: `${ratio(t.vsBestPeer)} peer, ${ratio(t.vsRaw)} raw`,
      met: t.vsBestPeer >= 1.5 && t.vsRaw > 1,
    });
  }
  const lat = r.latency.find((l) => l.lib === 'convoy');
  if (lat) out.push({ target: 'latency p50 < 2 ms', value: `${ms(lat.p50.median)} ms`, met: lat.p50.median < 2 });
  const late = r.throughput.find((t) => t.scenario === 'delayed' && t.lib === 'convoy')?.lateness;
  if (late) {
    out.push({
      target: 'delayed: lateness p99 < 50 ms',
      value: `${ms(late.p99.median)} ms (p50 ${ms(late.p50.median)})`,
      met: late.p99.median < 50,
    });
    // A delayed job must never start before it is due (a few ms of clock rounding aside).
    out.push({ target: 'delayed: no job starts > 2 ms early', value: `earliest ${ms(late.min.min)} ms`, met: late.min.min > -2 });
  }
  const idle = r.idle.find((i) => i.lib === 'convoy');
  if (idle) out.push({ target: 'idle worker ≤ 1 command/s', value: `${idle.commandsPerSecond.toFixed(2)}/s`, met: idle.commandsPerSecond <= 1 });
  const sched = r.idleScheduled.find((i) => i.lib === 'convoy');
  if (sched) {
    out.push({
      target: `idle worker, ${int(sched.jobs)} scheduled jobs: ≤ 1 command/s`,
      value: `${sched.commandsPerSecond.toFixed(2)}/s`,
      met: sched.commandsPerSecond <= 1,
    });
  }
  for (const key of ['process-c1', 'process-c32']) {
    const c = r.throughput.find((t) => t.scenario === key && t.lib === 'convoy');
    const raw = r.throughput.find((t) => t.scenario === key && t.lib === 'raw');
    if (c && raw) {
      out.push({
        target: `${key}: commands/job ≤ raw + 2`,
        value: `${c.commandsPerJob.toFixed(2)} vs raw ${raw.commandsPerJob.toFixed(2)}`,
        met: c.commandsPerJob <= raw.commandsPerJob + 2,
      });
    }
  }
  return out;
}

const int = (x: number) => Math.round(x).toLocaleString('en-US');
const ratio = (x: number | undefined) => (x === undefined ? '–' : `${x.toFixed(2)}×`);
const ms = (x: number) => x.toFixed(2);
const spreadMs = (s: Spread) => `${ms(s.median)} (${ms(s.min)}–${ms(s.max)})`;

function table(header: string[], align: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function costRows(r: Report): string[][] {
  const byLib = <T extends { lib: LibName }>(list: readonly T[], f: (x: T) => string) =>
    LIBS.map((lib) => {
      const x = list.find((e) => e.lib === lib);
      return x ? f(x) : '–';
    });
  const scenario = (key: string) => r.throughput.filter((t) => t.scenario === key);
  return [
    ['add → handler start p50 (ms)', ...byLib<LatencyResult>(r.latency, (l) => spreadMs(l.p50))],
    ['add → handler start p99 (ms)', ...byLib<LatencyResult>(r.latency, (l) => spreadMs(l.p99))],
    ['commands/job: add one by one', ...byLib(scenario('add-one'), (t) => t.commandsPerJob.toFixed(2))],
    ['commands/job: process, c=1', ...byLib(scenario('process-c1'), (t) => t.commandsPerJob.toFixed(2))],
    ['commands/job: process, c=32', ...byLib(scenario('process-c32'), (t) => t.commandsPerJob.toFixed(2))],
    ['used_memory per waiting job (bytes)', ...byLib(scenario('add-bulk'), (t) => (t.bytesPerJob === undefined ? '–' : int(t.bytesPerJob)))],
    ['idle worker: commands/s', ...byLib<IdleResult>(r.idle, (i) => i.commandsPerSecond.toFixed(2))],
    ['delayed 0–1 s: lateness p50 (ms)', ...byLib(scenario('delayed'), (t) => (t.lateness ? spreadMs(t.lateness.p50) : '–'))],
    ['delayed 0–1 s: lateness p99 (ms)', ...byLib(scenario('delayed'), (t) => (t.lateness ? spreadMs(t.lateness.p99) : '–'))],
    ['delayed 0–1 s: lateness min / max (ms)', ...byLib(scenario('delayed'), (t) => (t.lateness ? `${ms(t.lateness.min.min)} / ${ms(t.lateness.max.max)}` : '–'))],
    ['commands/job: delayed', ...byLib(scenario('delayed'), (t) => t.commandsPerJob.toFixed(2))],
    ['commands/job: attempts 3, ~10 % retried, c=32', ...byLib(scenario('retry-c32'), (t) => t.commandsPerJob.toFixed(2))],
    ...(r.idleScheduled.length
      ? [
          [
            `idle worker, ${int(r.idleScheduled[0].jobs)} scheduled jobs: commands/s`,
            ...byLib<IdleScheduledResult>(r.idleScheduled, (i) => i.commandsPerSecond.toFixed(2)),
          ],
          ['used_memory per scheduled job (bytes)', ...byLib<IdleScheduledResult>(r.idleScheduled, (i) => int(i.bytesPerJob))],
        ]
      : []),
  ];
}

/** The calls table (calls.ts): round trip and calls/s, convoy's tasks against BullMQ's waitUntilFinished. */
function callsSection(r: Report): string[] {
  const rate = (lib: LibName) => r.calls.find((c) => c.lib === lib)?.throughput?.callsPerSec.median;
  const [convoy, bullmq] = [rate('convoy'), rate('bullmq')];
  const vs = convoy !== undefined && bullmq !== undefined ? convoy / bullmq : undefined;
  return [
    `## Calls (Ivy tasks) vs BullMQ waitUntilFinished`,
    `convoy: \`createTaskQueue\` producer and a consumer \`listen\`ing on one queue, \`await producer.delayedCall(name, x)\` of a task \`(x) => x + 1\`` +
      ` (a different x every call, so each is its own run). BullMQ: \`await (await queue.add(name, { x })).waitUntilFinished(queueEvents)\`,` +
      ` a Worker returning x + 1 (completed jobs kept, its default). Round trip: one call at a time on an idle queue, call until result.` +
      ` Throughput: ${CALLS_SETUP}. Bee-Queue and raw: n/a`,
    table(
      ['lib', 'round trip p50 (ms)', 'round trip p99 (ms)', 'calls/s', 'min–max', 'commands/call', 'calls/s vs BullMQ'],
      ['---', '--:', '--:', '--:', '--:', '--:', '--:'],
      r.calls.map(({ lib, latency, throughput }) => [
        lib,
        latency ? spreadMs(latency.p50) : '–',
        latency ? spreadMs(latency.p99) : '–',
        throughput ? int(throughput.callsPerSec.median) : '–',
        throughput ? `${int(throughput.callsPerSec.min)}–${int(throughput.callsPerSec.max)}` : '–',
        throughput ? throughput.commandsPerCall.toFixed(2) : '–',
        lib === 'convoy' ? ratio(vs) : '–',
      ]),
    ),
  ];
}

export function renderMarkdown(r: Report): string {
  const m = r.meta;
  const runs = m.mode === 'quick' ? '1 run, no warm-up' : `median of ${m.runs} runs after a warm-up`;
  const parts = [
    `# convoy-queue benchmarks${m.mode === 'quick' ? ' (quick smoke run)' : ''}`,
    [
      `- date: ${m.date}${m.seconds ? ` (took ${Math.round(m.seconds)} s)` : ''}; convoy-queue at ${m.commit}`,
      `- node ${m.node}, redis ${m.redis}, ${m.cpu} × ${m.cores}; load average ${m.loadBefore.toFixed(2)} at start, ${m.loadAfter?.toFixed(2) ?? '?'} at end`,
      `- ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      `- N = ${int(m.n)} no-op jobs per run, ${runs}; one private redis-server, FLUSHALL between runs`,
      `- commands = sum of INFO commandstats calls (Lua-inner commands included), harness's own INFO/CONFIG/FLUSHALL left out;` +
        ` Redis CPU = redis-server used_cpu_user + used_cpu_sys over the timed part (node and Redis share the machine's cores)`,
      `- delayed: each job added on its own with a delay drawn from 0–1 s (same seed for every library), timed from the first add until all ran;` +
        ` lateness = handler start − (producer's clock just before the add + delay). Bee-Queue runs them with activateDelayedJobs and its default` +
        ` delayedDebounce (1 s: it groups due jobs by design). Retries: attempts 3, no backoff, the first run of the same ~10 % of jobs throws` +
        ` (Bee-Queue: retries(2)). raw has neither, so these rows have no raw ratio`,
      `- idle worker with scheduled jobs: convoy only (pre-loading a million delayed jobs would take the peers minutes), due in 2–4 h,` +
        ` added in bulk; commands counted after a 2 s settle` +
        (m.mode === 'quick' ? '; in a quick run the idle windows are shorter than a blocking timeout (5 s), so the idle rows can read 0' : ''),
      `- priorities: the same seeded priorities 0–10 (lower first) for every library, all jobs added before the worker starts;` +
        ` a run whose handlers do not start in priority order is an error. BullMQ's 0 means no priority and 1 is its most urgent,` +
        ` so ours p is BullMQ's p + 1 (every job prioritized); convoy keeps priority 0 in its plain list (~1/11 of the jobs).` +
        ` Bee-Queue and raw have no priorities: n/a`,
      `- rate limit: one limit shared by several workers, jobs pre-added; convoy's limit is a sliding window,` +
        ` BullMQ's \`limiter\` one counter per queue reset \`duration\` ms after its first start (a fixed window). Most starts in any` +
        ` window of \`duration\` ms, by handler start (delivery delays included) and by the library's own start stamp (convoy startedAt,` +
        ` the Redis clock at the claim; BullMQ processedOn); pace = starts after the first window's \`max\` per \`duration\` ms, over \`max\`` +
        ` (1 = the limit exactly). Bee-Queue and raw have no rate limit: n/a`,
    ].join('\n'),
    `## Throughput (jobs/s)`,
    table(
      ['scenario', 'lib', 'jobs/s', 'min–max', 'vs best peer', 'vs raw', 'commands/job', 'Redis CPU µs/job'],
      ['---', '---', '--:', '--:', '--:', '--:', '--:', '--:'],
      r.throughput.map((t) => [
        t.title,
        t.lib,
        int(t.jobsPerSec.median),
        `${int(t.jobsPerSec.min)}–${int(t.jobsPerSec.max)}`,
        ratio(t.vsBestPeer),
        ratio(t.vsRaw),
        t.commandsPerJob.toFixed(2),
        t.redisCpuUsPerJob.toFixed(1),
      ]),
    ),
    `## Latency and Redis cost`,
    table(['metric', ...LIBS], ['---', ...LIBS.map(() => '--:')], costRows(r)),
  ];
  const rated = r.throughput.filter((t) => t.rate);
  if (rated.length) {
    parts.push(
      `## Rate limit`,
      table(
        ['lib', 'limit', 'jobs', 'most starts in any window: handler / library stamp', 'pace, fraction of the limit', 'min–max'],
        ['---', '--:', '--:', '--:', '--:', '--:'],
        rated.map(({ lib, jobs, rate }) => [
          lib,
          `${rate!.max} / ${rate!.duration} ms`,
          int(jobs),
          `${rate!.maxInWindow} / ${rate!.maxInWindowStamped ?? '–'}`,
          rate!.ofLimit.median.toFixed(3),
          `${rate!.ofLimit.min.toFixed(3)}–${rate!.ofLimit.max.toFixed(3)}`,
        ]),
      ),
    );
  }
  if (r.calls.length) parts.push(...callsSection(r));
  if (r.targets.length) {
    parts.push(
      `## convoy targets`,
      table(['target', 'convoy', 'met'], ['---', '--:', ':-:'], r.targets.map((t) => [t.target, t.value, t.met ? 'yes' : '**no**'])),
    );
  }
  if (r.errors.length) {
    parts.push(`## Errors`, r.errors.map((e) => `- ${e.lib} · ${e.scenario}: ${e.message}`).join('\n'));
  }
  return parts.join('\n\n') + '\n';
}
