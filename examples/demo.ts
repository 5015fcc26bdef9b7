/**
 * make demo: publish jobs with duplicates, a delayed one and one that gets a
 * retry, crash a worker mid-job and watch its job come back by itself when its
 * lease lapses (no jam guard, no cron), and print the stats.
 * Uses REDIS_URL when set (touching only this demo's own keys), otherwise a
 * private redis-server that it starts and stops.
 */
import { fork } from 'node:child_process';
import { createClient } from 'redis';
import Convoy, { type AddOutcome } from '../src/index.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const say = (line: string) => console.log(line);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const server = process.env.REDIS_URL ? undefined : await startRedisServer();
const url = process.env.REDIS_URL ?? server!.url;
say(server ? `started a private redis-server at ${url}` : `using REDIS_URL ${url}`);

const name = `monsterTrucks-${process.pid}`;
// A short lease so the demo's crashed worker is recovered within about a second (default 30 s).
const lease = { stallTimeout: 900 };
const q = Convoy.createQueue<{ driver: string }>(name, { redis: url, concurrency: 4, jobTimeout: 2000, ...lease });
q.on('warning', (w) => say(`warning: ${w}`));
q.on('error', (e) => say(`error: ${e.message}`));

// 1. Publish: each ID joins the queue once, however often it is added.
const trucks = ['grave-digger', 'bigfoot', 'monster-mutt', 'el-toro', 'max-d', 'bigfoot', 'el-toro', 'bigfoot'];
const outcomes = await Promise.all(trucks.map((id) => q.addJob(new Convoy.Job(id, { driver: `driver of ${id}` }))));
const tally = outcomes.reduce<Record<AddOutcome, number>>((acc, o) => ({ ...acc, [o]: acc[o] + 1 }), { queued: 0, scheduled: 0, committed: 0, processing: 0, replaced: 0 });
say(`published ${trucks.length} adds: ${tally.queued} queued, ${tally.committed} already committed (duplicates dropped)`);
say(`a delayed truck: ${await q.addJob(new Convoy.Job('late-truck', { driver: 'driver of late-truck' }, { delay: 1500 }))}`);
say(`a truck with a flat tyre, 2 attempts: ${await q.addJob(new Convoy.Job('flat-tyre', { driver: 'driver of flat-tyre' }, { attempts: 2, backoff: 200 }))}`);

// 2. A worker in another process takes a job and is killed mid-job (SIGKILL).
const crasher = fork(new URL('../test/fixtures/hanging-worker.ts', import.meta.url), [url, name, JSON.stringify(lease)], {
  execArgv: ['--import', 'tsx'],
  stdio: 'ignore',
});
const stolen = await new Promise<string>((resolve) => crasher.on('message', (m: { started?: string }) => m.started && resolve(m.started)));
crasher.kill('SIGKILL');
say(`a worker process took "${stolen}" and was killed mid-job: ${JSON.stringify(await q.stats())}`);

// 3. Process everything: the crashed worker's job comes back by itself when
// its lease lapses; one truck always breaks down; one needs a second try.
const stalled: string[] = [];
q.on('stalled', (ids) => {
  stalled.push(...ids);
  say(`  lease lapsed, back in the queue: ${ids.join(', ')}`);
});
q.on('completed', (job) => say(`  completed ${job.id} (${job.payload.driver}, attempt ${job.attempt})`));
q.on('retrying', (job, err, delay) => say(`  retrying ${job.id} in ${delay} ms: ${err.message}`));
q.on('failed', (job, err) => say(`  failed ${job.id}: ${err.message}`));
q.process(async (job) => {
  await sleep(20);
  if (job.id === 'monster-mutt') throw new Error('broke an axle');
  if (job.id === 'flat-tyre' && job.attempt === 1) throw new Error('flat tyre');
});
while ((await q.countCommitted()) > 0) await sleep(20);

const stats = await q.stats();
say(`stats: ${JSON.stringify(stats)}`);
// Failure records stay (for inspection) until the ID is added again or removed.
for (const f of await q.getFailed()) say(`failure record ${f.id}: ${f.count} failure(s), last: ${f.lastError?.message}`);
await q.close();

// This demo's keys only: never anyone else's.
const inspect = createClient({ url });
await inspect.connect();
await inspect.del(Object.values(q.keys));
inspect.destroy();
await server?.stop();
const ok = stats.committed === 0 && stats.failed === 1 && stalled.includes(stolen);
say(ok ? 'demo done: every job ran, the crashed worker\'s one too' : 'demo finished with unexpected stats');
process.exit(ok ? 0 : 1);
