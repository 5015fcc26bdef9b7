/**
 * The chaos run's checks, as pure functions over what the processes logged and
 * what Redis held, so they can be tested on made-up logs too.
 */
import type { AddLine, RemoveLine, RunLine, WorkerEventLine, WorkerLine } from './common.js';

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

/** What the analysis needs to know besides the adds, runs, jams and kills. */
export interface AnalysisContext {
  /** pid → the worker's mode, for the examples */
  modes?: Map<number, string>;
  /** the removeJob calls on this queue */
  removes?: RemoveLine[];
  /**
   * the workers' 'completed' ('c'), 'failed' ('f'), 'retrying' ('r') and
   * 'stalled' ('st') event lines for this queue
   */
  events?: WorkerEventLine[];
  /**
   * IDs whose failure record after the drain is a StalledError: their last
   * life ended when a run stalled past its stallLimit, maybe a run no log
   * shows (a claim whose answer was lost, or whose worker died before it
   * started the handler)
   */
  stalledFailed?: Set<string>;
}

/** One MULTI snapshot of the queue's structures. */
export interface Snapshot {
  committed: string[];
  queued: string[];
  processing: string[];
  /** absent: a snapshot from before scheduled jobs (taken as none) */
  scheduled?: string[];
}

/** The invariant: committed = queued ∪ scheduled ∪ processing, the three disjoint, no ID twice in queued. */
export interface SnapshotViolations {
  /** committed IDs in none of queued, scheduled and processing */
  committedOutside: string[];
  /** IDs more than once in the queued list */
  queuedDuplicates: string[];
  /** IDs in both queued and processing */
  queuedAndProcessing: string[];
  /** IDs scheduled and also queued or processing */
  scheduledAndOther: string[];
  /** queued, scheduled or processing IDs that are not committed */
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
  const scheduled = new Set(s.scheduled ?? []);
  const committed = new Set(s.committed);
  return {
    committedOutside: s.committed.filter((id) => !queued.has(id) && !processing.has(id) && !scheduled.has(id)),
    queuedDuplicates: [...dup],
    queuedAndProcessing: [...queued].filter((id) => processing.has(id)),
    scheduledAndOther: [...scheduled].filter((id) => queued.has(id) || processing.has(id)),
    notCommitted: [...new Set([...queued, ...processing, ...scheduled])].filter((id) => !committed.has(id)),
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
  /** job.attempt and the attempts option, when logged */
  a?: number;
  ax?: number;
  /** the job's group and priority, when it has them */
  g?: string;
  pr?: number;
}

export interface RunAnalysis {
  addsResolved: number;
  addsRejected: number;
  /** resolved adds that carried a delay > 0, and attempts > 1 */
  addsDelayed: number;
  addsWithAttempts: number;
  idsAdded: number;
  outcomes: Record<string, number>;
  runs: number;
  runsOk: number;
  runsFailed: number;
  runsTimedOut: number;
  /** runs that ignored their abort signal and ended after it fired */
  runsLate: number;
  runsCutByKill: number;
  /** runs with job.attempt > 1 (retries), and the highest attempt seen */
  runsRetried: number;
  maxAttempt: number;
  jammedIds: number;
  /** overlapping runs of one ID with a jam guard requeue or a stall recovery between them (allowed) */
  overlapsWithJam: number;
  /** overlapping runs of one ID with a removeJob between them (allowed: the removed run is cancelled, the ID re-added) */
  overlapsWithRemoval: number;
  /** of the overlaps without a jam or stall, those whose first run ignored its signal past jobTimeout */
  overlapsAfterLateRun: number;
  /** removeJob calls: answered true, false, or rejected (outcome unknown) */
  removesTrue: number;
  removesFalse: number;
  removesUnknown: number;
  /** runs that were going when a removeJob answered true for their ID (cancelled), and of those, ended 100 ms or more after it */
  runsCancelled: number;
  runsCancelledLate: number;
  /** lives: adds that started one (queued or scheduled); ends seen for sure ('completed' or final 'failed' with no rerun pending) */
  livesStarted: number;
  livesCompleted: number;
  livesFailed: number;
  /** must be zero */
  idsLost: number;
  /** 'retrying' events with no later run of the ID and no removeJob since */
  retriesLost: number;
  overlapsWithoutJam: number;
  runsWithoutPayload: number;
  /**
   * runs with no cause: neither an add that may have queued the ID since the
   * previous run's claim, nor a jam guard requeue since then, nor a failed
   * previous run with attempts left
   */
  runsWithoutCause: number;
  /** runs of workers that were never killed yet never ended */
  unfinishedRuns: number;
  /** IDs that ended more lives (sure ends) than adds could have started */
  livesEndedTwice: number;
  /** IDs with more lives started than ends, sure or possible */
  livesNotEnded: number;
  /** runs of a delayed life claimed before its due time (add time + delay − tolerance), with no removeJob between */
  runsBeforeDue: number;
  /** retries claimed before the failed run's end + its backoff delay − tolerance */
  retriesBeforeBackoff: number;
  /** runs with job.attempt above the job's attempts option */
  runsOverAttempts: number;
  /** consecutive runs of an ID whose attempt numbers do not follow (+1 after a retried failure, same after a stall or jam, 1 in a new life) */
  attemptSteps: number;
  /** runs claimed after a removeJob answered true with no add since */
  runsAfterRemoval: number;
  /** runs cancelled by a removeJob that were reported ('completed', 'failed' or 'retrying') all the same */
  reportsAfterRemoval: number;
  examples: {
    lost: string[];
    overlaps: string[];
    unfinished: string[];
    uncaused: string[];
    lives: string[];
    due: string[];
    attempts: string[];
    removals: string[];
  };
}

export function collectRuns(lines: RunLine[], kills: KillLine[]): Run[] {
  const killedAt = new Map(kills.map((k) => [k.pid, k.t]));
  const runs = new Map<string, Run>();
  for (const l of lines) {
    const key = `${l.pid}:${l.k}`;
    if (l.e === 's') {
      runs.set(key, { id: l.id, pid: l.pid, k: l.k, start: l.t, claim: l.c ?? l.t, end: Infinity, noPayload: l.np === 1, a: l.a, ax: l.a === undefined ? undefined : (l.ax ?? 1), g: l.g, pr: l.pr });
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

/** Clocks: Date.now() in every process, the Redis clock for claims and due times, one machine. */
const SLACK = 2;
/** The "no run before its due time" checks allow this much (ms): clock granularity and rounding. */
export const DUE_TOLERANCE = 5 + 1;

function groupBy<T>(items: Iterable<T>, key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of items) {
    const k = key(x);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(x);
  }
  return out;
}

export function analyze(adds: AddLine[], runLines: RunLine[], jams: JamLine[], kills: KillLine[], ctx: AnalysisContext = {}): RunAnalysis {
  const runs = collectRuns(runLines, kills);
  const modeOf = (pid: number) => (ctx.modes?.has(pid) ? ` (${ctx.modes.get(pid)})` : '');
  const removes = ctx.removes ?? [];
  /** removals that may have taken the ID out: answered true, or rejected (outcome unknown) */
  const maybeRemovedById = groupBy(removes.filter((r) => r.ok !== false), (r) => r.id);
  const removedById = groupBy(removes.filter((r) => r.ok === true), (r) => r.id);
  /** a removeJob of `id` that may have run between t0 and t1 */
  const removalBetween = (id: string, t0: number, t1: number) => (maybeRemovedById.get(id) ?? []).some((r) => r.t1 >= t0 - SLACK && r.t0 <= t1 + SLACK);
  /** the reports of each run: pid:k → its event lines */
  const reports = groupBy((ctx.events ?? []).filter((l) => (l.e === 'c' || l.e === 'f' || l.e === 'r') && l.k), (l) => `${l.pid}:${l.k}`);
  const addsById = groupBy(adds, (a) => a.id);
  const stalledFailed = ctx.stalledFailed ?? new Set<string>();
  /** per ID, the stall recoveries that named it (each may have failed it for good: its stallLimit) */
  const stallsById = new Map<string, number>();
  for (const l of ctx.events ?? []) if (l.e === 'st') for (const id of l.ids ?? []) stallsById.set(id, (stallsById.get(id) ?? 0) + 1);

  /** an add whose outcome asks for a run after it: queued, scheduled, committed, or processing with 'rerun' */
  const asksForRun = (a: AddLine) => a.o === 'queued' || a.o === 'scheduled' || a.o === 'committed' || (a.o === 'processing' && a.rr === 1);
  const outcomes: Record<string, number> = { queued: 0, scheduled: 0, committed: 0, processing: 0 };
  const ids = new Set<string>();
  /** per ID, the latest add that left it waiting (or asked for a rerun) */
  const mustRunAfter = new Map<string, AddLine>();
  let addsResolved = 0;
  let addsRejected = 0;
  let addsDelayed = 0;
  let addsWithAttempts = 0;
  for (const a of adds) {
    if (!a.o) {
      addsRejected++;
      continue;
    }
    addsResolved++;
    if (a.d) addsDelayed++;
    if ((a.at ?? 1) > 1) addsWithAttempts++;
    outcomes[a.o] = (outcomes[a.o] ?? 0) + 1;
    ids.add(a.id);
    if (asksForRun(a) && !(a.t0 <= (mustRunAfter.get(a.id)?.t0 ?? -Infinity))) mustRunAfter.set(a.id, a);
  }

  const byId = groupBy(runs, (r) => r.id);
  for (const list of byId.values()) list.sort((a, b) => a.claim - b.claim);
  /** a run with no 'completed', 'failed' or 'retrying' event (when the events are known; a killed run always) */
  const unreported = (r: Run) => r.r === 'killed' || (ctx.events !== undefined && !reports.has(`${r.pid}:${r.k}`));
  /** sweeps whose answer was lost: they may have requeued any ID */
  const anyId = jams.filter((j) => j.id === '*');
  const jamsById = groupBy(jams.filter((j) => j.id !== '*'), (j) => j.id);

  const examples: RunAnalysis['examples'] = { lost: [], overlaps: [], unfinished: [], uncaused: [], lives: [], due: [], attempts: [], removals: [] };
  const note = (list: string[], s: string) => {
    if (list.length < 5) list.push(s);
  };

  // ---- none lost: after the last add that asked for a run, a run starts, or a removeJob may have taken the ID out.
  let idsLost = 0;
  for (const [id, add] of mustRunAfter) {
    const after = add.t0;
    const list = byId.get(id) ?? [];
    const latest = Math.max(-Infinity, ...list.map((r) => r.start));
    if (latest >= after) continue;
    if ((maybeRemovedById.get(id) ?? []).some((r) => r.t1 >= after - SLACK)) continue;
    // Its last life ended stalled past its stallLimit, maybe in a run whose claim was never answered.
    if (stalledFailed.has(id)) continue;
    // A rerun asked of a run that then stalled past its stallLimit is dropped with the failed job: its run went unreported.
    if (add.o === 'processing' && list.some((r) => r.start <= add.t1 && unreported(r))) continue;
    idsLost++;
    note(examples.lost, `${id}: added at ${after} (${add.o}${add.d ? `, delay ${add.d}` : ''}), last run start ${latest}`);
  }
  // ---- and every retry runs: a 'retrying' run is followed by another run of its ID, unless removed.
  let retriesLost = 0;
  for (const r of runs) {
    if (!reports.get(`${r.pid}:${r.k}`)?.some((l) => l.e === 'r')) continue;
    if ((byId.get(r.id) ?? []).some((n) => n.claim > r.claim)) continue;
    if ((maybeRemovedById.get(r.id) ?? []).some((x) => x.t1 >= r.claim - SLACK)) continue;
    if (stalledFailed.has(r.id)) continue;
    retriesLost++;
    note(examples.lost, `${r.id}: run ${r.pid}#${r.k} (attempt ${r.a}) was retried, and no run came after it`);
  }

  // ---- no two live runs of an ID at once without a jam, stall recovery or removal between them
  let overlapsWithJam = 0;
  let overlapsWithRemoval = 0;
  let overlapsAfterLateRun = 0;
  let overlapsWithoutJam = 0;
  for (const [id, runsOfId] of byId) {
    const list = [...runsOfId].sort((a, b) => a.start - b.start);
    const idJams = [...(jamsById.get(id) ?? []), ...anyId];
    for (let j = 1; j < list.length; j++) {
      for (let i = 0; i < j; i++) {
        const a = list[i];
        const b = list[j];
        if (a.end <= b.start) continue;
        if (idJams.some((jam) => jam.t1 >= a.start && jam.t0 <= b.start)) {
          overlapsWithJam++;
        } else if (removalBetween(id, a.start, b.start)) {
          overlapsWithRemoval++;
        } else {
          overlapsWithoutJam++;
          if (a.r === 'late') overlapsAfterLateRun++;
          const how = a.r === 'late' ? ', ignored its signal past jobTimeout' : a.r === undefined ? ', never ended' : '';
          note(
            examples.overlaps,
            `${id}: run ${a.pid}#${a.k}${modeOf(a.pid)} live ${a.start}..${a.end}${how}, ` +
              `and run ${b.pid}#${b.k}${modeOf(b.pid)} started at ${b.start} (${b.start - a.start} ms after the first)`,
          );
        }
      }
    }
  }

  // ---- every run has a cause: an add that may have queued the ID (resolved
  // 'queued', 'scheduled' or 'committed', 'processing' with 'rerun', or
  // rejected with an unknown outcome) or a jam guard requeue, after the claim
  // of the ID's previous run and before this claim; or a previous run that was
  // cut by a kill (recovered as a stall) or failed with attempts left (a retry).
  const causesById = new Map<string, Array<{ t0: number; t1: number }>>();
  for (const a of adds) {
    if (a.o === 'processing' && a.rr !== 1) continue;
    let list = causesById.get(a.id);
    if (!list) causesById.set(a.id, (list = []));
    list.push(a);
  }
  const mayRetry = (p: Run) => p.a !== undefined && p.a < (p.ax ?? 1) && p.r !== 'ok';
  let runsWithoutCause = 0;
  for (const [id, list] of byId) {
    const causes = [...(causesById.get(id) ?? []), ...(jamsById.get(id) ?? []), ...anyId];
    for (let j = 0; j < list.length; j++) {
      const after = j === 0 ? -Infinity : list[j - 1].claim - SLACK;
      const b = list[j];
      if (j > 0 && (list[j - 1].r === 'killed' || mayRetry(list[j - 1]))) continue;
      if (!causes.some((c) => c.t1 >= after && c.t0 <= b.claim + SLACK)) {
        runsWithoutCause++;
        note(examples.uncaused, `${id}: run ${b.pid}#${b.k} claimed at ${b.claim}, previous claim ${after + SLACK}`);
      }
    }
  }

  // ---- lives: an add answered queued or scheduled starts one; it ends with one
  // 'completed', one final 'failed' or one removeJob. Sure ends: a 'completed'
  // or 'failed' event of a run no 'rerun' add could have met (such a run is
  // queued again, in the same life). Possible ends: those events, a run never
  // reported (its result written with the answer lost, or its worker killed;
  // or it stalled past its stallLimit), a StalledError failure record left
  // after the drain (the stalled run may be one no log shows: a claim whose
  // answer was lost), a stall recovery that named the ID (it may have failed
  // it for good, past its stallLimit, with a failure record a later add then
  // cleared), a removeJob answered true (it may
  // have removed only a failure record) or rejected. A rejected add may have
  // started a life.
  let livesStarted = 0;
  let livesCompleted = 0;
  let livesFailed = 0;
  let livesEndedTwice = 0;
  let livesNotEnded = 0;
  const allIds = new Set([...addsById.keys(), ...byId.keys()]);
  for (const id of allIds) {
    const addsOfId = addsById.get(id) ?? [];
    const started = addsOfId.filter((a) => a.o === 'queued' || a.o === 'scheduled').length;
    const maybeStarted = addsOfId.filter((a) => !a.o).length;
    const rerunAdds = addsOfId.filter((a) => a.rr === 1 && (a.o === 'processing' || !a.o));
    let sure = 0;
    let maybe = (maybeRemovedById.get(id) ?? []).length + (stalledFailed.has(id) ? 1 : 0) + (stallsById.get(id) ?? 0);
    for (const r of byId.get(id) ?? []) {
      const ev = reports.get(`${r.pid}:${r.k}`);
      if (!ev) {
        maybe++;
        continue;
      }
      const end = ev.find((l) => l.e === 'c' || l.e === 'f');
      if (!end) continue;
      if (rerunAdds.some((a) => a.t1 >= r.claim - SLACK && a.t0 <= end.t + SLACK)) {
        maybe++;
        continue;
      }
      sure++;
      if (end.e === 'c') livesCompleted++;
      else livesFailed++;
    }
    livesStarted += started;
    if (sure > started + maybeStarted) {
      livesEndedTwice++;
      note(examples.lives, `${id}: ${sure} lives ended for sure ('completed' or final 'failed'), only ${started} adds started one (${maybeStarted} unknown)`);
    }
    if (started > sure + maybe) {
      livesNotEnded++;
      note(examples.lives, `${id}: ${started} lives started, ${sure} ended for sure and ${maybe} maybe`);
    }
  }

  // ---- no run before its due time: after an add answered 'scheduled' (due at
  // least at its send time + delay), no run claims the ID before that, unless a
  // removeJob may have ended that life in between (and an add started another).
  let runsBeforeDue = 0;
  for (const a of adds) {
    if (a.o !== 'scheduled' || !a.d) continue;
    const due = a.t0 + a.d;
    for (const r of byId.get(a.id) ?? []) {
      if (r.claim <= a.t1 + SLACK || r.claim >= due - DUE_TOLERANCE) continue;
      if (removalBetween(a.id, a.t0, r.claim)) continue;
      runsBeforeDue++;
      note(examples.due, `${a.id}: added at ${a.t0}..${a.t1} with delay ${a.d} (due ≥ ${due}), run ${r.pid}#${r.k} claimed at ${r.claim} (${due - r.claim} ms early)`);
    }
  }

  // ---- attempts: never above the limit; +1 after a retried failure (no sooner
  // than its backoff), the same after a stall or jam, 1 in a new life.
  let retriesBeforeBackoff = 0;
  let runsOverAttempts = 0;
  let attemptSteps = 0;
  for (const r of runs) {
    if (r.a !== undefined && r.a > (r.ax ?? 1)) {
      runsOverAttempts++;
      note(examples.attempts, `${r.id}: run ${r.pid}#${r.k} is attempt ${r.a} of ${r.ax ?? 1}`);
    }
  }
  for (const [id, list] of byId) {
    for (let j = 1; j < list.length; j++) {
      const p = list[j - 1];
      const n = list[j];
      if (p.a === undefined || n.a === undefined) continue;
      const retried = reports.get(`${p.pid}:${p.k}`)?.find((l) => l.e === 'r');
      const removed = removalBetween(id, p.claim, n.claim);
      let bad = '';
      if (retried && !removed && n.a !== p.a + 1) bad = `run ${p.pid}#${p.k} (attempt ${p.a}) was retried, the next run is attempt ${n.a}`;
      else if (n.a !== 1 && n.a !== p.a && n.a !== p.a + 1) bad = `attempt ${n.a} follows attempt ${p.a}`;
      else if (n.a === p.a + 1 && p.r === 'ok') bad = `attempt ${n.a} follows attempt ${p.a}, which completed`;
      if (bad) {
        attemptSteps++;
        note(examples.attempts, `${id}: ${bad} (runs ${p.pid}#${p.k} claimed ${p.claim}, ${n.pid}#${n.k} claimed ${n.claim})`);
      }
      if (retried && !removed && Number.isFinite(p.end) && n.claim < p.end + (retried.ms ?? 0) - DUE_TOLERANCE) {
        retriesBeforeBackoff++;
        note(examples.due, `${id}: run ${p.pid}#${p.k} ended at ${p.end}, retried after ${retried.ms} ms, yet run ${n.pid}#${n.k} claimed at ${n.claim}`);
      }
    }
  }

  // ---- removals: a removed ID runs again only after a new add; a run it
  // cancelled is not reported (its result changes nothing).
  let runsAfterRemoval = 0;
  let reportsAfterRemoval = 0;
  let runsCancelled = 0;
  let runsCancelledLate = 0;
  for (const [id, rms] of removedById) {
    const list = byId.get(id) ?? [];
    const addsOfId = (addsById.get(id) ?? []).filter((a) => !a.o || asksForRun(a));
    for (const rm of rms) {
      for (const r of list) {
        if (r.claim > rm.t1 + SLACK && !addsOfId.some((a) => a.t1 >= rm.t0 - SLACK && a.t0 <= r.claim + SLACK)) {
          runsAfterRemoval++;
          note(examples.removals, `${id}: removed at ${rm.t0}..${rm.t1}, run ${r.pid}#${r.k} claimed at ${r.claim} with no add since`);
        }
        if (r.claim < rm.t0 - SLACK && r.end > rm.t1 + SLACK) {
          runsCancelled++;
          if (r.end >= rm.t1 + 100) runsCancelledLate++;
          const ev = reports.get(`${r.pid}:${r.k}`);
          if (ev) {
            reportsAfterRemoval++;
            note(examples.removals, `${id}: removed at ${rm.t0}..${rm.t1}, yet run ${r.pid}#${r.k}${modeOf(r.pid)} (claimed ${r.claim}, ended ${r.end}) was reported: ${ev.map((l) => l.e).join(', ')}`);
          }
        }
      }
    }
  }

  const unfinished = runs.filter((r) => r.r === undefined);
  for (const r of unfinished.slice(0, 5)) examples.unfinished.push(`${r.id}: ${r.pid}#${r.k} from ${r.start}`);
  return {
    addsResolved,
    addsRejected,
    addsDelayed,
    addsWithAttempts,
    idsAdded: ids.size,
    outcomes,
    runs: runs.length,
    runsOk: runs.filter((r) => r.r === 'ok').length,
    runsFailed: runs.filter((r) => r.r === 'fail').length,
    runsTimedOut: runs.filter((r) => r.r === 'abort' || r.r === 'late').length,
    runsLate: runs.filter((r) => r.r === 'late').length,
    runsCutByKill: runs.filter((r) => r.r === 'killed').length,
    runsRetried: runs.filter((r) => (r.a ?? 1) > 1).length,
    maxAttempt: Math.max(0, ...runs.map((r) => r.a ?? 0)),
    jammedIds: jams.length - anyId.length,
    overlapsWithJam,
    overlapsWithRemoval,
    overlapsAfterLateRun,
    removesTrue: removes.filter((r) => r.ok === true).length,
    removesFalse: removes.filter((r) => r.ok === false).length,
    removesUnknown: removes.filter((r) => r.ok === undefined).length,
    runsCancelled,
    runsCancelledLate,
    livesStarted,
    livesCompleted,
    livesFailed,
    idsLost,
    retriesLost,
    overlapsWithoutJam,
    runsWithoutPayload: runs.filter((r) => r.noPayload).length,
    runsWithoutCause,
    unfinishedRuns: unfinished.length,
    livesEndedTwice,
    livesNotEnded,
    runsBeforeDue,
    retriesBeforeBackoff,
    runsOverAttempts,
    attemptSteps,
    runsAfterRemoval,
    reportsAfterRemoval,
    examples,
  };
}

// ---- flow control (the flow queue): concurrency, group concurrency, rate limit, pauses

/** The flow queue's limits, as chaos/run.ts set them before any worker started. */
export interface FlowLimits {
  /** setGlobalConcurrency */
  concurrency: number;
  /** setGroupConcurrency */
  groupConcurrency: number;
  /** setRateLimit */
  rate: { max: number; duration: number };
}

/**
 * One pause of the queue, on the Redis clock (ms, with the µs as a fraction):
 * `from` read (TIME) right after pause() resolved, `to` right before resume()
 * was called. The pause flag was set before `from` and cleared after `to`.
 */
export interface PauseWindow {
  from: number;
  to: number;
}

export interface FlowAudit {
  runs: number;
  runsGrouped: number;
  runsPrioritized: number;
  /** most runs that were current claims at one instant, in the queue and in one group */
  maxAtOnce: number;
  maxInGroup: number;
  /** runs cut short in the count because their claim may have been taken away (lease lapsed, removed) */
  runsTakenAway: number;
  /** must be zero: starts that took the current claims above the global / the group concurrency */
  startsOverConcurrency: number;
  startsOverGroupConcurrency: number;
  /** the least time between two starts `max` apart in claim order (Infinity: fewer than max + 1 starts) */
  closestSpacing: number;
  /** must be zero: pairs of starts `max` apart less than `duration` apart */
  rateViolations: number;
  /** must be zero: runs claimed inside a pause */
  claimsInPause: number;
  examples: string[];
}

/**
 * The flow control, checked on the runs of one queue (collectRuns).
 *
 * Concurrency. Redis counts a run against the global and its group's
 * concurrency from its claim until its ID leaves processing with that claim's
 * token: its result written (after the handler ended: a run that ignores its
 * signal keeps its slot until it really ends), or the claim taken away (its
 * lease lapsed and a renewal put it back, or removeJob took it). So a logged
 * run holds its slot at least over [claim, end], cut at the earliest moment
 * its claim may have been taken away: the send time (t0) of any stall
 * recovery of its ID, or of any '*' window (a failed renewal, a killed
 * worker: either may have put back any ID), or of a removal that may have
 * taken it, whose window meets the run. After that the run may legitimately
 * overlap others (a run declared dead does not count). A killed worker's run
 * ends at the kill in the log, though its claim holds until its lease lapses:
 * counting less than Redis does never flags a run wrongly.
 * The clocks: claims are the Redis clock in ms (floored), ends the worker's
 * Date.now(), the same system clock. A run counted at ms T has claim ≤ T and
 * end > T, so it was live at the instant T + 1 (claimed before it, ended at or
 * after it): every run counted at T was live at one same instant. So at each
 * ms T, ends at T go first, then starts at T; a run with end = claim never
 * counts. More than the limit at any T is a real violation.
 *
 * Rate limit. Every claim logs its time (the token's ms: job.startedAt) in the
 * limiter and takes only what the last `duration` ms leave; the logged runs
 * are a subset of the limiter's entries (claims whose reply was lost are not
 * logged). So in claim order, starts `max` apart are ≥ `duration` apart,
 * exactly (no tolerance: the same ms values on both sides).
 *
 * Pauses. A run claimed at c (ms, floored) was claimed in [c, c + 1): if that
 * lies inside (from, to) it was claimed while the queue was paused.
 */
export function flowAudit(runs: Run[], limits: FlowLimits, ctx: { jams?: JamLine[]; removes?: RemoveLine[]; pauses?: PauseWindow[] } = {}): FlowAudit {
  const examples: string[] = [];
  const note = (s: string) => {
    if (examples.length < 10) examples.push(s);
  };
  const takers = [...(ctx.jams ?? []), ...(ctx.removes ?? []).filter((r) => r.ok !== false)];
  const takersById = groupBy(takers, (x) => x.id);
  const anyId = takers.filter((x) => x.id === '*');
  let runsTakenAway = 0;
  /** each run's counted interval [claim, stop) */
  const counted = runs.map((r) => {
    let stop = r.end;
    for (const x of [...(takersById.get(r.id) ?? []), ...anyId]) {
      if (x.t1 >= r.claim && x.t0 <= stop) stop = Math.max(r.claim, x.t0);
    }
    if (stop < r.end) runsTakenAway++;
    return { run: r, stop };
  });
  /** the most counted at once, and the starts that went over the limit */
  const sweep = (list: typeof counted, limit: number, what: string) => {
    const events: Array<[number, number, Run]> = [];
    for (const { run, stop } of list) {
      if (stop <= run.claim) continue;
      events.push([run.claim, 1, run], [stop, -1, run]);
    }
    events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let n = 0;
    let most = 0;
    let over = 0;
    const live = new Set<Run>();
    for (const [t, d, run] of events) {
      n += d;
      if (d < 0) {
        live.delete(run);
        continue;
      }
      live.add(run);
      most = Math.max(most, n);
      if (n > limit) {
        over++;
        note(`${what}: ${n} current claims at ${t} (limit ${limit}), starting ${run.id} (${run.pid}#${run.k}); live: ${[...live].map((x) => `${x.id} ${x.pid}#${x.k} ${x.claim}..${x.end}`).join(', ')}`);
      }
    }
    return { most, over };
  };
  const all = sweep(counted, limits.concurrency, 'global concurrency');
  let maxInGroup = 0;
  let startsOverGroupConcurrency = 0;
  for (const [g, list] of groupBy(counted.filter((x) => x.run.g !== undefined), (x) => x.run.g!)) {
    const s = sweep(list, limits.groupConcurrency, `group ${g}`);
    maxInGroup = Math.max(maxInGroup, s.most);
    startsOverGroupConcurrency += s.over;
  }

  const { max, duration } = limits.rate;
  const claims = [...runs].sort((a, b) => a.claim - b.claim);
  let closestSpacing = Infinity;
  let rateViolations = 0;
  for (let i = 0; i + max < claims.length; i++) {
    const a = claims[i];
    const b = claims[i + max];
    closestSpacing = Math.min(closestSpacing, b.claim - a.claim);
    if (b.claim - a.claim < duration) {
      rateViolations++;
      note(`rate limit: starts ${max} apart ${b.claim - a.claim} ms apart (limit ${max} per ${duration} ms): ${a.id} (${a.pid}#${a.k}) at ${a.claim}, ${b.id} (${b.pid}#${b.k}) at ${b.claim}`);
    }
  }

  let claimsInPause = 0;
  for (const r of runs) {
    const p = (ctx.pauses ?? []).find((w) => r.claim > w.from && r.claim + 1 <= w.to);
    if (!p) continue;
    claimsInPause++;
    note(`pause: ${r.id} (${r.pid}#${r.k}) claimed at ${r.claim}, inside the pause ${p.from.toFixed(3)}..${p.to.toFixed(3)}`);
  }
  return {
    runs: runs.length,
    runsGrouped: runs.filter((r) => r.g !== undefined).length,
    runsPrioritized: runs.filter((r) => (r.pr ?? 0) > 0).length,
    maxAtOnce: all.most,
    maxInGroup,
    runsTakenAway,
    startsOverConcurrency: all.over,
    startsOverGroupConcurrency,
    closestSpacing,
    rateViolations,
    claimsInPause,
    examples,
  };
}

/** What Redis held at one instant (one read-only script): the processing count, per group, and the groups' run counters. */
export interface FlowSnapshot {
  processing: number;
  /** group → its IDs in processing (by their stored options) */
  processingByGroup: Record<string, number>;
  /** the gactive hash: group → runs the queue counts for it */
  gactive: Record<string, number>;
}

export interface FlowSnapshotViolations {
  /** processing held more IDs than the global concurrency */
  overConcurrency: number;
  /** groups with more IDs in processing than the group concurrency */
  overGroupConcurrency: string[];
  /** groups whose counter (gactive) differs from their IDs in processing: a drift would hold a group back for good, or let it run over */
  counterDrift: string[];
}

export function checkFlowSnapshot(s: FlowSnapshot, limits: FlowLimits): FlowSnapshotViolations {
  const groups = new Set([...Object.keys(s.processingByGroup), ...Object.keys(s.gactive)]);
  return {
    overConcurrency: s.processing > limits.concurrency ? s.processing - limits.concurrency : 0,
    overGroupConcurrency: Object.entries(s.processingByGroup)
      .filter(([, n]) => n > limits.groupConcurrency)
      .map(([g, n]) => `${g}: ${n}`),
    counterDrift: [...groups].filter((g) => (s.processingByGroup[g] ?? 0) !== (s.gactive[g] ?? 0)).map((g) => `${g}: ${s.processingByGroup[g] ?? 0} processing, gactive ${s.gactive[g] ?? 0}`),
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
  /** 'completed', 'failed' and 'retrying' events seen */
  completedEvents: number;
  failedEvents: number;
  retryingEvents: number;
  /** runs reported more than once ('completed', 'failed' and 'retrying' events of one run, all counted) */
  runsReportedTwice: number;
  /** reports beyond the first, summed over those runs */
  extraReports: number;
  examples: string[];
}

/** Each run is reported at most once: one 'completed', 'failed' or 'retrying' event. */
export function reportAudit(lines: WorkerLine[], modes?: Map<number, string>): ReportAudit {
  const count = new Map<string, { n: number; kinds: string[]; id?: string; pid: number; k: number }>();
  let completedEvents = 0;
  let failedEvents = 0;
  let retryingEvents = 0;
  for (const l of lines) {
    if (l.e !== 'c' && l.e !== 'f' && l.e !== 'r') continue;
    if (l.e === 'c') completedEvents++;
    else if (l.e === 'f') failedEvents++;
    else retryingEvents++;
    const key = l.k ? `${l.pid}:${l.k}` : `${l.pid}:0:${l.id}`;
    let c = count.get(key);
    if (!c) count.set(key, (c = { n: 0, kinds: [], id: l.id, pid: l.pid, k: l.k ?? 0 }));
    c.n++;
    c.kinds.push(l.e === 'c' ? 'completed' : l.e === 'f' ? 'failed' : 'retrying');
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
  return { completedEvents, failedEvents, retryingEvents, runsReportedTwice, extraReports, examples };
}

/**
 * Keys a drained queue may keep: failure records, the error log, the registry
 * of the workers still running, and the flow control's settings, the
 * counter that orders prioritized jobs, the event stream and kept results.
 */
export const ALLOWED_AFTER_DRAIN = ['failed', 'failinfo', 'errors', 'workers', 'workerinfo', 'control', 'sequence', 'events', 'results', 'resultorder'];
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
