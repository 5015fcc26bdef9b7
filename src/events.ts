/**
 * Listening to a queue's event stream (the `events` key, a Redis Stream every
 * state-changing script appends to) from any process: createQueueEvents, and
 * the reader under it that waitForResult shares (src/results.ts).
 */
import { EventEmitter } from 'node:events';
import { Connection } from './connection.js';
import { decodePayload } from './job.js';
import { parseRecord, type JobErrorRecord } from './manage.js';
import { InvalidArgumentError, InvalidOptionError } from './errors.js';
import { queueKeys, type QueueKeys } from './keys.js';
import { checkKeys, resolveOptions, type QueueOptions, type ResolvedOptions } from './options.js';
import { backoff, describe, sleep } from './util.js';
import { log } from './log.js';

interface EventBase<N extends string> {
  event: N;
  /** the job's ID ('' for an event of the whole queue) */
  id: string;
  /** the stream entry's ID: give it as `from` to read on after this event */
  eventId: string;
}

/** The events of a queue's event stream, by name, as a listener gets them. */
export interface QueueEventMap {
  added: EventBase<'added'>;
  scheduled: EventBase<'scheduled'> & { delay: number };
  active: EventBase<'active'> & { attempt: number };
  progress: EventBase<'progress'> & { progress: unknown };
  /** `result` is there when the queue keeps results (keepResults) */
  completed: EventBase<'completed'> & { result?: unknown };
  retrying: EventBase<'retrying'> & { attempt: number; delay: number; error: JobErrorRecord };
  failed: EventBase<'failed'> & { attempt?: number; error: JobErrorRecord };
  /** a stalled run went back to the queue (or failed for good: a 'failed' event follows); `jammed`: the jam guard requeued it */
  stalled: EventBase<'stalled'> & { count?: number; jammed?: boolean };
  removed: EventBase<'removed'>;
  paused: EventBase<'paused'>;
  resumed: EventBase<'resumed'>;
  /** obliterate() deleted the queue: every job in it is gone */
  obliterated: EventBase<'obliterated'>;
}

export type QueueEventName = keyof QueueEventMap;
/** Any event of a queue's event stream. */
export type QueueEvent = QueueEventMap[QueueEventName];

const NUMBERS = new Set(['delay', 'attempt', 'count']);

/**
 * The events of one stream entry, as field lists: an entry holds the events of
 * one script call, in runs of one kind (`event <name>`, then each event's
 * fields from its `id`), so a batch of completions and the claims that follow
 * them are one XADD.
 */
export function splitEntry(fields: string[]): Array<{ name: string; id: string; fields: string[] }> {
  const out: Array<{ name: string; id: string; fields: string[] }> = [];
  let name = '';
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'event') {
      name = fields[i + 1];
      continue;
    }
    if (fields[i] === 'id') out.push({ name, id: fields[i + 1], fields: ['event', name] });
    out.at(-1)?.fields.push(fields[i], fields[i + 1]);
  }
  return out;
}

/** The events of one stream entry; values that cannot be read are left out, and `problem` says why. */
export function parseEvents(eventId: string, fields: string[], keys: QueueKeys, options: Pick<ResolvedOptions, 'encryption'>, problem: (err: unknown) => void): QueueEvent[] {
  return splitEntry(fields).map((e) => parseEvent(eventId, e.fields, keys, options, problem));
}

/** One event's fields as an event. */
function parseEvent(eventId: string, fields: string[], keys: QueueKeys, options: Pick<ResolvedOptions, 'encryption'>, problem: (err: unknown) => void): QueueEvent {
  const e: Record<string, unknown> = { eventId };
  for (let i = 0; i < fields.length; i += 2) {
    const [f, v] = [fields[i], fields[i + 1]];
    if (NUMBERS.has(f)) e[f] = Number(v);
    else if (f === 'error') e.error = parseRecord(v, keys.failinfo, String(e.id), options.encryption);
    else if (f === 'result' || f === 'progress') {
      try {
        e[f] = decodePayload(v, f === 'result' ? keys.results : keys.progress, String(e.id), options.encryption);
      } catch (err) {
        problem(err);
      }
    } else if (f === 'jammed') e.jammed = v === '1';
    else e[f] = v;
  }
  return e as unknown as QueueEvent;
}

