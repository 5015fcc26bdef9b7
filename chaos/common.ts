import type { AddOutcome } from '../src/index.js';
/**
 * What the chaos run's processes share: the queue's name, the shape of the log
 * lines, and an append-only JSON-lines writer that survives SIGKILL (every line
 * is one write(2) on an O_APPEND descriptor, so a killed process leaves whole
 * lines behind, up to the last one it wrote).
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';

export const QUEUE = 'chaos';
/**
 * A second queue that no jam guard ever sweeps: its workers have only the
 * library's own recovery (the lease: `stallTimeout`) to bring back runs that
 * a dead worker, a lost reply or a failed result write left in processing.
 */
export const BARE_QUEUE = 'chaos-bare';
/**
 * A third queue, swept by no jam guard either, under flow control: adds carry
 * priorities and, about half, a group (FLOW_GROUPS of them); the queue has a
 * group concurrency, a global concurrency and a rate limit, and is paused and
 * resumed now and then (chaos/run.ts sets them; chaos/check.ts flowAudit
 * checks them).
 */
export const FLOW_QUEUE = 'chaos-flow';
/** The flow queue's groups: g0 .. g{FLOW_GROUPS - 1}. */
export const FLOW_GROUPS = 5;
export const flowGroup = (i: number) => `g${i}`;

/** One add as a producer saw it: sent at t0, settled at t1. */
export interface AddLine {
  id: string;
  /** producer pid */
  p: number;
  t0: number;
  t1: number;
  /** the outcome, when the add resolved */
  o?: AddOutcome;
  /** the error message, when it rejected (outcome unknown) */
  err?: string;
  /** the queue, when not QUEUE */
  q?: string;
  /** added with duplicateWhileProcessing 'rerun': an outcome 'processing' asks for one more run */
  rr?: 1;
  /** the job option delay (ms): due at the add's time plus this, on the Redis clock */
  d?: number;
  /** the job option attempts (absent: 1) */
  at?: number;
  /** the job options priority (absent: 0) and group (absent: none) */
  pr?: number;
  g?: string;
}

/**
 * One removeJob call as the remover saw it: sent at t0, settled at t1, with
 * its answer (`ok`), or the error when it rejected (outcome unknown: it may
 * have removed the ID).
 */
export interface RemoveLine {
  id: string;
  /** remover pid */
  p: number;
  t0: number;
  t1: number;
  ok?: boolean;
  err?: string;
  /** the queue, when not QUEUE */
  q?: string;
}

/**
 * Start ('s') or end ('e') of one handler run. The end is when the handler's
 * own work is over (it returned, threw, called `done` and stopped, or stopped
 * at its abort signal), not when the worker gave up on it: a handler that
 * ignores its signal is live until it really ends.
 */
export interface RunLine {
  e: 's' | 'e';
  id: string;
  pid: number;
  /** run number within that worker process */
  k: number;
  t: number;
  /**
   * end only: how the handler ended: completed, threw (or called done(err)),
   * stopped at its abort signal, or ended after its signal fired without
   * stopping for it ('late')
   */
  r?: 'ok' | 'fail' | 'abort' | 'late';
  /** start only: the payload was missing */
  np?: 1;
  /** start only: the claim time (job.startedAt: Redis clock, ms) */
  c?: number;
  /** start only: handlers running in this process at that moment, this one included */
  n?: number;
  /** start only: job.attempt (the 1-based run number of its life), and its attempts option (absent: 1) */
  a?: number;
  ax?: number;
  /** start only: the job's group and priority (job.options), when it has them */
  g?: string;
  pr?: number;
}

/**
 * What else a worker logs: its header ('h', first line: queue, mode,
 * concurrency), the abort signal of a run firing ('a'), the queue's
 * 'completed' ('c'), 'failed' ('f': failed for good) and 'retrying' ('r')
 * events for a run, the queue's
 * 'stalled' event ('st': runs of other workers whose leases lapsed, put back
 * by this worker's lease renewal), and lease renewals that failed ('rx': they
 * may have recovered stalled runs nobody heard of).
 */
export interface WorkerEventLine {
  e: 'h' | 'a' | 'c' | 'f' | 'r' | 'st' | 'rx';
  pid: number;
  t: number;
  /** 'st': the IDs recovered */
  ids?: string[];
  /** 'r' (the 'retrying' event): the delay before the retry (ms) */
  ms?: number;
  /** 'a', 'c', 'f', 'r': the run (0: a job whose handler never started) */
  k?: number;
  id?: string;
  /** 'h' only */
  q?: string;
  mode?: string;
  concurrency?: number;
  jobTimeout?: number;
}

