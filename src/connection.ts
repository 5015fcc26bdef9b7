/**
 * Connections to Redis: one command client per Redis config, shared by every
 * queue object of the process that uses that config (reference counted), and a
 * generic-pool of extra connections for the blocking waits of idle workers.
 */
import { EventEmitter } from 'node:events';
import {
  ClientClosedError,
  createClient,
  createCluster,
  ErrorReply,
  type RedisClientOptions,
  type RedisClusterOptions,
} from 'redis';
import genericPool, { type Pool } from 'generic-pool';
import { ConnectionError, ConvoyError } from './errors.js';
import { scriptDefinitions, type ScriptRunner } from './scripts.js';
import type { RedisConfig } from './options.js';
import { log } from './log.js';
import { MAX_TIMER_MS, backoff, sleep } from './util.js';

/** The part of a node-redis client or cluster this library uses. */
export interface RedisHandle extends ScriptRunner {
  connect(): Promise<unknown>;
  destroy(): void;
  close(): Promise<void>;
  duplicate(overrides?: object): RedisHandle;
  readonly options?: unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  sendCommand(...args: unknown[]): Promise<unknown>;
  blPop(key: string, timeout: number): Promise<unknown>;
  readonly isReady: boolean;
  /** cluster only */
  readonly masters?: unknown[];
  nodeClient?(node: unknown): Promise<RedisHandle>;
  [command: string]: unknown;
}

function isCluster(config: RedisConfig): config is { cluster: RedisClusterOptions } {
  return typeof config === 'object' && config !== null && 'cluster' in config;
}

/**
 * The command client. Its offline queue is off: a call made while Redis is
 * unreachable fails at once instead of waiting to run when Redis is back, long
 * after its caller gave up on it (a claim nobody would read, a retried write).
 * node-redis's default per-command timeout is off too (unless the config sets
 * one): the Watchdog bounds every call, and that timer per command cost about
 * a tenth of the client's time per job.
 */
function createHandle(config: RedisConfig): RedisHandle {
  if (isCluster(config)) {
    const defaults = { ...config.cluster.defaults, disableOfflineQueue: true };
    const commandOptions = { timeout: 0, ...config.cluster.commandOptions };
    return createCluster({ ...config.cluster, defaults, commandOptions, scripts: scriptDefinitions }) as unknown as RedisHandle;
  }
  const options: RedisClientOptions = typeof config === 'string' ? { url: config } : config;
  const commandOptions = { timeout: 0, ...options.commandOptions };
  return createClient({ ...options, commandOptions, disableOfflineQueue: true, scripts: scriptDefinitions }) as unknown as RedisHandle;
}

/**
 * Queue objects share a connection when their configs are equal: a URL, or
 * options that are plain data. Options holding functions are compared by identity.
 */
function configKey(config: RedisConfig, commandTimeout: number): unknown {
  try {
    return JSON.stringify([config, commandTimeout], (_k, v: unknown) => {
      if (typeof v === 'function') throw new TypeError('not plain data');
      return v;
    });
  } catch {
    return config;
  }
}

/**
 * Bounds every Redis call in time. node-redis's own command timeout stops
 * counting once a command is written, so a frozen server or a silent network
 * would hang the caller for ever. One coarse timer per connection checks the
 * calls in flight, instead of a timer per call on the hot path.
 */
