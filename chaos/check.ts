/**
 * The chaos run's checks, as pure functions over what the processes logged and
 * what Redis held, so they can be tested on made-up logs too.
 */
import type { AddLine, RunLine, WorkerLine } from './common.js';

/**
 * A jam guard sweep (or a lease renewal's stall recovery) that requeued `id`
 * (or '*': one whose answer was lost), sent at t0, answered at t1.
 */
export interface JamLine {
  id: string;
  t0: number;
  t1: number;
}

/** A worker process that was SIGKILLed; `t` is when its exit was seen. */
export interface KillLine {
  pid: number;
  t: number;
}

/** What the analysis needs to know besides the logs. */
export interface AnalysisContext {
  /** pid → the worker's mode, for the examples */
  modes?: Map<number, string>;
}

/** One MULTI snapshot of the queue's three structures. */
export interface Snapshot {
  committed: string[];
  queued: string[];
  processing: string[];
}

export interface SnapshotViolations {
  /** committed IDs in neither queued nor processing */
  committedOutside: string[];
  /** IDs more than once in the queued list */
  queuedDuplicates: string[];
  /** IDs in both queued and processing */
  queuedAndProcessing: string[];
  /** queued or processing IDs that are not committed */
  notCommitted: string[];
}

export function checkSnapshot(s: Snapshot): SnapshotViolations {
  const queued = new Set<string>();
  const dup = new Set<string>();
  for (const id of s.queued) {
    if (queued.has(id)) dup.add(id);
    queued.add(id);
  }
  const processing = new Set(s.processing);
  const committed = new Set(s.committed);
  return {
    committedOutside: s.committed.filter((id) => !queued.has(id) && !processing.has(id)),
    queuedDuplicates: [...dup],
    queuedAndProcessing: [...queued].filter((id) => processing.has(id)),
    notCommitted: [...new Set([...queued, ...processing])].filter((id) => !committed.has(id)),
  };
}

export interface Run {
  id: string;
  pid: number;
  k: number;
  start: number;
  /** the claim (Redis clock, ms); the start when not logged */
  claim: number;
  /** end of the handler; for a killed worker's unfinished run, when the kill was seen; Infinity when unknown */
  end: number;
  r?: RunLine['r'] | 'killed';
  noPayload: boolean;
}

export interface RunAnalysis {
  addsResolved: number;
  addsRejected: number;
  idsAdded: number;
  outcomes: Record<string, number>;
  runs: number;
  runsOk: number;
  runsFailed: number;
  runsTimedOut: number;
  /** runs that ignored their abort signal and ended after it fired */
  runsLate: number;
  runsCutByKill: number;
  jammedIds: number;
  /** overlapping runs of one ID with a jam guard requeue or a stall recovery between them (allowed) */
  overlapsWithJam: number;
  /** of the overlaps without a jam or stall, those whose first run ignored its signal past jobTimeout */
  overlapsAfterLateRun: number;
  /** must be zero */
  idsLost: number;
  overlapsWithoutJam: number;
  runsWithoutPayload: number;
  /**
   * runs with no cause: neither an add that may have queued the ID since the
   * previous run's claim, nor a jam guard requeue since then
   */
  runsWithoutCause: number;
  /** runs of workers that were never killed yet never ended */
  unfinishedRuns: number;
  examples: { lost: string[]; overlaps: string[]; unfinished: string[]; uncaused: string[] };
}

export function collectRuns(lines: RunLine[], kills: KillLine[]): Run[] {
  const killedAt = new Map(kills.map((k) => [k.pid, k.t]));
  const runs = new Map<string, Run>();
  for (const l of lines) {
    const key = `${l.pid}:${l.k}`;
    if (l.e === 's') {
      runs.set(key, { id: l.id, pid: l.pid, k: l.k, start: l.t, claim: l.c ?? l.t, end: Infinity, noPayload: l.np === 1 });
    } else {
      const run = runs.get(key);
      if (run) {
        run.end = l.t;
        run.r = l.r;
      }
    }
  }
  for (const run of runs.values()) {
    if (run.r === undefined && killedAt.has(run.pid)) {
      run.end = killedAt.get(run.pid)!;
      run.r = 'killed';
    }
  }
  return [...runs.values()];
}