export type WorkerLine = RunLine | WorkerEventLine;

export function isRunLine(l: WorkerLine): l is RunLine {
  return l.e === 's' || l.e === 'e';
}

/** How a chaos worker's handler behaves. */
export interface WorkerMode {
  name: string;
  queue: string;
  /** 'async': returns a promise; 'callback': (job, done) => …, calling done from the signal's abort listener */
  handler: 'async' | 'callback';
  /**
   * slow runs ignore their abort signal and go on past jobTimeout (to
   * jobTimeout + 200..900 ms); for callback handlers half of them (those call
   * done only at the end)
   */
  ignoreSignal: boolean;
  /** the worker's queue object has duplicateWhileProcessing 'rerun' */
  rerun: boolean;
  concurrency: number;
  /** the handler's time, uniform in [min, max] ms (default: the run's) */
  handlerMs?: [number, number];
}

/** What the parent hands a child process (as JSON in argv[2]). */
export interface ChildConfig {
  url: string;
  log: string;
  /** producers: how many IDs to pick from, adds in flight at once, pause between adds (ms) */
  pool?: number;
  lanes?: number;
  pauseMs?: number;
  /** producers in soak mode: add this range of IDs once each, then stop */
  range?: [number, number];
  /** workers */
  concurrency?: number;
  jobTimeout?: number;
  /** handler time, uniform in [min, max] ms */
  minMs?: number;
  maxMs?: number;
  /** fraction of runs that throw, and that run past jobTimeout */
  failRate?: number;
  slowRate?: number;
  /** fail with an Error whose stack is one short line (keeps error log entries alike) */
  shortStacks?: boolean;
  /** don't log runs (soak) */
  quiet?: boolean;
  /** the queue (default QUEUE) and the handler's behaviour (default: async, stops at its signal) */
  queue?: string;
  mode?: string;
  handler?: WorkerMode['handler'];
  ignoreSignal?: boolean;
  rerun?: boolean;
  /** the queue objects' commandTimeout (ms; default 2000) */
  commandTimeout?: number;
  /** workers: the queue option stallTimeout (ms), passed only when set */
  stallTimeout?: number;
  /** producers: the queues to add to (default [QUEUE]) */
  queues?: string[];
  /** producers: fraction of adds with duplicateWhileProcessing 'rerun' */
  rerunRate?: number;
  /** producers: fraction of adds with { attempts: 3, backoff }, and fraction with a delay of 0..maxDelay ms */
  retryRate?: number;
  delayRate?: number;
  maxDelay?: number;
  /** producers: removeJob calls on recently added IDs, one every removeEvery ms on average (0: none), logged to removeLog */
  removeEvery?: number;
  removeLog?: string;
  /** producers: fraction of adds that pick from the first `hotPool` IDs (so adds meet running IDs) */
  hotRate?: number;
  hotPool?: number;
  /** workers: slowRate for the hot IDs */
  hotSlowRate?: number;
  /**
   * producers: adds to this queue pick their IDs from a pool of `pool` IDs
   * (small, so the rate-limited queue's backlog stays short), carry a
   * priority of 0..maxPriority, and a group for `groupRate` of them
   */
  flow?: { queue: string; pool: number; maxPriority: number; groupRate: number; groups: number };
}

/** Messages a child sends the parent. */
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'done'; adds?: number; rejected?: number; errors?: number; runs?: number; maxLive?: number }
  | { type: 'fatal'; message: string }
  | { type: 'progress'; added: number; finished?: boolean };

export class JsonLog {
  private fd: number;
  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }
  write(obj: object): void {
    writeSync(this.fd, JSON.stringify(obj) + '\n');
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** The lines of a JSON-lines file; a torn last line (a kill mid-write) is skipped. */
export function readLines<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  const out: T[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // torn line
    }
  }
  return out;
}

/** Some IDs are not ASCII, to keep UTF-8 in the mix. */
export function idOf(n: number): string {
  return n % 7 === 0 ? `ジョブ-${n}` : `job-${n}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function rand(min: number, max: number): number {
  return min + Math.random() * (max - min);
}
