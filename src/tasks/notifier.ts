/**
 * The notifier (Ivy's word): how a task's outcome gets from the consumer to
 * every producer waiting for it, over Redis pub/sub, with the core queue's
 * kept result (keepResults) as the fallback for a missed message.
 *
 * Each producer (TaskQueue object) has one channel,
 * `<prefix>:{<queue>}:producer:<random id>`, subscribed once before its first
 * call and kept until close(). A call registers its producer for its job ID
 * in the set `<prefix>:{<queue>}:callers:<id>`; when a run ends, the consumer
 * reads that set, publishes the outcome to each channel in it and deletes it,
 * in one script. Whether a message reached anyone is kept in
 * `<prefix>:{<queue>}:done:<id>` (when, Redis clock ms) for status() 'done'.
 * These keys live beside the queue's (same hash tag) but are the tasks
 * layer's own: the core knows nothing of them.
 *
 * On a cluster the channels are sharded (SSUBSCRIBE / SPUBLISH, Redis 7): a
 * channel lives on the master of the queue's slot, where the script runs, so
 * the count SPUBLISH returns is the real one (a plain PUBLISH only counts the
 * subscribers of the node it ran on) and messages do not cross the cluster bus.
 */
import { randomBytes } from 'node:crypto';
import { createClient, createCluster, defineScript, type RedisClientOptions } from 'redis';
import { describeError, type RedisConfig, type RemoteErrorInfo } from '../index.js';

/** How long a callers set outlives the last call that joined it (seconds): a run that never ends leaves nothing for ever. */
const CALLERS_TTL = 86_400;

/** What a run ended with: its result, or its error (as data). */
export type Outcome = { r?: unknown } | { e: RemoteError };

/** An error as it crosses Redis: what a producer's RemoteJobError carries as `.remote`. */
export type RemoteError = RemoteErrorInfo;

const scripts = {
  // Register a caller; replies the Redis clock (ms), for the caller's "since".
  taskJoin: script(
    `redis.call('SADD', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local t = redis.call('TIME')
return t[1] * 1000 + math.floor(t[2] / 1000)`,
  ),
  // A run ended: its message to every caller registered, in the step that
  // forgets them; a message someone got marks the ID done (at this time).
  taskNotify: script(
    `local n = 0
for _, channel in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  n = n + redis.call(ARGV[1], channel, ARGV[2])
end
redis.call('DEL', KEYS[1])
if n > 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], tostring(t[1] * 1000 + math.floor(t[2] / 1000)), 'EX', ARGV[3])
end
return n`,
  ),
};

