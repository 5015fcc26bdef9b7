/**
 * The shared test harness: each test file gets private Redis backends (started
 * here, stopped after) and runs its behaviour tests once per backend.
 *
 *   forEachBackend((test, ctx) => {
 *     test('dedups', async (t) => { const q = ctx.queue(); ... });
 *   });
 */
import { inspect } from 'node:util';
import anyTest, { type TestFn } from 'ava';
import { createClient, createCluster } from 'redis';
import { createQueue, type Queue, type QueueOptions, type RedisConfig } from '../../src/index.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { startRedisCluster, type RedisCluster } from './cluster.js';

/** A raw client to look at Redis from the side. */
export type Inspector = ReturnType<typeof createClient>;

export interface Backend {
  readonly name: string;
  /** What queues get as their `redis` option. */
  readonly redis: RedisConfig;
  /** A client for assertions about keys (works for this backend's topology). */
  readonly inspect: Pick<Inspector, 'sendCommand' | 'lRange' | 'sMembers' | 'zRangeWithScores' | 'hGetAll' | 'type' | 'exists' | 'set' | 'del' | 'rPush' | 'hSet' | 'zAdd' | 'sAdd' | 'lLen' | 'sCard' | 'zCard'>;
  stop(): Promise<void>;
}

export interface BackendFactory {
  readonly name: string;
  start(): Promise<Backend>;
}

export const standalone: BackendFactory = {
  name: 'standalone',
  async start() {
    const server = await startRedisServer();
    return standaloneBackend(server);
  },
};

export async function standaloneBackend(server: RedisServer, name = 'standalone'): Promise<Backend> {
  const inspect = createClient({ url: server.url });
  inspect.on('error', () => undefined);
  await inspect.connect();
  return {
    name,
    redis: server.url,
    inspect,
    async stop() {
      inspect.destroy();
      await server.stop();
    },
  };
}

export const cluster: BackendFactory = {
  name: 'cluster',
  async start() {
    return clusterBackend(await startRedisCluster());
  },
};

export async function clusterBackend(topology: RedisCluster): Promise<Backend & { topology: RedisCluster }> {
  const client = createCluster({ rootNodes: topology.rootNodes });
  client.on('error', () => undefined);
  await client.connect();
  // The same surface as a plain client: raw commands are routed by their key.
  const inspect = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'sendCommand') return (args: string[]) => target.sendCommand(args[1], false, args);
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as unknown as Backend['inspect'];
  return {
    name: 'cluster',
    topology,
    redis: { cluster: { rootNodes: topology.rootNodes } },
    inspect,
    async stop() {
      client.destroy();
      await topology.stop();
    },
  };
}

/**
 * Script calls (EVAL/EVALSHA and their read-only forms) the backend's Redis
 * served so far, summed over every node of a cluster, failed ones left out: a
 * claim is one.
 */
export async function scriptCalls(backend: Backend): Promise<number> {
  const topology = (backend as Partial<{ topology: RedisCluster }>).topology;
  const infos: string[] = [];
  if (!topology) {
    infos.push(String(await backend.inspect.sendCommand(['INFO', 'commandstats'])));
  } else {
    for (const { url } of topology.rootNodes) {
      const c = createClient({ url });
      c.on('error', () => undefined);
      await c.connect();
      try {
        infos.push(String(await c.sendCommand(['INFO', 'commandstats'])));
      } finally {
        c.destroy();
      }
    }
  }
  let n = 0;
  for (const info of infos) {
    // a failed call (NOSCRIPT before a script's first EVAL on a server) did nothing
    for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval|evalsha_ro|eval_ro|fcall|fcall_ro):calls=(\d+).*?failed_calls=(\d+)/gm)) n += Number(m[1]) - Number(m[2]);
  }
  return n;
}

/** The backends every behaviour suite runs against. */
export const BACKENDS: BackendFactory[] = [standalone, cluster];

export interface Ctx {
  readonly backend: Backend;
  /** A queue with a name no other test uses, closed after the test. */
  queue<P = unknown>(opts?: QueueOptions & { name?: string }): Queue<P>;
  /** A fresh queue name, for several queue objects on one queue. */
  name(): string;
}

let counter = 0;

