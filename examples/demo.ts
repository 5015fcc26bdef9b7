/**
 * make demo: publish jobs with duplicates, process them, crash a worker
 * mid-job and recover its job with the jam guard, and print the stats.
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
const q = Convoy.createQueue<{ driver: string }>(name, { redis: url, concurrency: 4, jobTimeout: 2000 });
q.on('warning', (w) => say(`warning: ${w}`));
q.on('error', (e) => say(`error: ${e.message}`));

// 1. Publish: each ID joins the queue once, however often it is added.
const trucks = ['grave-digger', 'bigfoot', 'monster-mutt', 'el-toro', 'max-d', 'bigfoot', 'el-toro', 'bigfoot'];
const outcomes = await Promise.all(trucks.map((id) => q.addJob(new Convoy.Job(id, { driver: `driver of ${id}` }))));
const tally = outcomes.reduce<Record<AddOutcome, number>>((acc, o) => ({ ...acc, [o]: acc[o] + 1 }), { queued: 0, scheduled: 0, committed: 0, processing: 0 });
say(`published ${trucks.length} adds: ${tally.queued} queued, ${tally.committed} already committed (duplicates dropped)`);

// 2. A worker in another process takes a job and is killed mid-job (SIGKILL).
const crasher = fork(new URL('../test/fixtures/hanging-worker.ts', import.meta.url), [url, name], {
  execArgv: ['--import', 'tsx'],
  stdio: 'ignore',
});
const stolen = await new Promise<string>((resolve) => crasher.on('message', (m: { started?: string }) => m.started && resolve(m.started)));
crasher.kill('SIGKILL');
say(`a worker process took "${stolen}" and was killed mid-job: ${JSON.stringify(await q.stats())}`);

// 3. The jam guard puts the jammed job back (a cron job would call this).
await sleep(300);
const requeued = await q.jamGuard(0.2);
say(`jamGuard(0.2) requeued: ${requeued.map((j) => j.id).join(', ')}`);

// 4. Process everything; one truck always breaks down.
q.on('completed', (job) => say(`  completed ${job.id} (${job.payload?.driver})`));
q.on('failed', (job, err) => say(`  failed ${job.id}: ${err.message}`));
q.process(async (job) => {
  await sleep(20);
  if (job.id === 'monster-mutt') throw new Error('broke an axle');
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
const ok = stats.committed === 0 && stats.failed === 2 && requeued.length === 1;
say(ok ? 'demo done: every job ran, the jammed one too' : 'demo finished with unexpected stats');
process.exit(ok ? 0 : 1);