/** Most entries per read. */
const BATCH = 1000;

export interface ReaderOptions {
  /** entry ID to read after */
  after: string;
  /** ms a read blocks before it ends with none */
  blockMs: number;
  onEntries(entries: Array<[string, string[]]>): void;
  /** a read ended with no entry (the stream was quiet for blockMs) */
  onQuiet?(): void;
  /** reading works again after errors: events may have been lost if the stream was lost */
  onReconnect?(): void;
  onError(err: unknown): void;
}

/**
 * Reads a stream from a position for ever, on a blocking connection of its
 * own: after an error it backs off and reads again from the entry after the
 * last one it handed on, so across reconnects (and a Redis restart that kept
 * the stream) no entry is lost or handed on twice.
 */
export class StreamReader {
  /** The last entry handed on. */
  position: string;
  private readonly stopper = new AbortController();
  readonly done: Promise<void>;

  constructor(
    private readonly connection: Connection,
    private readonly key: string,
    private readonly options: ReaderOptions,
  ) {
    this.position = options.after;
    this.done = this.loop();
  }

  get stopped(): boolean {
    return this.stopper.signal.aborted;
  }

  stop(): Promise<void> {
    this.stopper.abort();
    return this.done;
  }

  private async loop(): Promise<void> {
    const { signal } = this.stopper;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const entries = await this.connection.readStream(this.key, this.position, this.options.blockMs, BATCH, signal);
        if (signal.aborted) break;
        if (failures > 0) {
          failures = 0;
          this.options.onReconnect?.();
        }
        if (entries.length === 0) {
          this.options.onQuiet?.();
          continue;
        }
        this.position = entries[entries.length - 1][0];
        this.options.onEntries(entries);
      } catch (err) {
        if (signal.aborted) break;
        this.options.onError(err);
        await sleep(backoff(failures++), signal);
      }
    }
  }
}

/** The last entry ID of a stream, or '0-0' when it has none. */
export async function streamEnd(connection: Connection, key: string): Promise<string> {
  const last = (await connection.bound(connection.send(['XREVRANGE', key, '+', '-', 'COUNT', '1']), 'reading the event stream')) as Array<[string]>;
  return last[0]?.[0] ?? '0-0';
}

/** Options of createQueueEvents: where the queue is, and where to start. */
export interface QueueEventsOptions extends Pick<QueueOptions, 'redis' | 'prefix' | 'commandTimeout' | 'blockingTimeout' | 'encryption'> {
  /** `'$'`: events after the listener starts (default); else an event ID to read after (`'0'`: all the stream keeps). */
  from?: string;
}

const EVENTS_OPTIONS = ['redis', 'prefix', 'commandTimeout', 'blockingTimeout', 'encryption', 'from'] as const;

type Listener<E extends QueueEventName | 'event'> = (event: E extends QueueEventName ? QueueEventMap[E] : QueueEvent) => void;

/**
 * The typed listener methods of a QueueEventStream: each event name gets its
 * event; 'event' gets every event; 'error' the errors of reading (it goes on).
 */
export interface QueueEventStream {
  on<E extends QueueEventName | 'event'>(event: E, listener: Listener<E>): this;
  on(event: 'error', listener: (err: Error) => void): this;
  once<E extends QueueEventName | 'event'>(event: E, listener: Listener<E>): this;
  once(event: 'error', listener: (err: Error) => void): this;
  off<E extends QueueEventName | 'event'>(event: E, listener: Listener<E>): this;
  off(event: 'error', listener: (err: Error) => void): this;
}