export function forEachBackend(
  register: (test: TestFn, ctx: Ctx) => void,
  factories: BackendFactory[] = BACKENDS,
): void {
  for (const factory of factories) {
    let backend: Backend | undefined;
    const open = new Set<Queue<unknown>>();
    const test = anyTest as TestFn;
    const title = (t: string) => `[${factory.name}] ${t}`;
    const wrapped = Object.assign(
      (t: string, ...rest: unknown[]) => (test as unknown as (...a: unknown[]) => void)(title(t), ...rest),
      {
        serial: (t: string, ...rest: unknown[]) => (test.serial as unknown as (...a: unknown[]) => void)(title(t), ...rest),
        only: (t: string, ...rest: unknown[]) => (test.only as unknown as (...a: unknown[]) => void)(title(t), ...rest),
        skip: (t: string, ...rest: unknown[]) => (test.skip as unknown as (...a: unknown[]) => void)(title(t), ...rest),
      },
    ) as unknown as TestFn;
    test.before(async () => {
      backend = await factory.start();
    });
    test.after.always(async () => {
      await Promise.allSettled([...open].map((q) => withTimeout(q.close({ timeout: 1000 }), 10_000, `closing queue ${q.name}`)));
      if (backend) await withTimeout(backend.stop(), 30_000, `stopping the ${factory.name} backend`);
    });
    const ctx: Ctx = {
      get backend() {
        if (!backend) throw new Error('backend not started');
        return backend;
      },
      name: () => `t${process.pid}-${++counter}`,
      queue<P>(opts: QueueOptions & { name?: string } = {}) {
        const { name, ...rest } = opts;
        const q = createQueue<P>(name ?? ctx.name(), { redis: ctx.backend.redis, ...rest });
        open.add(q as Queue<unknown>);
        return q;
      },
    };
    register(wrapped, ctx);
  }
}

/**
 * How much longer than a bound of the product itself ("rejects within
 * commandTimeout") a test lets a call take: a busy 2-core machine stalls timers
 * and processes for seconds at a time.
 */
export const BUSY_MARGIN_MS = 4000;

export interface UntilOptions {
  /** What is waited for, as in "timed out waiting for <what>". */
  what: string;
  /** Give up after this many ms (default 30 s: generous, a wait is not a measurement). */
  timeout?: number;
  /** Poll every this many ms (default 10). */
  every?: number;
}

const show = (v: unknown) => {
  const s = inspect(v, { depth: 3, breakLength: Infinity, maxArrayLength: 20 });
  return s.length > 600 ? `${s.slice(0, 600)}…` : s;
};

/**
 * Poll `probe` until `ok(value)` holds and return that value. A probe that
 * throws counts as not yet (its error is the last value seen). On timeout the
 * error names what was waited for and the last value seen:
 *
 *   await until(() => q.stats(), (s) => s.committed === 0, { what: 'the queue to drain' });
 *   await until(() => ran.length, (n) => n === 2, 'both jobs to run');
 */
export async function until<T>(
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean,
  options: UntilOptions | string,
): Promise<T> {
  const { what, timeout = 30_000, every = 10 } = typeof options === 'string' ? { what: options } : options;
  const started = Date.now();
  let last: string = 'nothing (the probe never returned)';
  for (;;) {
    try {
      const value = await probe();
      if (ok(value)) return value;
      last = show(value);
    } catch (err) {
      last = `an error: ${(err as Error)?.message ?? String(err)}`;
    }
    if (Date.now() - started > timeout) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last value seen: ${last}`);
    }
    await sleep(every);
  }
}

/**
 * `p`, or a rejection naming `what` once `ms` have passed: for teardowns and
 * other steps that must not hang the test process.
 */
export async function withTimeout<T>(p: Promise<T> | (() => Promise<T>), ms: number, what: string): Promise<T> {
  const promise = typeof p === 'function' ? p() : p;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The core invariant, read in one transaction: every committed ID is in
 * exactly one of the queued list and the processing zset, never twice in the list.
 */
export async function assertInvariant(
  t: { deepEqual(a: unknown, b: unknown, m?: string): void; is(a: unknown, b: unknown, m?: string): void },
  backend: Backend,
  keys: { queued: string; committed: string; processing: string },
): Promise<void> {
  const [queued, committed, processing] = (await Promise.all([
    backend.inspect.lRange(keys.queued, 0, -1),
    backend.inspect.sMembers(keys.committed),
    backend.inspect.zRangeWithScores(keys.processing, 0, -1).then((r) => r.map((e) => e.value)),
  ])) as [string[], string[], string[]];
  t.is(new Set(queued).size, queued.length, 'no ID twice in the queued list');
  const inQueued = new Set(queued);
  t.deepEqual(processing.filter((id) => inQueued.has(id)), [], 'no ID both queued and processing');
  t.deepEqual([...queued, ...processing].sort(), [...committed].sort(), 'committed = queued ∪ processing');
}
