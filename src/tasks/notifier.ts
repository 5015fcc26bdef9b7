/**
 * The notifier (Ivy's word): how a task's outcome gets from the consumer to
 * every producer waiting for it, over Redis pub/sub, with a kept record of the
 * outcome as the fallback for a missed message.
 *
 * One channel per call ID (`<prefix>:{<queue>}:notify:<id>`): a producer
 * subscribes to it BEFORE it adds the job, and the consumer publishes once the
 * run's outcome is written. So whichever run a call joins (the one waiting,
 * the one processing, or a new one), its outcome is published after the
 * producer listens: no notification is lost while the subscriber is
 * connected, one PUBLISH serves every producer of an ID, and nothing is
 * written before the call is checked. What the subscriber misses (a dropped
 * connection, a failover) the kept record answers: the producer reads it when
 * its subscriber is back, and every `fallbackInterval` ms while calls wait.
 *
 * The record is a hash `<prefix>:{<queue>}:task:<id>` (o: the outcome JSON,
 * at: when it was written, Redis clock ms, d: '1' once a producer got it),
 * kept for RESULT_TTL seconds. It lives beside the queue's keys (same hash tag)
 * but is the tasks layer's own: the core knows nothing of it.
 */
import { createClient, createCluster, defineScript, type RedisClientOptions } from 'redis';
import type { RedisConfig, RemoteErrorInfo } from '../index.js';

/** How long an outcome is kept for the fallback and for status() (seconds). */
export const RESULT_TTL = 3600;

/** What a run ended with: its result, or its error (as data). */
export type Outcome = { r?: unknown } | { e: RemoteError };

/** An error as it crosses Redis: what a producer's RemoteJobError carries as `.remote`. */
export type RemoteError = RemoteErrorInfo;

const scripts = {
  // Keep the outcome and publish it, in one step: a producer that misses the
  // message finds the record.
  taskPublish: script(
    `local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'o', ARGV[2], 'at', tostring(t[1] * 1000 + math.floor(t[2] / 1000)))
redis.call('HDEL', KEYS[1], 'd')
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.call('PUBLISH', ARGV[1], ARGV[2])`,
  ),
  // The Redis clock, then each record's outcome and time.
  taskCheck: script(
    `local t = redis.call('TIME')
local out = { tostring(t[1] * 1000 + math.floor(t[2] / 1000)) }
for i = 1, #KEYS do
  local r = redis.call('HMGET', KEYS[i], 'o', 'at')
  out[#out + 1] = r[1] or ''
  out[#out + 1] = r[2] or ''
end
return out`,
  ),
  // A producer got the outcome: status() says 'done' (only while the record is kept).
  taskDone: script(`if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'd', '1') end return 0`),
};

function script(SCRIPT: string) {
  return defineScript({
    SCRIPT,
    // numkeys pushed below: taskCheck takes any number of keys
    parseCommand(parser, keys: readonly string[], args: readonly string[]) {
      parser.push(String(keys.length));
      for (const k of keys) parser.pushKey(k);
      for (const a of args) parser.push(a);
    },
    transformReply: (reply: unknown) => reply as never,
  });
}

type ScriptCall = (keys: readonly string[], args: readonly string[]) => Promise<unknown>;
type Listener = (message: string) => void;

/** The part of a node-redis client or cluster used here. */
interface Handle {
  connect(): Promise<unknown>;
  destroy(): void;
  duplicate(): Handle;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  subscribe(channel: string, listener: Listener): Promise<void>;
  unsubscribe(channel: string, listener: Listener): Promise<void>;
  hmGet(key: string, fields: string[]): Promise<Array<string | null>>;
  taskPublish: ScriptCall;
  taskCheck: ScriptCall;
  taskDone: ScriptCall;
}

export class Notifier {
  private client?: Promise<Handle>;
  private subscriber?: Promise<Handle>;
  /** Redis clock minus local clock (ms), from the last reply that told the time. */
  private offset = 0;

  constructor(
    private readonly redis: RedisConfig,
    /** `<prefix>:{<queue>}` */
    private readonly base: string,
    private readonly onError: (err: Error, what: string) => void,
    /** the subscriber connected again: messages may have been missed */
    private readonly onReconnect: () => void,
  ) {}

  /** Now, by the Redis clock (as well as the last check could tell). */
  redisNow(): number {
    return Date.now() + this.offset;
  }

  private record(id: string): string {
    return `${this.base}:task:${id}`;
  }

  private channel(id: string): string {
    return `${this.base}:notify:${id}`;
  }

  /** The command connection, made on first use. */
  private commands(): Promise<Handle> {
    this.client ??= (async () => {
      const handle = open(this.redis, (err) => this.onError(err, 'the notifier connection'));
      await handle.connect();
      await this.read(handle, []).catch(() => undefined); // learns the clock offset
      return handle;
    })();
    return this.client;
  }