export function analyze(adds: AddLine[], runLines: RunLine[], jams: JamLine[], kills: KillLine[], ctx: AnalysisContext = {}): RunAnalysis {
  const runs = collectRuns(runLines, kills);
  const modeOf = (pid: number) => (ctx.modes?.has(pid) ? ` (${ctx.modes.get(pid)})` : '');
  /** an add whose outcome asks for a run after it: queued, committed, or processing with 'rerun' */
  const asksForRun = (a: AddLine) => a.o === 'queued' || a.o === 'committed' || (a.o === 'processing' && a.rr === 1);
  const outcomes: Record<string, number> = { queued: 0, committed: 0, processing: 0 };
  const ids = new Set<string>();
  /** per ID, the latest send time of an add that left it waiting (queued or committed) */
  const mustRunAfter = new Map<string, number>();
  let addsResolved = 0;
  let addsRejected = 0;
  for (const a of adds) {
    if (!a.o) {
      addsRejected++;
      continue;
    }
    addsResolved++;
    outcomes[a.o] = (outcomes[a.o] ?? 0) + 1;
    ids.add(a.id);
    if (asksForRun(a)) {
      mustRunAfter.set(a.id, Math.max(mustRunAfter.get(a.id) ?? -Infinity, a.t0));
    }
  }

  const byId = new Map<string, Run[]>();
  for (const r of runs) {
    let list = byId.get(r.id);
    if (!list) byId.set(r.id, (list = []));
    list.push(r);
  }
  /** sweeps whose answer was lost: they may have requeued any ID */
  const anyId = jams.filter((j) => j.id === '*');
  const jamsById = new Map<string, JamLine[]>();
  for (const j of jams) {
    if (j.id === '*') continue;
    let list = jamsById.get(j.id);
    if (!list) jamsById.set(j.id, (list = []));
    list.push(j);
  }

  const examples = { lost: [] as string[], overlaps: [] as string[], unfinished: [] as string[], uncaused: [] as string[] };
  let idsLost = 0;
  for (const [id, after] of mustRunAfter) {
    const latest = Math.max(-Infinity, ...(byId.get(id) ?? []).map((r) => r.start));
    if (!(latest >= after)) {
      idsLost++;
      if (examples.lost.length < 5) examples.lost.push(`${id}: added at ${after}, last run start ${latest}`);
    }
  }

  let overlapsWithJam = 0;
  let overlapsAfterLateRun = 0;
  let overlapsWithoutJam = 0;
  for (const [id, list] of byId) {
    list.sort((a, b) => a.start - b.start);
    const idJams = [...(jamsById.get(id) ?? []), ...anyId];
    for (let j = 1; j < list.length; j++) {
      for (let i = 0; i < j; i++) {
        const a = list[i];
        const b = list[j];
        if (a.end <= b.start) continue;
        if (idJams.some((jam) => jam.t1 >= a.start && jam.t0 <= b.start)) {
          overlapsWithJam++;
        } else {
          overlapsWithoutJam++;
          if (a.r === 'late') overlapsAfterLateRun++;
          if (examples.overlaps.length < 5) {
            const how = a.r === 'late' ? ', ignored its signal past jobTimeout' : a.r === undefined ? ', never ended' : '';
            examples.overlaps.push(
              `${id}: run ${a.pid}#${a.k}${modeOf(a.pid)} live ${a.start}..${a.end}${how}, ` +
                `and run ${b.pid}#${b.k}${modeOf(b.pid)} started at ${b.start} (${b.start - a.start} ms after the first)`,
            );
          }
        }
      }
    }
  }

  // Every run needs a cause: an add that may have queued the ID (resolved
  // 'queued' or 'committed', or rejected with an unknown outcome) or a jam guard
  // requeue, after the claim of the ID's previous run and before this claim.
  // Clocks: Date.now() here, the Redis clock for claims, one machine; 2 ms slack.
  const SLACK = 2;
  const causesById = new Map<string, Array<{ t0: number; t1: number }>>();
  for (const a of adds) {
    if (a.o === 'processing' && a.rr !== 1) continue;
    let list = causesById.get(a.id);
    if (!list) causesById.set(a.id, (list = []));
    list.push(a);
  }
  let runsWithoutCause = 0;
  for (const [id, runsOfId] of byId) {
    const list = [...runsOfId].sort((a, b) => a.claim - b.claim);
    const causes = [...(causesById.get(id) ?? []), ...(jamsById.get(id) ?? []), ...anyId];
    for (let j = 0; j < list.length; j++) {
      const after = j === 0 ? -Infinity : list[j - 1].claim - SLACK;
      const b = list[j];
      // A run cut by a kill is started again by the recovery.
      if (j > 0 && list[j - 1].r === 'killed') continue;
      if (!causes.some((c) => c.t1 >= after && c.t0 <= b.claim + SLACK)) {
        runsWithoutCause++;
        if (examples.uncaused.length < 5) examples.uncaused.push(`${id}: run ${b.pid}#${b.k} claimed at ${b.claim}, previous claim ${after + SLACK}`);
      }
    }
  }

  const unfinished = runs.filter((r) => r.r === undefined);
  for (const r of unfinished.slice(0, 5)) examples.unfinished.push(`${r.id}: ${r.pid}#${r.k} from ${r.start}`);
  return {
    addsResolved,
    addsRejected,
    idsAdded: ids.size,
    outcomes,
    runs: runs.length,
    runsOk: runs.filter((r) => r.r === 'ok').length,
    runsFailed: runs.filter((r) => r.r === 'fail').length,
    runsTimedOut: runs.filter((r) => r.r === 'abort' || r.r === 'late').length,
    runsLate: runs.filter((r) => r.r === 'late').length,
    runsCutByKill: runs.filter((r) => r.r === 'killed').length,
    jammedIds: jams.length - anyId.length,
    overlapsWithJam,
    overlapsAfterLateRun,
    idsLost,
    overlapsWithoutJam,
    runsWithoutPayload: runs.filter((r) => r.noPayload).length,
    runsWithoutCause,
    unfinishedRuns: unfinished.length,
    examples,
  };
}