class Watchdog {
  private readonly calls = new Set<{ at: number; fail(): void }>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly period: number) {}

  /** Reject with a ConnectionError when `promise` has not settled within `ms` (give or take the period). */
  bound<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call = {
        at: Date.now() + ms,
        fail: () => reject(new ConnectionError(`${what}: Redis did not answer within ${ms} ms`)),
      };
      this.calls.add(call);
      this.timer ??= setInterval(() => this.check(), this.period).unref();
      promise.then(
        (value) => {
          this.calls.delete(call);
          resolve(value);
        },
        (err: unknown) => {
          this.calls.delete(call);
          reject(err);
        },
      );
    });
  }

  private check(): void {
    const now = Date.now();
    for (const call of this.calls) {
      if (call.at <= now) {
        this.calls.delete(call);
        call.fail();
      }
    }
    if (this.calls.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** Turn node-redis's errors into ours: a clear message, never an empty one. */
export function wrapError(err: unknown, what: string): Error {
  if (err instanceof ConvoyError || err instanceof ErrorReply) return err as Error;
  const e = err as Error;
  if (err instanceof ClientClosedError) return new ConnectionError(`${what}: the connection is closed`, { cause: e });
  return new ConnectionError(`${what}: ${e?.message || String(e)}`, { cause: e });
}

export class Connection extends EventEmitter {
  /** The command client; callers bound each call with `bound`. */
  readonly client: RedisHandle;
  /** Warnings about the server found on connect, told to each queue that attaches. */
  readonly warnings: string[] = [];
  readonly ready: Promise<void>;
  private readonly pool: Pool<RedisHandle>;
  private readonly watchdog: Watchdog;
  private readonly cluster: boolean;
  private refs = 0;
  /** The first connection is made (a cluster takes no commands before). */
  connected = false;
  private lastError?: Error;
  /** Blocking connections that failed to connect in a row: their retries back off. */
  private createFailures = 0;
  private readonly closed = new AbortController();

  private constructor(
    private readonly key: unknown,
    private readonly config: RedisConfig,
    readonly commandTimeout: number,
  ) {
    super();
    // Every queue object on this config listens here.
    this.setMaxListeners(0);
    this.cluster = isCluster(config);
    this.watchdog = new Watchdog(Math.max(10, Math.min(250, commandTimeout / 10)));
    this.client = createHandle(config);
    const forward = (err: Error) => {
      this.lastError = err;
      // after the last queue let go (a socket closing late), nobody listens: never throw
      if (this.listenerCount('error') > 0) this.emit('error', wrapError(err, 'redis connection'));
      else log('redis connection: %s', err.message);
    };
    this.client.on('error', forward);
    if (this.cluster) this.client.on('node-error' as 'error', forward);
    this.pool = genericPool.createPool<RedisHandle>(
      {
        create: async () => {
          // A blocking connection does not retry on its own, and the pool asks
          // again at once while an acquire waits: back off between failures.
          if (this.createFailures > 0) await sleep(backoff(this.createFailures - 1), this.closed.signal);
          if (this.closed.signal.aborted) throw new ConnectionError('the connection is closed');
          const c = this.client.duplicate(this.blockingOverrides());
          c.on('error', (err) => log('blocking connection: %s', err.message));
          try {
            await c.connect();
          } catch (err) {
            this.createFailures++;
            try {
              c.destroy();
            } catch {
              // never connected: nothing to close
            }
            throw err;
          }
          this.createFailures = 0;
          return c;
        },
        destroy: async (c) => c.destroy(),
        validate: async (c) => c.isReady,
      },
      { max: 1000, min: 0, testOnBorrow: true, acquireTimeoutMillis: commandTimeout },
    );
    this.ready = this.connect();
    this.ready.catch(() => undefined);
  }

  private static shared = new Map<unknown, Connection>();

  /** The shared connection for a config, created on first use. */
  static acquire(config: RedisConfig, commandTimeout: number): Connection {
    const key = configKey(config, commandTimeout);
    let conn = Connection.shared.get(key);
    if (!conn) {
      conn = new Connection(key, config, commandTimeout);
      Connection.shared.set(key, conn);
    }
    conn.refs++;
    return conn;
  }

  /** Options for a blocking connection: no retries of its own, and on a cluster only the nodes it needs. */
  private blockingOverrides(): object {
    if (isCluster(this.config)) {
      const defaults = this.config.cluster.defaults ?? {};
      return { minimizeConnections: true, defaults: { ...defaults, socket: { ...defaults.socket, reconnectStrategy: false } } };
    }
    const socket = (this.client.options as { socket?: object } | undefined)?.socket;
    return { socket: { ...socket, reconnectStrategy: false } };
  }

  /**
   * Wait for the first connection, but no longer than the command timeout. A
   * refused login fails at once: retrying will not fix a wrong password.
   */
  async whenConnected(what: string): Promise<void> {
    const refused = () => {
      const last = this.lastError;
      if (last && /WRONGPASS|NOAUTH|NOPERM|invalid password/i.test(last.message)) {
        return new ConnectionError(`${what}: Redis refused the login: ${last.message}`, { cause: last });
      }
      return undefined;
    };
    const early = refused();
    if (early) throw early;
    let timer: NodeJS.Timeout | undefined;
    let onError = () => undefined as void;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const cause = this.lastError ? `: ${this.lastError.message}` : '';
        reject(new ConnectionError(`${what}: could not connect to Redis within ${this.commandTimeout} ms${cause}`));
      }, this.commandTimeout);
      onError = () => {
        const err = refused();
        if (err) reject(err);
      };
      this.on('error', onError);
    });
    try {
      await Promise.race([this.ready, timeout]);
    } catch (err) {
      throw wrapError(err, what);
    } finally {
      clearTimeout(timer);
      this.off('error', onError);
    }
  }

  private async connect(): Promise<void> {
    await this.client.connect();
    this.connected = true;
    this.lastError = undefined;
    try {
      const nodes = this.cluster
        ? await Promise.all((this.client.masters ?? []).map((m) => this.client.nodeClient!(m)))
        : [this.client];
      for (const node of nodes) {
        const info = String(await this.bound(node.sendCommand(['INFO', 'memory']), 'INFO memory'));
        const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
        if (policy && policy !== 'noeviction') {
          const message = `Redis maxmemory-policy is ${policy}: under memory pressure Redis will delete keys, and jobs with them; set it to noeviction`;
          this.warnings.push(message);
          log('warning: %s', message);
          break;
        }
      }
    } catch (err) {
      log('could not read INFO memory: %s', (err as Error).message);
    }
  }

  /** Reject with a ConnectionError when `promise` has not settled within the command timeout. */
  bound<T>(promise: Promise<T>, what: string): Promise<T> {
    return this.watchdog.bound(promise, this.commandTimeout, what);
  }

  /** Send a plain command whose first argument after the name is its key. */
  send(args: string[]): Promise<unknown> {
    return this.cluster ? this.client.sendCommand(args[1], false, args) : this.client.sendCommand(args);
  }

  /**
   * Block until the list `key` has an element (popping it) or `seconds` pass, on
   * a pooled connection of its own. Resolves the element (a wake-up marker), or
   * null when none came. An abort
   * drops the connection, so the wait ends at once.
   */
  async waitPop(key: string, seconds: number, signal: AbortSignal, due?: { ms: number; onLateMarker(marker: string): void; early?: Promise<void> }): Promise<string | null> {
    if (signal.aborted) return null;
    const acquiring = this.pool.acquire();
    let onStop = () => undefined as void;
    const stopped = new Promise<null>((resolve) => {
      onStop = () => resolve(null);
      signal.addEventListener('abort', onStop, { once: true });
    });
    let c: RedisHandle | null;
    try {
      c = await Promise.race([acquiring, stopped]);
    } catch (err) {
      throw wrapError(err, 'waiting for jobs');
    } finally {
      signal.removeEventListener('abort', onStop);
    }
    if (c === null) {
      // Stopped while the pool was still connecting: hand the connection back when it comes.
      acquiring.then((late) => this.pool.release(late)).catch(() => undefined);
      return null;
    }
    const conn = c;
    const { drop, settled } = this.lease(conn, signal);
    const popping = this.watchdog.bound(conn.blPop(key, seconds) as Promise<{ element: string } | null>, seconds * 1000 + this.commandTimeout, 'waiting for jobs');
    let timer: NodeJS.Timeout | undefined;
    try {
      // Redis ends short blocking waits coarsely (every 100 ms at its default
      // hz): a job due sooner than the wait's end is woken for by our own timer.
      // `early` ends the wait too (the worker learned of an earlier due time).
      const first = due
        ? await Promise.race([
            popping,
            new Promise<'due'>((r) => {
              if (due.ms < MAX_TIMER_MS) timer = setTimeout(() => r('due'), due.ms);
              void due.early?.then(() => r('due'));
            }),
          ])
        : await popping;
      if (first === 'due') {
        // The wait ends by itself a moment later; a marker it takes is passed on.
        popping.then((reply) => reply !== null && due!.onLateMarker(reply.element), drop).finally(settled);
        return null;
      }
      settled();
      return first === null ? null : first.element;
    } catch (err) {
      if (signal.aborted) return null;
      drop();
      settled();
      throw wrapError(err, 'waiting for jobs');
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * XREAD BLOCK: the entries of the stream `key` after the entry ID `after`,
   * up to `count`, waiting up to `ms` for the first, on a pooled connection of
   * its own. Resolves the raw entries ([id, [field, value, ...]] each), empty
   * when none came. An abort drops the connection, so the wait ends at once
   * (resolving none); an error drops it too, so the next read connects afresh.
   */
  async readStream(key: string, after: string, ms: number, count: number, signal: AbortSignal): Promise<Array<[string, string[]]>> {
    if (signal.aborted) return [];
    let c: RedisHandle;
    try {
      c = await this.pool.acquire();
    } catch (err) {
      throw wrapError(err, 'reading events');
    }
    if (signal.aborted) {
      void this.pool.release(c).catch(() => undefined);
      return [];
    }
    const { drop, settled } = this.lease(c, signal);
    const args = ['XREAD', 'COUNT', String(count), 'BLOCK', String(ms), 'STREAMS', key, after];
    try {
      const sent = this.cluster ? c.sendCommand(key, true, args) : c.sendCommand(args);
      const reply = (await this.watchdog.bound(sent, ms + this.commandTimeout, 'reading events')) as unknown;
      // node-redis gives XREAD's streams as an object by key (or a Map, or RESP2's array of pairs)
      if (reply === null || reply === undefined) return [];
      const entries = Array.isArray(reply) ? (reply[0] as [string, unknown])?.[1] : reply instanceof Map ? reply.get(key) : (reply as Record<string, unknown>)[key];
      return (entries ?? []) as Array<[string, string[]]>;
    } catch (err) {
      if (signal.aborted) return [];
      drop();
      throw wrapError(err, 'reading events');
    } finally {
      settled();
    }
  }

  /**
   * A pooled blocking connection held for one wait: an abort (or `drop`, after
   * an error) destroys it, so the wait ends at once and no broken connection
   * goes back; `settled` gives it back to the pool otherwise. Both run once.
   */
  private lease(conn: RedisHandle, signal: AbortSignal): { drop(): void; settled(): void } {
    let dropped = false;
    let done = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      void this.pool.destroy(conn).catch(() => undefined);
    };
    signal.addEventListener('abort', drop, { once: true });
    const settled = () => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', drop);
      if (!dropped) void this.pool.release(conn).catch(() => undefined);
    };
    return { drop, settled };
  }

  /** Drop one reference; the last one closes the client and the pool. */
  async release(): Promise<void> {
    if (--this.refs > 0) return;
    if (Connection.shared.get(this.key) === this) Connection.shared.delete(this.key);
    this.closed.abort();
    await this.pool.drain();
    await this.pool.clear();
    const destroy = () => {
      try {
        this.client.destroy();
      } catch {
        // already closed
      }
    };
    try {
      if (this.client.isReady) await this.client.close();
      else {
        destroy();
        // a cluster still making its first connection goes on to open its
        // node clients after a destroy: close again once it is done
        if (!this.connected) void this.ready.then(destroy, destroy);
      }
    } catch {
      destroy();
    }
  }
}
