/**
 * A chaos producer (a child process): adds IDs picked at random from a pool,
 * several at a time, and logs every add with its outcome. An add that rejects
 * (Redis paused, restarting, our connection killed) has an unknown outcome: it
 * is logged as such and sent again until it resolves (adds are idempotent).
 * Adds go to the queues of `queues`, some with duplicateWhileProcessing
 * 'rerun' (`rerunRate`), some to a small hot pool of IDs (`hotRate`), so that
 * adds often meet an ID that is running. A share of the adds carry
 * `{ attempts: 3, backoff }` (`retryRate`) and a share a `delay` of
 * 0..maxDelay ms (`delayRate`); adds to the flow queue (`flow`) carry a
 * priority and, some, a group; each add logs its options. With
 * `removeEvery`, a remover lane calls removeJob on IDs picked from the last
 * adds that started a life, logging each answer (or its error) to `removeLog`.
 *
 * Soak mode (`range`): adds each ID of the range once, in batches, with a
 * little back-pressure so the queue stays a few thousand long.
 */
import { createQueue, Job, type Queue } from '../src/index.js';
import { QUEUE, JsonLog, flowGroup, idOf, rand, sleep, type AddLine, type ChildConfig, type ChildMessage, type RemoveLine } from './common.js';

type P = { p: number; n: number };
const cfg = JSON.parse(process.argv[2]) as ChildConfig;
const send = (m: ChildMessage) => process.send?.(m);
const log = new JsonLog(cfg.log);
const removeLog = cfg.removeEvery && cfg.removeLog ? new JsonLog(cfg.removeLog) : undefined;
/** The backoff of the adds with attempts: small, so retries happen within the run. */
const BACKOFF = { type: 'exponential', delay: 20, maxDelay: 200, jitter: 0.5 } as const;
/** The last adds that started a life (queued or scheduled): what the remover picks from. */
const recent: Array<{ id: string; queue: string }> = [];
const commandTimeout = cfg.commandTimeout ?? 2000;
const queues = new Map<string, Queue<P>>();
/** The queue object for one queue name and duplicate policy (they share one connection). */
function queueFor(name: string, rerun: boolean): Queue<P> {
  const key = `${name}/${rerun ? 'rerun' : 'ignore'}`;
  let q = queues.get(key);
  if (!q) {
    q = createQueue<P>(name, { redis: cfg.url, commandTimeout, duplicateWhileProcessing: rerun ? 'rerun' : 'ignore' });
    q.on('error', () => errors++);
    queues.set(key, q);
  }
  return q;
}
let errors = 0;
const q = queueFor(QUEUE, false);

let stopping = false;
let stopAt = Infinity;
process.on('message', (m) => {
  if (m === 'stop' && !stopping) {
    stopping = true;
    stopAt = Date.now();
  }
});
process.on('disconnect', () => process.exit(1));

let adds = 0;
let rejected = 0;
let n = 0;

async function addUntilSettled(id: string, queue: string, rerun: boolean): Promise<void> {
  const deadline = () => stopping && Date.now() > stopAt + 5000;
  const target = queueFor(queue, rerun);
  const tags: Pick<AddLine, 'q' | 'rr'> = {};
  if (queue !== QUEUE) tags.q = queue;
  if (rerun) tags.rr = 1;
  // Options chosen once: a re-send after an unknown outcome is the same add.
  const options: { attempts?: number; backoff?: typeof BACKOFF; delay?: number; priority?: number; group?: string } = {};
  if (Math.random() < (cfg.retryRate ?? 0)) {
    options.attempts = 3;
    options.backoff = BACKOFF;
  }
  if (Math.random() < (cfg.delayRate ?? 0)) options.delay = Math.floor(rand(0, cfg.maxDelay ?? 1000));
  const flow = cfg.flow?.queue === queue ? cfg.flow : undefined;
  if (flow) {
    options.priority = Math.floor(rand(0, flow.maxPriority + 1));
    if (Math.random() < flow.groupRate) options.group = flowGroup(Math.floor(Math.random() * flow.groups));
  }
  const opts: Pick<AddLine, 'd' | 'at' | 'pr' | 'g'> = {};
  if (options.delay !== undefined) opts.d = options.delay;
  if (options.attempts !== undefined) opts.at = options.attempts;
  if (options.priority) opts.pr = options.priority;
  if (options.group !== undefined) opts.g = options.group;
  for (let attempt = 0; ; attempt++) {
    const t0 = Date.now();
    try {
      const o = await target.addJob(new Job(id, { p: process.pid, n: n++ }, options));
      log.write({ id, p: process.pid, t0, t1: Date.now(), o, ...tags, ...opts } satisfies AddLine);
      adds++;
      if (o === 'queued' || o === 'scheduled') {
        recent.push({ id, queue });
        if (recent.length > 200) recent.shift();
      }
      return;
    } catch (err) {
      rejected++;
      log.write({ id, p: process.pid, t0, t1: Date.now(), err: (err as Error).message, ...tags, ...opts } satisfies AddLine);
      if (deadline()) return;
      await sleep(Math.min(50 * 2 ** attempt, 500));
    }
  }
}