export interface WorkerConcurrency {
  pid: number;
  queue: string;
  mode: string;
  concurrency: number;
  /** most handlers running at once in that process, as its handlers counted them */
  maxSeen: number;
}

export interface ConcurrencyAudit {
  workers: WorkerConcurrency[];
  /** most handlers at once in any one worker */
  maxSeen: number;
  /** worker processes that ran more handlers at once than their concurrency */
  workersOver: number;
  /** run starts that took a process above its concurrency */
  startsOver: number;
  examples: string[];
}

/**
 * Handlers at once per worker process: each start line carries the count the
 * handlers kept (`n`, this one included); the header line carries the
 * process's concurrency.
 */
export function concurrencyAudit(lines: WorkerLine[], t0 = 0): ConcurrencyAudit {
  const byPid = new Map<number, WorkerConcurrency>();
  const worker = (pid: number) => {
    let w = byPid.get(pid);
    if (!w) byPid.set(pid, (w = { pid, queue: '?', mode: '?', concurrency: Infinity, maxSeen: 0 }));
    return w;
  };
  for (const l of lines) {
    if (l.e !== 'h') continue;
    const w = worker(l.pid);
    w.queue = l.q ?? '?';
    w.mode = l.mode ?? '?';
    w.concurrency = l.concurrency ?? Infinity;
  }
  let startsOver = 0;
  const examples: string[] = [];
  const worst = new Map<number, { n: number; t: number; id: string }>();
  for (const l of lines) {
    if (l.e !== 's' || l.n === undefined) continue;
    const w = worker(l.pid);
    w.maxSeen = Math.max(w.maxSeen, l.n);
    if (l.n > w.concurrency) {
      startsOver++;
      const prev = worst.get(l.pid);
      if (!prev || l.n > prev.n) worst.set(l.pid, { n: l.n, t: l.t, id: l.id });
    }
  }
  for (const [pid, x] of worst) {
    const w = byPid.get(pid)!;
    if (examples.length < 5) {
      examples.push(`worker ${pid} (${w.mode}, ${w.queue}, concurrency ${w.concurrency}): ${x.n} handlers at once at +${x.t - t0} ms (starting ${x.id})`);
    }
  }
  const workers = [...byPid.values()];
  return {
    workers,
    maxSeen: Math.max(0, ...workers.map((w) => w.maxSeen)),
    workersOver: workers.filter((w) => w.maxSeen > w.concurrency).length,
    startsOver,
    examples,
  };
}