/**
 * A listener to a queue's events, from any process: an EventEmitter
 * (`on('completed', (e) => …)`, `on('event', …)` for all) and an async
 * iterator (`for await (const e of events)`). See createQueueEvents.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class QueueEventStream extends EventEmitter implements AsyncIterable<QueueEvent> {
  readonly name: string;
  readonly keys: QueueKeys;
  /** Resolves once the listener reads: from then on, no event is missed. */
  readonly ready: Promise<void>;
  private readonly connection: Connection;
  private readonly options: ResolvedOptions;
  private reader?: StreamReader;
  private closed = false;
  private readonly iterators = new Set<(e: QueueEvent | null) => void>();
  private readonly stopper = new AbortController();

  constructor(name: string, opts: QueueEventsOptions = {}) {
    super();
    if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new InvalidArgumentError(`createQueueEvents takes an options object, got ${describe(opts)}`);
    checkKeys('createQueueEvents option', opts, EVENTS_OPTIONS);
    const { from = '$', ...rest } = opts;
    if (typeof from !== 'string' || !/^(\$|\d+(-\d+)?)$/.test(from)) throw new InvalidOptionError(`createQueueEvents option \`from\` must be '$' or an event ID ('1700000000000-0'), got ${describe(from)}`);
    const resolved = resolveOptions(name, rest);
    this.name = resolved.name;
    this.options = resolved.options;
    this.keys = queueKeys(this.options.prefix, this.name);
    this.connection = Connection.acquire(this.options.redis, this.options.commandTimeout);
    this.connection.on('error', this.onConnectionError);
    this.ready = this.start(from);
    this.ready.catch(() => undefined);
  }

  private readonly onConnectionError = (err: Error) => this.report(err);

  private async start(from: string): Promise<void> {
    let after = from;
    for (let failures = 0; after === '$'; ) {
      if (this.closed) return;
      try {
        if (!this.connection.connected) await this.connection.whenConnected('reading the event stream');
        after = await streamEnd(this.connection, this.keys.events);
      } catch (err) {
        this.report(err);
        await sleep(backoff(failures++), this.stopper.signal);
      }
    }
    if (this.closed) return;
    this.reader = new StreamReader(this.connection, this.keys.events, {
      after,
      blockMs: this.options.blockingTimeout * 1000,
      onEntries: (entries) => {
        for (const [eventId, fields] of entries) {
          for (const event of parseEvents(eventId, fields, this.keys, this.options, (err) => this.report(err))) {
            if (this.closed) return;
            this.emit(event.event, event);
            this.emit('event', event);
            for (const push of this.iterators) push(event);
          }
        }
      },
      onError: (err) => this.report(err),
    });
  }

  private report(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    log('%s events: %s', this.name, error.message);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /** The last event ID delivered (or the position it started after). */
  get position(): string | undefined {
    return this.reader?.position;
  }

  /** Events as they come, until close(); each iterator gets every event from when it starts. */
  [Symbol.asyncIterator](): AsyncIterator<QueueEvent> {
    const buffer: QueueEvent[] = [];
    let wake: (() => void) | undefined;
    let ended = this.closed;
    const push = (e: QueueEvent | null) => {
      // close() ends the iteration at once: what it had not yet taken is dropped
      if (e === null) [ended, buffer.length] = [true, 0];
      else buffer.push(e);
      wake?.();
    };
    this.iterators.add(push);
    const finish = () => {
      this.iterators.delete(push);
      ended = true;
      return Promise.resolve({ value: undefined, done: true as const });
    };
    return {
      next: async () => {
        while (buffer.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        if (buffer.length > 0) return { value: buffer.shift()!, done: false };
        return finish();
      },
      return: finish,
    };
  }

  /** Stop listening and let go of the connection; iterators end. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopper.abort();
    for (const push of this.iterators) push(null);
    this.iterators.clear();
    await this.ready;
    await this.reader?.stop();
    this.connection.off('error', this.onConnectionError);
    await this.connection.release();
  }
}

/**
 * Listen to the events of queue `name` from any process, on a blocking
 * connection of its own: from `'$'` (events after it starts; await `ready`
 * to be sure it has) or after a given event ID (`from`). It reconnects by
 * itself and goes on after the last event it delivered, so no event the
 * stream still keeps (about `eventsMaxLen`) is lost or delivered twice.
 */
export function createQueueEvents(name: string, options?: QueueEventsOptions): QueueEventStream {
  return new QueueEventStream(name, options);
}
