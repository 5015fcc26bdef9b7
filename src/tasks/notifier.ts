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
 * in one script. Once the core keeps the outcome, that script also writes the
 * hash `<prefix>:{<queue>}:ended:<id>`: `at`, when (Redis clock ms), and
 * `done`, when a message of it last reached anyone (status() 'done'). These
 * keys live beside the queue's (same hash tag) but are the tasks layer's own:
 * the core knows nothing of them.
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

/** Registrations or messages per script call (those of one tick go together). */
const BATCH = 500;

const scripts = {
  // Register a caller (ARGV[1]) for IDs (KEYS: callers set, ended hash, per
  // ID); replies the Redis clock (ms), then per ID when a run of it last
  // ended with its outcome kept (or nil).
  taskJoin: script(
    `local t = redis.call('TIME')
local out = { t[1] * 1000 + math.floor(t[2] / 1000) }
for i = 1, #KEYS, 2 do
  redis.call('SADD', KEYS[i], ARGV[1])
  redis.call('EXPIRE', KEYS[i], ARGV[2])
  out[#out + 1] = redis.call('HGET', KEYS[i + 1], 'at')
end
return out`,
  ),
  // Runs' messages (KEYS: callers set, ended hash; ARGV after the publish
  // command and TTL: message, before; per run) to every caller registered, in
  // the step that forgets them. before: '' while the outcome is not kept yet;
  // else how many got a message of it already: then the end is written down,
  // and 'done' when anyone got it. Replies how many got each.
  taskNotify: script(
    `local now
local out = {}
for i = 1, #KEYS, 2 do
  local message, before = ARGV[i + 2], ARGV[i + 3]
  local n = 0
  for _, channel in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    n = n + redis.call(ARGV[1], channel, message)
  end
  redis.call('DEL', KEYS[i])
  if before ~= '' then
    if not now then
      local t = redis.call('TIME')
      now = tostring(t[1] * 1000 + math.floor(t[2] / 1000))
    end
    if n + tonumber(before) > 0 then
      redis.call('HSET', KEYS[i + 1], 'at', now, 'done', now)
    else
      redis.call('HSET', KEYS[i + 1], 'at', now)
    end
    redis.call('EXPIRE', KEYS[i + 1], ARGV[2])
  end
  out[#out + 1] = n
end
return out`,
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
  hSet(key: string, field: string, value: string): Promise<unknown>;
  hGet(key: string, field: string): Promise<string | null>;
  expire(key: string, seconds: number): Promise<unknown>;
  taskJoin: ScriptCall;
  taskNotify: ScriptCall;
}

/** A message: the ID, and its outcome unless the queue encrypts what it keeps (then the producer reads the kept result). */
export type Message = [id: string, outcome?: Outcome];

export class Notifier {
  /** This producer's channel. */
  private readonly channel: string;
  /** The name of this notifier's connections (CLIENT LIST), unless the redis config names them. */
  private readonly clientName: string;
  private readonly cluster: boolean;
  /** How long an `ended` hash is kept (seconds). */
  private readonly endedTtl: number;
  private client?: Handle;
  private connected?: Promise<Handle>;
  /** standalone: the subscriber connection (a cluster subscribes through a connection of its own) */
  private sub?: Handle;
  private subscriber?: Promise<void>;
  private live = false;
  private readonly joins = new Batch<string, { now: number; endedAt: number | null }>(async (ids) => {
    const keys = ids.flatMap((id) => [this.callers(id), this.endedKey(id)]);
    const [now, ...ended] = (await this.client!.taskJoin(keys, [this.channel, String(CALLERS_TTL)])) as [number, ...Array<string | null>];
    return ended.map((at) => ({ now: Number(now), endedAt: at === null ? null : Number(at) }));
  });
  private readonly notes = new Batch<{ id: string; message: string; before: string }, number>(async (notes) => {
    const c = await this.commands();
    const keys = notes.flatMap(({ id }) => [this.callers(id), this.endedKey(id)]);
    const args = [this.cluster ? 'SPUBLISH' : 'PUBLISH', String(this.endedTtl), ...notes.flatMap((n) => [n.message, n.before])];
    return ((await c.taskNotify(keys, args)) as number[]).map(Number);
  });

  constructor(
    private readonly redis: RedisConfig,
    /** `<prefix>:{<queue>}` */
    private readonly base: string,
    /** the queue's keepResults.age (seconds), if it has one: how long an `ended` hash is kept */
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
    this.endedTtl = keepAge ?? CALLERS_TTL;
  }

  /** Whether this producer's channel is subscribed (registrations may be sent at once). */
  get subscribed(): boolean {
    return this.live;
  }

  private callers(id: string): string {
    return `${this.base}:callers:${id}`;
  }

  private endedKey(id: string): string {
    return `${this.base}:ended:${id}`;
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
      const listener = (text: string) => {
        let message: Message;
        try {
          message = JSON.parse(text) as Message;
          if (!Array.isArray(message) || typeof message[0] !== 'string') throw new TypeError('not [job ID, outcome]');
        } catch (err) {
          this.handlers.onError(new TypeError(`a message on ${this.channel} that is not a task outcome: ${(err as Error).message}`), 'reading a message');
          return;
        }
        this.handlers.onMessage(message);
      };
      if (this.cluster) {
        await commands.sSubscribe(this.channel, listener);
      } else {
        if (!this.sub) {
          this.sub = open(this.redis, this.clientName, (err) => this.handlers.onError(err, 'the notifier subscriber'));
          this.sub.on('ready', () => this.live && this.handlers.onReconnect());
        }
        if (!this.sub.isOpen) await this.sub.connect();
        await this.sub.subscribe(this.channel, listener);
      }
      this.live = true;
    })().catch((err: unknown) => {
      this.subscriber = undefined;
      throw err;
    });
    return this.subscriber;
  }

  /**
   * Register this producer for `id`'s outcome (once `subscribed`); resolves
   * with the Redis clock (ms) of the registration, and when a run of `id` last
   * ended with its outcome kept (null: not within the `ended` hash's life).
   * Sent at the end of this tick, with the others of the tick.
   */
  join(id: string): Promise<{ now: number; endedAt: number | null }> {
    return this.joins.add(id);
  }

  /**
   * No call of this producer waits for `id` any more: take its registration
   * back. Sent at the end of the tick too, after a registration of this tick.
   */
  leave(id: string): void {
    process.nextTick(() => {
      this.client!.sRem(this.callers(id), this.channel).catch((err: Error) => this.handlers.onError(err, `leaving the callers of ${id}`));
    });
  }

  /**
   * Consumer: send a message of a run of `id` (as `encode` wrote it) to the
   * callers registered; resolves with how many got it. `before`: the outcome
   * is kept, and this many got it already (left out: it is not kept yet).
   */
  publish(id: string, message: string, before?: number): Promise<number> {
    return this.notes.add({ id, message, before: before === undefined ? '' : String(before) });
  }

  /** A producer got the outcome of `id`'s run that finished at `finishedAt` (Redis clock ms) from the kept result. */
  async markDone(id: string, finishedAt: number): Promise<void> {
    const c = await this.commands();
    await Promise.all([c.hSet(this.endedKey(id), 'done', String(finishedAt)), c.expire(this.endedKey(id), this.endedTtl)]);
  }

  /** When a producer last got an outcome of `id` (Redis clock ms), or null. */
  async doneAt(id: string): Promise<number | null> {
    const c = await this.commands();
    const at = await c.hGet(this.endedKey(id), 'done');
    return at === null ? null : Number(at);
  }

  close(): void {
    for (const h of [this.client, this.sub]) if (h?.isOpen) h.destroy();
  }
}

/** Items added in one tick, sent together (in calls of at most BATCH) at its end; each gets its own reply. */
class Batch<I, R> {
  private items: Array<{ item: I; resolve(r: R): void; reject(err: unknown): void }> = [];

  constructor(private readonly send: (items: I[]) => Promise<R[]>) {}

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (this.items.push({ item, resolve, reject }) === 1) process.nextTick(() => this.flush());
    });
  }

  private flush(): void {
    const all = this.items;
    this.items = [];
    for (let i = 0; i < all.length; i += BATCH) {
      const chunk = all.slice(i, i + BATCH);
      this.send(chunk.map((c) => c.item)).then(
        (replies) => chunk.forEach((c, k) => c.resolve(replies[k])),
        (err: unknown) => chunk.forEach((c) => c.reject(err)),
      );
    }
  }
}

/** A message as JSON; a result JSON cannot write becomes an error, so the producer still hears of the run's end. */
export function encode(message: Message): string {
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