export interface ReportAudit {
  /** 'completed' and 'failed' events seen */
  completedEvents: number;
  failedEvents: number;
  /** runs reported more than once ('completed' and 'failed' events of one run, all counted) */
  runsReportedTwice: number;
  /** reports beyond the first, summed over those runs */
  extraReports: number;
  examples: string[];
}

/** Each run is reported at most once: one 'completed' or one 'failed' event. */
export function reportAudit(lines: WorkerLine[], modes?: Map<number, string>): ReportAudit {
  const count = new Map<string, { n: number; kinds: string[]; id?: string; pid: number; k: number }>();
  let completedEvents = 0;
  let failedEvents = 0;
  for (const l of lines) {
    if (l.e !== 'c' && l.e !== 'f') continue;
    if (l.e === 'c') completedEvents++;
    else failedEvents++;
    const key = l.k ? `${l.pid}:${l.k}` : `${l.pid}:0:${l.id}`;
    let c = count.get(key);
    if (!c) count.set(key, (c = { n: 0, kinds: [], id: l.id, pid: l.pid, k: l.k ?? 0 }));
    c.n++;
    c.kinds.push(l.e === 'c' ? 'completed' : 'failed');
  }
  let runsReportedTwice = 0;
  let extraReports = 0;
  const examples: string[] = [];
  for (const c of count.values()) {
    if (c.n < 2) continue;
    runsReportedTwice++;
    extraReports += c.n - 1;
    if (examples.length < 5) {
      const mode = modes?.has(c.pid) ? ` (${modes.get(c.pid)})` : '';
      examples.push(`${c.id}: run ${c.pid}#${c.k}${mode} reported ${c.n} times: ${c.kinds.join(', ')}`);
    }
  }
  return { completedEvents, failedEvents, runsReportedTwice, extraReports, examples };
}

/** Keys a drained queue may keep: failure records, the error log and the registry of the workers still running. */
export const ALLOWED_AFTER_DRAIN = ['failed', 'failinfo', 'errors', 'workers', 'workerinfo'];
/** Hashes whose fields a failed ID keeps for inspection; any other field is garbage. */
export const KEPT_FOR_FAILED = ['payload', 'options', 'attempts', 'stalls'] as const;

/**
 * Leftovers after a drain: keys other than the allowed ones, and fields of the
 * per-job hashes for IDs without a failure record.
 */
export function leftovers(keys: string[], base: string, fields: Record<string, string[]>, failedIds: string[]): string[] {
  const out: string[] = [];
  const failed = new Set(failedIds);
  for (const key of keys) {
    const name = key.startsWith(base) ? key.slice(base.length) : key;
    if (ALLOWED_AFTER_DRAIN.includes(name)) continue;
    if ((KEPT_FOR_FAILED as readonly string[]).includes(name)) continue;
    out.push(key);
  }
  for (const [name, ids] of Object.entries(fields)) {
    for (const id of ids) if (!failed.has(id)) out.push(`${base}${name}[${id}]`);
  }
  return out;
}

export interface Figure {
  label: string;
  value: number;
  mustBeZero?: boolean;
}

export function table(figures: Figure[]): string {
  const width = Math.max(...figures.map((f) => f.label.length));
  const lines = figures.map((f) => {
    const flag = f.mustBeZero ? (f.value === 0 ? '  ok' : '  FAIL (must be 0)') : '';
    return `${f.label.padEnd(width)}  ${String(f.value).padStart(9)}${flag}`;
  });
  return lines.join('\n');
}
