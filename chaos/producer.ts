/**
 * A chaos producer (a child process): adds IDs picked at random from a pool,
 * several at a time, and logs every add with its outcome. An add that rejects
 * (Redis paused, restarting, our connection killed) has an unknown outcome: it
 * is logged as such and sent again until it resolves (adds are idempotent).
 * Adds go to the queues of `queues`, some with duplicateWhileProcessing
 * 'rerun' (`rerunRate`), some to a small hot pool of IDs (`hotRate`), so that
 * adds often meet an ID that is running.
 *
 * Soak mode (`range`): adds each ID of the range once, in batches, with a
 * little back-pressure so the queue stays a few thousand long.
 */
import { createQueue, Job, type Queue } from '../src/index.js';
import { QUEUE, JsonLog, idOf, rand, sleep, type AddLine, type ChildConfig, type ChildMessage } from './common.js';

type P = { p: number; n: number };
const cfg = JSON.parse(process.argv[2]) as ChildConfig;
const send = (m: ChildMessage) => process.send?.(m);
const log = new JsonLog(cfg.log);
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
  for (let attempt = 0; ; attempt++) {
    const t0 = Date.now();
    try {
      const o = await target.addJob(new Job(id, { p: process.pid, n: n++ }));
      log.write({ id, p: process.pid, t0, t1: Date.now(), o, ...tags } satisfies AddLine);
      adds++;
      return;
    } catch (err) {
      rejected++;
      log.write({ id, p: process.pid, t0, t1: Date.now(), err: (err as Error).message, ...tags } satisfies AddLine);
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
    const id = idOf(Math.floor(Math.random() * (hot ? (cfg.hotPool ?? 50) : pool)));
    const queue = names[Math.floor(Math.random() * names.length)];
    await addUntilSettled(id, queue, Math.random() < (cfg.rerunRate ?? 0));
    await sleep(rand(0, pause));
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
  await Promise.all(Array.from({ length: cfg.lanes ?? 4 }, () => lane()));
}
while (!stopping) await sleep(50);
await Promise.all([...queues.values()].map((x) => x.close()));
log.close();
send({ type: 'done', adds, rejected, errors });
process.disconnect?.();
