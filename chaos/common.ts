/**
 * What the chaos run's processes share: the queue's name, the shape of the log
 * lines, and an append-only JSON-lines writer that survives SIGKILL (every line
 * is one write(2) on an O_APPEND descriptor, so a killed process leaves whole
 * lines behind, up to the last one it wrote).
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';

export const QUEUE = 'chaos';

/** One add as a producer saw it: sent at t0, settled at t1. */
export interface AddLine {
  id: string;
  /** producer pid */
  p: number;
  t0: number;
  t1: number;
  /** the outcome, when the add resolved */
  o?: 'queued' | 'committed' | 'processing';
  /** the error message, when it rejected (outcome unknown) */
  err?: string;
}

/** Start ('s') or end ('e') of one handler run. */
export interface RunLine {
  e: 's' | 'e';
  id: string;
  pid: number;
  /** run number within that worker process */
  k: number;
  t: number;
  /** end only: how the handler ended */
  r?: 'ok' | 'fail' | 'abort';
  /** start only: the payload was missing */
  np?: 1;
  /** start only: the claim time (job.startedAt: Redis clock, ms) */
  c?: number;
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
}

/** Messages a child sends the parent. */
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'done'; adds?: number; rejected?: number; errors?: number; runs?: number }
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
