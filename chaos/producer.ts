/**
 * A chaos producer (a child process): adds IDs picked at random from a pool,
 * several at a time, and logs every add with its outcome. An add that rejects
 * (Redis paused, restarting, our connection killed) has an unknown outcome: it
 * is logged as such and sent again until it resolves (adds are idempotent).
 *
 * Soak mode (`range`): adds each ID of the range once, in batches, with a
 * little back-pressure so the queue stays a few thousand long.
 */
import { createQueue, Job } from '../src/index.js';
import { QUEUE, JsonLog, idOf, rand, sleep, type AddLine, type ChildConfig, type ChildMessage } from './common.js';

const cfg = JSON.parse(process.argv[2]) as ChildConfig;
const send = (m: ChildMessage) => process.send?.(m);
const log = new JsonLog(cfg.log);
const q = createQueue<{ p: number; n: number }>(QUEUE, { redis: cfg.url, commandTimeout: 2000 });
let errors = 0;
q.on('error', () => errors++);

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

async function addUntilSettled(id: string): Promise<void> {
  const deadline = () => stopping && Date.now() > stopAt + 5000;
  for (let attempt = 0; ; attempt++) {
    const t0 = Date.now();
    try {
      const o = await q.addJob(new Job(id, { p: process.pid, n: n++ }));
      log.write({ id, p: process.pid, t0, t1: Date.now(), o } satisfies AddLine);
      adds++;
      return;
    } catch (err) {
      rejected++;
      log.write({ id, p: process.pid, t0, t1: Date.now(), err: (err as Error).message } satisfies AddLine);
      if (deadline()) return;
      await sleep(Math.min(50 * 2 ** attempt, 500));
    }
  }
}

async function lane(): Promise<void> {
  const pool = cfg.pool ?? 3000;
  const pause = cfg.pauseMs ?? 10;
  while (!stopping) {
    await addUntilSettled(idOf(Math.floor(Math.random() * pool)));
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
await q.close();
log.close();
send({ type: 'done', adds, rejected, errors });
process.disconnect?.();