async function lane(): Promise<void> {
  const pool = cfg.pool ?? 3000;
  const pause = cfg.pauseMs ?? 10;
  const names = cfg.queues ?? [QUEUE];
  while (!stopping) {
    const hot = Math.random() < (cfg.hotRate ?? 0);
    const queue = names[Math.floor(Math.random() * names.length)];
    const from = cfg.flow?.queue === queue ? cfg.flow.pool : pool;
    const id = idOf(Math.floor(Math.random() * (hot ? Math.min(cfg.hotPool ?? 50, from) : from)));
    await addUntilSettled(id, queue, Math.random() < (cfg.rerunRate ?? 0));
    await sleep(rand(0, pause));
  }
}

/** removeJob on a recently added ID, now and then; never retried (an unknown outcome is logged as such). */
async function remover(every: number): Promise<void> {
  while (!stopping) {
    await sleep(rand(0, 2 * every));
    if (stopping || !recent.length) continue;
    // A third of the time an ID that is running now (listJobs: the removal cancels its run);
    // else mostly the newest adds (still waiting or running), sometimes older ones (maybe ended).
    let pick = recent[recent.length - 1 - Math.floor(Math.random() ** 2 * recent.length)];
    let running = false;
    if (Math.random() < 1 / 3) {
      const names = cfg.queues ?? [QUEUE];
      const queue = names[Math.floor(Math.random() * names.length)];
      const list = await queueFor(queue, false)
        .listJobs('processing', { limit: 50 })
        .catch(() => []);
      if (list.length) {
        pick = { id: list[Math.floor(Math.random() * list.length)].id, queue };
        running = true;
      }
    }
    const tags: Pick<RemoveLine, 'q'> = pick.queue !== QUEUE ? { q: pick.queue } : {};
    const t0 = Date.now();
    try {
      const ok = await queueFor(pick.queue, false).removeJob(pick.id);
      removeLog!.write({ id: pick.id, p: process.pid, t0, t1: Date.now(), ok, ...tags } satisfies RemoveLine);
      // Half the running IDs removed are added again at once: a new life that may run while the cancelled run is still going.
      if (ok && running && Math.random() < 0.5) await addUntilSettled(pick.id, pick.queue, false);
    } catch (err) {
      removeLog!.write({ id: pick.id, p: process.pid, t0, t1: Date.now(), err: (err as Error).message, ...tags } satisfies RemoveLine);
    }
  }
}

async function soak([from, to]: [number, number]): Promise<void> {
  const BATCH = 500;
  for (let i = from; i < to && !stopping; i += BATCH) {
    while ((await q.countQueued().catch(() => 0)) > 5000) await sleep(20);
    const jobs: Job<{ p: number; n: number }>[] = [];
    for (let k = i; k < Math.min(i + BATCH, to); k++) jobs.push(new Job(`soak-${k}`, { p: process.pid, n: k }));
    for (;;) {
      try {
        const outcomes = await q.addJobs(jobs);
        adds += outcomes.length;
        break;
      } catch {
        rejected++;
        await sleep(100);
      }
    }
    if ((i / BATCH) % 20 === 0) send({ type: 'progress', added: adds });
  }
  send({ type: 'progress', added: adds, finished: true });
}

await q.countQueued().catch(() => 0);
send({ type: 'ready' });
if (cfg.range) {
  await soak(cfg.range);
} else {
  const lanes = Array.from({ length: cfg.lanes ?? 4 }, () => lane());
  if (removeLog) lanes.push(remover(cfg.removeEvery!));
  await Promise.all(lanes);
}
while (!stopping) await sleep(50);
await Promise.all([...queues.values()].map((x) => x.close()));
log.close();
removeLog?.close();
send({ type: 'done', adds, rejected, errors });
process.disconnect?.();