  /**
   * The subscriber connection; a cluster subscribes through a pub/sub node
   * client of its own. When it connects again it may have missed messages.
   */
  private subscriptions(): Promise<Handle> {
    this.subscriber ??= (async () => {
      if (isCluster(this.redis)) {
        const cluster = await this.commands();
        cluster.on('node-ready', () => this.onReconnect());
        return cluster;
      }
      const handle = open(this.redis, (err) => this.onError(err, 'the notifier subscriber'));
      let connected = false;
      handle.on('ready', () => {
        if (connected) this.onReconnect();
        connected = true;
      });
      await handle.connect();
      return handle;
    })();
    return this.subscriber;
  }

  /** Listen for the outcome of `id`; resolves once subscribed, with the function that stops listening. */
  async watch(id: string, listener: (outcome: Outcome) => void): Promise<() => Promise<void>> {
    const sub = await this.subscriptions();
    const channel = this.channel(id);
    const onMessage = (message: string) => listener(JSON.parse(message) as Outcome);
    await sub.subscribe(channel, onMessage);
    return () => sub.unsubscribe(channel, onMessage);
  }

  /** Consumer: keep the outcome of `id` and publish it to the producers waiting. */
  async publish(id: string, outcome: Outcome): Promise<void> {
    const c = await this.commands();
    await c.taskPublish([this.record(id)], [this.channel(id), encodeOutcome(outcome), String(RESULT_TTL)]);
  }

  /** Producer fallback: the kept outcomes of `ids`, with when each was written (Redis clock ms). */
  async check(ids: readonly string[]): Promise<Map<string, { outcome: Outcome; at: number }>> {
    return this.read(await this.commands(), ids);
  }

  private async read(c: Handle, ids: readonly string[]): Promise<Map<string, { outcome: Outcome; at: number }>> {
    const asked = Date.now();
    const reply = (await c.taskCheck(ids.map((id) => this.record(id)), [])) as string[];
    this.offset = Number(reply[0]) - Math.round((asked + Date.now()) / 2);
    const found = new Map<string, { outcome: Outcome; at: number }>();
    ids.forEach((id, i) => {
      const [o, at] = [reply[1 + 2 * i], reply[2 + 2 * i]];
      if (o) found.set(id, { outcome: JSON.parse(o) as Outcome, at: Number(at) });
    });
    return found;
  }

  /** A producer got the outcome of `id`. */
  async markDone(id: string): Promise<void> {
    const c = await this.commands();
    await c.taskDone([this.record(id)], []);
  }

  /** What is kept for `id`: whether it ended with an error, and whether a producer got it; null when nothing is kept. */
  async kept(id: string): Promise<{ failed: boolean; done: boolean } | null> {
    const c = await this.commands();
    const [o, d] = await c.hmGet(this.record(id), ['o', 'd']);
    if (o === null) return null;
    return { failed: 'e' in (JSON.parse(o) as Outcome), done: d === '1' };
  }

  async close(): Promise<void> {
    const handles = await Promise.allSettled([this.client, this.subscriber].filter(Boolean) as Promise<Handle>[]);
    for (const h of new Set(handles.map((r) => (r.status === 'fulfilled' ? r.value : undefined)))) h?.destroy();
  }
}

/** The outcome as JSON; a result JSON cannot write becomes an error, so the producer still hears of it. */
function encodeOutcome(outcome: Outcome): string {
  try {
    return JSON.stringify(outcome);
  } catch (err) {
    return JSON.stringify({ e: remoteError(new TypeError(`the task's result cannot be written as JSON: ${(err as Error).message}`)) });
  }
}

/** An error as data: name, message, stack, code and cause (an Error cause as data too, three deep). */
export function remoteError(err: unknown, depth = 0): RemoteError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const e = err as Error & { code?: unknown };
  const out: RemoteError = { name: e.name, message: e.message };
  if (e.stack !== undefined) out.stack = e.stack;
  if (e.code !== undefined) out.code = e.code;
  if (e.cause !== undefined) out.cause = e.cause instanceof Error && depth < 3 ? remoteError(e.cause, depth + 1) : jsonOrString(e.cause);
  return out;
}

function jsonOrString(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return String(value);
  }
}

function isCluster(config: RedisConfig): boolean {
  return typeof config === 'object' && config !== null && 'cluster' in config;
}

/** A connection of our own, from the queue's redis config, with the scripts above. */
function open(config: RedisConfig, onError: (err: Error) => void): Handle {
  const handle = (
    isCluster(config)
      ? createCluster({ ...(config as { cluster: Parameters<typeof createCluster>[0] }).cluster, scripts })
      : createClient({ ...(typeof config === 'string' ? { url: config } : (config as RedisClientOptions)), scripts })
  ) as unknown as Handle;
  handle.on('error', (err) => onError(err as Error));
  return handle;
}
