/**
 * The plumbing under a queue object: the host its worker, its jam guard and
 * its helpers (publish, manage, control, results, repeat) are given. Every
 * Redis call goes through run() or command() here: after the first
 * connection, within the command timeout, with a clear error. What the worker
 * reports becomes the queue's events and its plugins' hooks.
 */
import type { EventEmitter } from 'node:events';
import { ErrorReply, type RedisArgument } from 'redis';
import type { ActiveJob } from './job.js';
import { wrapError, type Connection } from './connection.js';
import { ForeignDataError } from './errors.js';
import { KEY_NAMES, KEY_TYPES, type QueueKeys } from './keys.js';
import type { ResolvedOptions } from './options.js';
import { eventSettings, runScript, scriptKeys, type ScriptKeys, type ScriptName, type ScriptReply } from './scripts.js';
import { callHooks, type HookName, type Plugin } from './hooks.js';
import { log } from './log.js';

/** The queue object a host serves: what it is, and the emitter of its events. */
export interface HostedQueue extends EventEmitter {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly options: ResolvedOptions;
  readonly connection: Connection;
}

export class QueueHost {
  readonly name: string;
  readonly keys: QueueKeys;
  readonly options: ResolvedOptions;
  readonly connection: Connection;
  private readonly scriptKeys: ScriptKeys;
  /** What the event-writing scripts are told of events and kept results (scripts.ts eventSettings). */
  private readonly settings: string;

  constructor(private readonly queue: HostedQueue) {
    this.name = queue.name;
    this.keys = queue.keys;
    this.options = queue.options;
    this.connection = queue.connection;
    this.scriptKeys = scriptKeys(this.keys);
    this.settings = eventSettings(this.options.events ? this.options.eventsMaxLen : 0, this.options.keepResults);
  }

  /** Run a script on this queue's keys, with our errors. */
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply> {
    return this.call(what, () => runScript(this.connection.client, name, this.scriptKeys, args, this.settings));
  }

  /** Send a plain command, with our errors. */
  command(args: string[], what: string): Promise<unknown> {
    return this.call(what, () => this.connection.send(args));
  }

  /** Every Redis call: after the first connection, within the command timeout, with a clear error. */
  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    if (!this.connection.connected) await this.connection.whenConnected(what);
    try {
      return await this.connection.bound(send(), what);
    } catch (err) {
      throw await this.explain(err, what);
    }
  }

  /** A clear error: ours for timeouts and closed connections, and the key named for foreign data. */
  private async explain(err: unknown, what: string): Promise<Error> {
    if (err instanceof ErrorReply && err.message.includes('WRONGTYPE')) {
      // our scripts name the key (lib/present.lua); a group's keys are not in the layout
      const named = /WRONGTYPE (\S+) (holds [^,]*?)(?:, convoy-queue keeps (.*?))?(?: script:|$)/.exec(err.message);
      const base = this.keys.queued.slice(0, -'queued'.length);
      if (named && named[1].startsWith(base)) return new ForeignDataError(named[1], named[3] ? `it ${named[2]}, convoy-queue keeps ${named[3]} there` : `it ${named[2]}`);
      try {
        const types = await this.connection.bound(Promise.all(KEY_NAMES.map((k) => this.connection.send(['TYPE', this.keys[k]]))), what);
        const i = KEY_NAMES.findIndex((k, n) => types[n] !== 'none' && types[n] !== KEY_TYPES[k]);
        if (i >= 0) {
          const k = KEY_NAMES[i];
          return new ForeignDataError(this.keys[k], `it is a ${String(types[i])}, convoy-queue keeps a ${KEY_TYPES[k]} there`);
        }
      } catch {
        // fall through to the plain error
      }
    }
    return wrapError(err, what);
  }

  /** Call a plugin hook (only queues with plugins get here). */
  hook<N extends HookName>(name: N, ...args: Parameters<NonNullable<Plugin[N]>>): void {
    callHooks(this.options.plugins, name, args, (err, what) => this.onError(err, what));
  }

  onStarted(job: ActiveJob): void {
    if (this.options.plugins.length) this.hook('onJobStart', job);
  }

  onCompleted(job: ActiveJob, result: unknown): void {
    this.queue.emit('completed', job, result);
    if (this.options.plugins.length) this.hook('onJobComplete', job, result);
  }

  onFailed(job: ActiveJob, err: Error): void {
    this.queue.emit('failed', job, err);
    if (this.options.plugins.length) this.hook('onJobFail', job, err);
  }

  onRetrying(job: ActiveJob, err: Error, delay: number): void {
    this.queue.emit('retrying', job, err, delay);
    if (this.options.plugins.length) this.hook('onJobRetry', job, err, delay);
  }

  onProgress(job: ActiveJob, value: unknown): void {
    this.queue.emit('progress', job, value);
    if (this.options.plugins.length) this.hook('onJobProgress', job, value);
  }

  onStalled(ids: string[]): void {
    this.queue.emit('stalled', ids);
    if (this.options.plugins.length) for (const id of ids) this.hook('onJobStalled', id);
  }

  /** Errors go to the queue's 'error' listeners; without one they are only logged, never thrown. */
  onError(err: unknown, what: string): void {
    const error = err instanceof Error ? err : new Error(String(err));
    log('%s: %s: %s', this.name, what, error.message);
    if (this.queue.listenerCount('error') > 0) this.queue.emit('error', error);
  }
}
