/**
 * waitForResult: the result of an ID's next (or just finished) run. One script
 * reads the ID's state, its kept result and the event stream's position at
 * once (scripts/wait-result.lua), so the run's end is either in that read or
 * in an event after that position: no lost wake-up. All waits of a queue
 * object share one reader of the stream, which hands each event to the
 * waiters of its ID.
 */
import type { RedisArgument } from 'redis';
import type { Connection } from './connection.js';
import { decodePayload, Job } from './job.js';
import { parseRecord } from './manage.js';
import { StreamReader, splitEntry } from './events.js';
import { InvalidOptionError, JobRemovedError, QueueClosedError, RemoteJobError, WaitTimeoutError } from './errors.js';
import type { QueueKeys } from './keys.js';
import { callOptions, checkCallNumber, type ResolvedOptions } from './options.js';
import type { ScriptName, ScriptReply } from './scripts.js';
import { MAX_TIMER_MS, describe, sleep } from './util.js';

/** What waiting for results needs from its queue. */
export interface ResultHost {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly options: ResolvedOptions;
  readonly connection: Connection;
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply>;
  command(args: string[], what: string): Promise<unknown>;
  onError(err: unknown, what: string): void;
}

interface Waiter {
  readonly id: string;
  /** the stream position of its read: only later events count */
  readonly after: string;
  settle(outcome: { record: string } | { error: Error }): void;
}

/** Whether stream entry ID a comes after b. */
function after(a: string, b: string): boolean {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  return Number(am) > Number(bm) || (am === bm && Number(as) > Number(bs));
}

/** Longest pause between polls when the queue writes no events. */
const MAX_POLL_MS = 1000;

export class ResultWaiters {
  private readonly waiting = new Map<string, Set<Waiter>>();
  private reader?: StreamReader;
  private readonly stopper = new AbortController();

  constructor(private readonly host: ResultHost) {}

