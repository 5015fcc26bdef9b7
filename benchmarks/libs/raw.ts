/**
 * The floor: node-redis and the least Lua that does the same work as a
 * deduplicating queue. add = SADD + RPUSH (only when SADD says new); claim =
 * LPOP + ZADD; complete = ZREM + SREM. No payloads, no fencing, no failure
 * bookkeeping. An idle worker blocks on a wake-up list that add fills only
 * when the queue goes from empty to not empty, so it costs nothing while idle.
 *
 * Two workers: `raw`, the plain floor (each slot claims one job per call and
 * completes it in its own call), and `raw-batched`, which claims for all free
 * slots in one call and completes a tick's finished jobs in one call: what the
 * same few commands can do with batching, the ceiling for a queue without
 * fencing.
 */
import { connect, type Conn as Client } from '../harness/admin.js';
import type { Adapter, AdapterFactory, BenchWorker, StartHook } from '../harness/adapter.js';
import { QUEUE_NAME, noOptions } from '../harness/adapter.js';
import { Completions } from '../harness/completions.js';

const PREFIX = `raw:{${QUEUE_NAME}}:`;
const KEYS = { queued: `${PREFIX}queued`, committed: `${PREFIX}committed`, processing: `${PREFIX}processing`, wake: `${PREFIX}wake` };

const SCRIPTS = {
  // KEYS: queued committed wake; ARGV: id
  add: `if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
if redis.call('RPUSH', KEYS[1], ARGV[1]) == 1 and redis.call('LLEN', KEYS[3]) == 0 then redis.call('RPUSH', KEYS[3], '1') end
return 1`,
  // KEYS: queued processing; ARGV: n, claim time
  claim: `local ids = redis.call('LPOP', KEYS[1], ARGV[1])
if not ids then return {} end
local z = {}
for i, id in ipairs(ids) do z[2 * i - 1] = ARGV[2]; z[2 * i] = id end
redis.call('ZADD', KEYS[2], unpack(z))
return ids`,
  // KEYS: processing committed; ARGV: ids
  complete: `redis.call('ZREM', KEYS[1], unpack(ARGV))
redis.call('SREM', KEYS[2], unpack(ARGV))
return 0`,
};

type Shas = Record<keyof typeof SCRIPTS, string>;

/** SCRIPT LOAD once per adapter; FLUSHALL leaves the script cache alone. */
async function load(c: Client): Promise<Shas> {
  const entries = await Promise.all(
    Object.entries(SCRIPTS).map(async ([name, src]) => [name, String(await c.sendCommand(['SCRIPT', 'LOAD', src]))]),
  );
  return Object.fromEntries(entries) as Shas;
}

function evalsha(c: Client, sha: string, keys: string[], args: string[]): Promise<unknown> {
  return c.sendCommand(['EVALSHA', sha, String(keys.length), ...keys, ...args]);
}

/**
 * The worker loop, kept as small as a correct one can be: claim for all free
 * slots at once; results of handlers that finish in the same tick go in one
 * complete call, and the claim for their slots is pipelined right behind it.
 */
class RawWorker implements BenchWorker {
  readonly done = new Completions();
  private busy = 0;
  private claiming = false;
  private blocking = false;
  private stopped = false;
  private finished: string[] = [];
  private writes = new Set<Promise<unknown>>();

  constructor(
    private readonly client: Client,
    private readonly blocker: Client,
    private readonly shas: Shas,
    private readonly concurrency: number,
    private readonly batched: boolean,
    private readonly onStart?: StartHook,
  ) {}

  run(): void {
    this.fill();
  }

  private fill(): void {
    if (this.stopped || this.claiming) return;
    const free = this.concurrency - this.busy;
    if (free <= 0) return;
    // The plain floor asks for one job per call, one call per free slot.
    const size = this.batched ? free : 1;
    const calls = this.batched ? 1 : free;
    this.claiming = true;
    this.busy += free;
    let pending = calls;
    let empty = false;
    for (let k = 0; k < calls; k++) {
      evalsha(this.client, this.shas.claim, [KEYS.queued, KEYS.processing], [String(size), String(Date.now())]).then(
        (reply) => {
          const ids = reply as string[];
          this.busy -= size - ids.length;
          for (const id of ids) this.start(id);
          if (ids.length < size) empty = true;
          if (--pending > 0) return;
          this.claiming = false;
          // Fewer than asked: the queue is empty, wait for an add to wake us.
          if (empty) this.block();
          else this.fill();
        },
        (err) => this.fail(err),
      );
    }
  }

  private block(): void {
    if (this.stopped || this.blocking) return;
    this.blocking = true;
    this.blocker.sendCommand(['BLPOP', KEYS.wake, '0']).then(
      () => {
        this.blocking = false;
        this.fill();
      },
      (err) => this.fail(err),
    );
  }

  private start(id: string): void {
    const handler = async () => {
      this.onStart?.(id);
    };
    handler().then(
      () => this.finish(id),
      (err) => this.fail(err),
    );
  }

  private finish(id: string): void {
    if (!this.batched) {
      this.complete([id]);
      return;
    }
    if (this.finished.push(id) === 1) process.nextTick(() => this.flush());
  }

  private flush(): void {
    const ids = this.finished;
    this.finished = [];
    this.complete(ids);
  }

  private complete(ids: string[]): void {
    const write = evalsha(this.client, this.shas.complete, [KEYS.processing, KEYS.committed], ids).then(
      () => this.done.add(ids.length),
      (err) => this.fail(err),
    );
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
    // The slots are free once their results are sent; the claim goes right behind on the same connection.
    this.busy -= ids.length;
    this.fill();
  }

  private fail(err: unknown): void {
    if (!this.stopped) this.done.fail(err);
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.blocker.destroy(); // ends a pending BLPOP at once
    while (this.writes.size) await Promise.allSettled([...this.writes]);
    await this.client.close();
  }
}

function factory(name: 'raw' | 'raw-batched', batched: boolean): AdapterFactory {
  return {
    name,
    // No delays, no retries: the floor is for plain jobs only.
    features: [],
    async open(target): Promise<Adapter> {
      const client = await connect(target.url);
      const shas = await load(client);
      const add = (id: string) => evalsha(client, shas.add, [KEYS.queued, KEYS.committed, KEYS.wake], [id]);
      return {
        name,
        addOne: async (id, opts) => {
          noOptions(name, opts);
          await add(id);
        },
        // node-redis pipelines the calls made in one tick: one write for the chunk.
        addBulk: async (ids, opts) => {
          if (opts) throw new Error(`${name} has no job options`);
          await Promise.all(ids.map(add));
        },
        waiting: async () => Number(await client.sendCommand(['LLEN', KEYS.queued])),
        worker: async (concurrency, opts) => {
          if (opts?.fail || opts?.delayed || opts?.rateLimit) throw new Error(`${name} has no retries, delays or rate limit`);
          const [c, b] = await Promise.all([connect(target.url), connect(target.url)]);
          return new RawWorker(c, b, shas, concurrency, batched, opts?.onStart);
        },
        close: () => client.close(),
      };
    },
  };
}

export const raw = factory('raw', false);
export const rawBatched = factory('raw-batched', true);