function script(SCRIPT: string) {
  return defineScript({
    SCRIPT,
    // numkeys pushed below: the number of keys is the script's own
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
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  subscribe(channel: string, listener: Listener): Promise<void>;
  sSubscribe(channel: string, listener: Listener): Promise<void>;
  sRem(key: string, member: string): Promise<unknown>;
  set(key: string, value: string, options: { EX: number }): Promise<unknown>;
  get(key: string): Promise<string | null>;
  taskJoin: ScriptCall;
  taskNotify: ScriptCall;
}

/** A message: the ID, and its outcome unless the queue encrypts what it keeps (then the producer reads the kept result). */
export type Message = [id: string, outcome?: Outcome];

export class Notifier {
  /** This producer's channel. */
  readonly channel: string;
  /** The name of this notifier's connections (CLIENT LIST), unless the redis config names them. */
  readonly clientName: string;
  private readonly cluster: boolean;
  private readonly doneTtl: number;
  private client?: Handle;
  private connected?: Promise<Handle>;
  /** standalone: the subscriber connection (a cluster subscribes through a connection of its own) */
  private sub?: Handle;
  private subscriber?: Promise<void>;
  private live = false;

  constructor(
    private readonly redis: RedisConfig,
    /** `<prefix>:{<queue>}` */
    private readonly base: string,
    /** the queue's keepResults.age (seconds), if it has one: how long a 'done' mark is kept */
    keepAge: number | undefined,
    private readonly handlers: {
      onMessage(message: Message): void;
      /** the subscriber connected again: messages may have been missed */
      onReconnect(): void;
      onError(err: Error, what: string): void;
    },
  ) {
    const id = randomBytes(8).toString('hex');
    this.channel = `${base}:producer:${id}`;
    this.clientName = `convoy-tasks-${id}`;
    this.cluster = isCluster(redis);
    this.doneTtl = keepAge ?? CALLERS_TTL;
  }

  /** Whether this producer's channel is subscribed (registrations may be sent at once). */
  get subscribed(): boolean {
    return this.live;
  }

  private callers(id: string): string {
    return `${this.base}:callers:${id}`;
  }

  private doneKey(id: string): string {
    return `${this.base}:done:${id}`;
  }

  /** The command connection, made on first use (again after a failed connect); on a cluster it also holds the sharded subscription. */
  private commands(): Promise<Handle> {
    this.connected ??= (async () => {
      const handle = open(this.redis, this.clientName, (err) => this.handlers.onError(err, 'the notifier connection'));
      // a cluster's sharded subscriber is one of its node clients: any of them ready again may follow a lost connection
      if (this.cluster) handle.on('node-ready', () => this.live && this.handlers.onReconnect());
      this.client = handle;
      await handle.connect();
      return handle;
    })().catch((err: unknown) => {
      this.connected = undefined;
      if (this.client?.isOpen) this.client.destroy();
      throw err;
    });
    return this.connected;
  }

  /**
   * Subscribe this producer's channel, once (a failure is retried by the next
   * call). node-redis subscribes again after a reconnect and only then says
   * 'ready', so the check that follows it cannot miss what it lost.
   */
  subscribe(): Promise<void> {
    this.subscriber ??= (async () => {
      const commands = await this.commands();
      const listener = (message: string) => this.handlers.onMessage(JSON.parse(message) as Message);
      if (this.cluster) {
        await commands.sSubscribe(this.channel, listener);
      } else {
        const sub = (this.sub ??= open(this.redis, this.clientName, (err) => this.handlers.onError(err, 'the notifier subscriber')));
        if (!sub.isOpen) {
          sub.on('ready', () => this.live && this.handlers.onReconnect());
          await sub.connect();
        }
        await sub.subscribe(this.channel, listener);
      }
      this.live = true;
    })().catch((err: unknown) => {
      this.subscriber = undefined;
      throw err;
    });
    return this.subscriber;
  }

  /**
   * Register this producer for `id`'s outcome; resolves with the Redis clock
   * (ms) of the registration. Sent at once (once `subscribed`), so a
   * `leave` sent later runs after it.
   */
  join(id: string): Promise<number> {
    return this.client!.taskJoin([this.callers(id)], [this.channel, String(CALLERS_TTL)]).then(Number);
  }

  /** No call of this producer waits for `id` any more (its registration, if any, was sent before). */
  leave(id: string): void {
    this.client!.sRem(this.callers(id), this.channel).catch((err: Error) => this.handlers.onError(err, `leaving the callers of ${id}`));
  }

  /** Consumer: send the message of a run of `id` that ended to its callers. */
  async publish(id: string, message: Message): Promise<void> {
    const c = await this.commands();
    await c.taskNotify([this.callers(id), this.doneKey(id)], [this.cluster ? 'SPUBLISH' : 'PUBLISH', encode(message), String(this.doneTtl)]);
  }

  /** A producer got the outcome of `id`'s run that finished at `finishedAt` (Redis clock ms) another way. */
  async markDone(id: string, finishedAt: number): Promise<void> {
    const c = await this.commands();
    await c.set(this.doneKey(id), String(finishedAt), { EX: this.doneTtl });
  }

  /** When a producer last got an outcome of `id` (Redis clock ms), or null. */
  async doneAt(id: string): Promise<number | null> {
    const c = await this.commands();
    const at = await c.get(this.doneKey(id));
    return at === null ? null : Number(at);
  }

  close(): void {
    for (const h of [this.client, this.sub]) if (h?.isOpen) h.destroy();
  }
}

/** The message as JSON; a result JSON cannot write becomes an error, so the producer still hears of the run's end. */
function encode(message: Message): string {
  try {
    return JSON.stringify(message);
  } catch (err) {
    const failure = describeError(new TypeError(`the task's result cannot be written as JSON: ${(err as Error).message}`));
    return JSON.stringify([message[0], { e: failure }]);
  }
}

function isCluster(config: RedisConfig): boolean {
  return typeof config === 'object' && config !== null && 'cluster' in config;
}

/** A connection of our own, from the queue's redis config, with the scripts above, named `name` unless the config names its connections. */
function open(config: RedisConfig, name: string, onError: (err: Error) => void): Handle {
  let handle: Handle;
  if (isCluster(config)) {
    const cluster = (config as { cluster: Parameters<typeof createCluster>[0] }).cluster;
    handle = createCluster({ ...cluster, defaults: { name, ...cluster.defaults }, scripts }) as unknown as Handle;
  } else {
    const options = typeof config === 'string' ? { url: config } : (config as RedisClientOptions);
    handle = createClient({ name, ...options, scripts }) as unknown as Handle;
  }
  handle.on('error', (err) => onError(err as Error));
  return handle;
}