  async wait(id: string | number, options: { timeout?: number } = {}): Promise<unknown> {
    const { timeout } = callOptions('waitForResult', options, ['timeout']);
    if (timeout !== undefined) {
      checkCallNumber('waitForResult', 'timeout', timeout, 0, false);
      if (timeout > MAX_TIMER_MS) throw new InvalidOptionError(`waitForResult option \`timeout\` must be at most ${MAX_TIMER_MS} ms, got ${describe(timeout)}`);
    }
    const key = new Job(id).id;
    if (!this.host.options.keepResults) {
      throw new InvalidOptionError(`waitForResult needs the queue's results: queue ${JSON.stringify(this.host.name)} has keepResults: false`);
    }
    return new Promise<unknown>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const registered: { waiter?: Waiter } = {};
      const settle = (outcome: { record: string } | { error: Error }) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (registered.waiter) this.remove(registered.waiter);
        if ('error' in outcome) reject(outcome.error);
        else {
          try {
            resolve(this.outcome(key, outcome.record));
          } catch (err) {
            reject(err);
          }
        }
      };
      if (timeout !== undefined) {
        timer = setTimeout(() => settle({ error: new WaitTimeoutError(`no result of job ${key} within ${timeout} ms`) }), timeout);
      }
      this.begin(key, settle, () => done, registered).catch((err: Error) => settle({ error: err }));
    });
  }

  private async begin(id: string, settle: Waiter['settle'], ended: () => boolean, registered: { waiter?: Waiter }): Promise<void> {
    const [state, record, at] = await this.check(id);
    if (state !== 'waiting') return this.settleFrom(id, state, record, settle);
    // closed while this read was on its way: no reader may start now
    if (this.stopper.signal.aborted) return settle({ error: this.closedError(id) });
    if (!this.host.options.events) return this.poll(id, settle, ended);
    const waiter: Waiter = { id, after: at, settle };
    registered.waiter = waiter;
    let set = this.waiting.get(id);
    if (!set) this.waiting.set(id, (set = new Set()));
    set.add(waiter);
    if (ended()) return this.remove(waiter);
    const reader = this.reader;
    if (!reader || reader.stopped) {
      this.startReader(at);
      return;
    }
    // The reader is past this read's position: what it handed on since comes from XRANGE.
    const position = reader.position;
    if (after(position, at)) {
      const entries = (await this.host.command(['XRANGE', this.host.keys.events, `(${at}`, position], 'reading events')) as Array<[string, string[]]>;
      this.dispatch(entries, waiter);
    }
  }

  private startReader(at: string): void {
    this.reader = new StreamReader(this.host.connection, this.host.keys.events, {
      after: at,
      blockMs: this.host.options.blockingTimeout * 1000,
      onEntries: (entries) => this.dispatch(entries),
      // A quiet stream or a reconnect: look at the waited-for IDs themselves,
      // in case their end is no longer in the stream (trimmed, or Redis lost it).
      onQuiet: () => this.recheck(),
      onReconnect: () => this.recheck(),
      onError: (err) => this.host.onError(err, 'reading events for waitForResult'),
    });
  }

  /** Hand events to their waiters (or only to `only`). */
  private dispatch(entries: Array<[string, string[]]>, only?: Waiter): void {
    for (const [eventId, all] of entries) for (const { name, id, fields } of splitEntry(all)) {
      if (name === 'obliterated') {
        for (const w of only ? [only] : [...this.waiting.values()].flatMap((s) => [...s])) {
          if (after(eventId, w.after)) w.settle({ error: new JobRemovedError(`queue ${this.host.name} was obliterated while waiting for job ${w.id}`) });
        }
        continue;
      }
      if (name !== 'completed' && name !== 'failed' && name !== 'removed') continue;
      const set = only ? (only.id === id ? [only] : []) : this.waiting.get(id);
      if (!set) continue;
      for (const w of [...set]) {
        if (!after(eventId, w.after)) continue;
        if (name === 'removed') w.settle({ error: new JobRemovedError(`job ${id} was removed while waiting for its result`) });
        else {
          const want = name === 'completed' ? 'result' : 'error';
          let value = 'null';
          for (let i = 4; i < fields.length; i += 2) if (fields[i] === want) value = fields[i + 1];
          w.settle({ record: (name === 'completed' ? 'r' : 'e') + value });
        }
      }
    }
    if (this.waiting.size === 0) void this.reader?.stop();
  }

  private remove(w: Waiter): void {
    const set = this.waiting.get(w.id);
    set?.delete(w);
    if (set?.size === 0) this.waiting.delete(w.id);
  }

  private recheck(): void {
    if (this.waiting.size === 0) {
      void this.reader?.stop();
      return;
    }
    for (const [id, set] of this.waiting) {
      this.check(id).then(
        ([state, record]) => {
          if (state !== 'waiting') for (const w of [...set]) this.settleFrom(id, state, record, w.settle);
        },
        (err: unknown) => this.host.onError(err, 'checking a waited-for job'),
      );
    }
  }

  private async check(id: string): Promise<[string, string | null, string]> {
    return (await this.host.run('waitResult', [id], 'reading a job for waitForResult')) as [string, string | null, string];
  }

  private settleFrom(id: string, state: string, record: string | null, settle: Waiter['settle']): void {
    if (state === 'done' && record !== null) settle({ record });
    else settle({ error: new JobRemovedError(`job ${id} is not in the queue and has no kept result (never added, removed, or its result is no longer kept)`) });
  }

  /** Without events: read the ID again, more and more slowly, until its run has ended. */
  private async poll(id: string, settle: Waiter['settle'], ended: () => boolean): Promise<void> {
    for (let ms = 20; !ended() && !this.stopper.signal.aborted; ms = Math.min(MAX_POLL_MS, ms * 2)) {
      await sleep(ms, this.stopper.signal);
      if (ended() || this.stopper.signal.aborted) break;
      const [state, record] = await this.check(id);
      if (state !== 'waiting') return this.settleFrom(id, state, record, settle);
    }
    if (!ended()) settle({ error: this.closedError(id) });
  }

  /** A kept record as the wait's outcome: the result, or a RemoteJobError. */
  private outcome(id: string, record: string): unknown {
    const body = record.slice(1);
    if (record[0] === 'r') return decodePayload(body, this.host.keys.results, id, this.host.options.encryption);
    const { name = 'Error', message, stack, code, cause, data } = parseRecord(body, this.host.keys.results, id, this.host.options.encryption);
    const remote = { name, message, stack, code, cause, data };
    for (const k of Object.keys(remote) as Array<keyof typeof remote>) if (remote[k] === undefined) delete remote[k];
    throw new RemoteJobError(message, remote, id);
  }

  private closedError(id: string): Error {
    return new QueueClosedError(`queue ${JSON.stringify(this.host.name)} closed while waiting for the result of job ${id}`);
  }

  /** close(): every wait rejects with a QueueClosedError; the reader stops. */
  async close(): Promise<void> {
    this.stopper.abort();
    for (const set of [...this.waiting.values()]) for (const w of [...set]) w.settle({ error: this.closedError(w.id) });
    await this.reader?.stop();
  }
}
