import test from 'ava';
import { createClient } from 'redis';
import { Job, createQueue } from '../src/index.js';
import { clusterBackend, until, sleep, withTimeout } from './helpers/backends.js';
import { startRedisCluster } from './helpers/cluster.js';

test('different queues spread over the masters of a cluster', async (t) => {
  const backend = await clusterBackend(await startRedisCluster());
  t.teardown(() => withTimeout(backend.stop(), 30_000, 'stopping the cluster'));
  const names = Array.from({ length: 12 }, (_, i) => `spread-${i}`);
  const queues = names.map((n) => createQueue(n, { redis: backend.redis }));
  t.teardown(() => withTimeout(Promise.all(queues.map((q) => q.close({ timeout: 1000 }))), 15_000, 'closing the queues'));
  await Promise.all(queues.map((q, i) => q.addJob(new Job(i))));
  const owners = new Set<number>();
  for (const node of backend.topology.nodes) {
    const c = createClient({ url: node.url });
    await c.connect();
    const role = String(await c.sendCommand(['ROLE']));
    if (role.startsWith('master')) {
      const keys = (await c.sendCommand(['KEYS', 'convoy:*:queued'])) as string[];
      if (keys.length) owners.add(node.port);
    }
    c.destroy();
  }
  t.true(owners.size >= 2, `queues landed on ${owners.size} master(s)`);
  t.deepEqual(await Promise.all(queues.map((q) => q.countQueued())), names.map(() => 1));
});

test('a failover of the master that owns the queue loses no job and processing goes on', async (t) => {
  t.timeout(180_000);
  const backend = await clusterBackend(await startRedisCluster());
  t.teardown(() => withTimeout(backend.stop(), 30_000, 'stopping the cluster'));
  const name = 'failover';
  const producer = createQueue(name, { redis: backend.redis, commandTimeout: 2000 });
  // No jam guard: a call cut off by the failover may have claimed jobs whose
  // reply never came back; their leases lapse and the worker recovers them.
  // (A short lease only so the test is quick; the default is 30 s.)
  const worker = createQueue(name, {
    redis: backend.redis,
    concurrency: 8,
    blockingTimeout: 0.5,
    commandTimeout: 2000,
    stallTimeout: 3000,
  });
  const errors: string[] = [];
  producer.on('error', () => undefined);
  worker.on('error', (err) => errors.push(err.message));
  const done = new Set<string>();
  const added = new Set<string>();
  let addFailures = 0;
  let producing = true;
  let produce: Promise<void> = Promise.resolve();
  // Registered last, so it runs first: the producer stops before the queues close.
  t.teardown(async () => {
    producing = false;
    await withTimeout(produce, 10_000, 'the producer loop to stop');
    await withTimeout(Promise.all([producer.close({ timeout: 1000 }), worker.close({ timeout: 1000 })]), 15_000, 'closing the queues');
  });
  /** The figures a failure message needs to tell a lost job from a slow machine. */
  const figures = () => {
    const lost = [...added].filter((id) => !done.has(id));
    return `added ${added.size}, ran ${done.size}, not run ${lost.length}${lost.length ? ` (${lost.slice(0, 20).join(', ')}${lost.length > 20 ? ', …' : ''})` : ''}, failed adds retried ${addFailures}, worker errors ${errors.length}${errors.length ? ` (last: ${errors.at(-1)})` : ''}`;
  };
  worker.process(async (job) => {
    await sleep(2);
    done.add(job.id);
  });

  // the master owning the queue's slot, and its replica (once every node has heard of it)
  const slot = Number(await backend.inspect.sendCommand(['CLUSTER', 'KEYSLOT', producer.keys.queued]));
  const replicaPort = await until(
    async () => {
      const nodes = String(await backend.inspect.sendCommand(['CLUSTER', 'NODES'] as never));
      const lines = nodes.trim().split('\n').map((l) => l.split(' '));
      const owns = (l: string[]) =>
        l.slice(8).some((r) => {
          const [a, b = a] = r.split('-').map(Number);
          return slot >= a && slot <= b;
        });
      const master = lines.find((l) => l[2].includes('master') && owns(l));
      const replica = master && lines.find((l) => l[3] === master[0]);
      return replica ? Number(replica[1].split(':')[1].split('@')[0]) : 0;
    },
    (port) => port > 0,
    `a replica of the master owning slot ${slot}`,
  );

  produce = (async () => {
    for (let i = 0; producing; i++) {
      const id = `job-${i}`;
      try {
        await producer.addJob(new Job(id));
        added.add(id);
      } catch {
        i--; // unknown outcome: add the same ID again, adds are idempotent
        addFailures++;
        await sleep(50);
      }
      await sleep(1);
    }
  })();

  try {
    await until(() => done.size, (n) => n >= 100, { what: 'a steady stream of 100 jobs before the failover', timeout: 60_000 });

    const replicaClient = createClient({ url: `redis://127.0.0.1:${replicaPort}` });
    replicaClient.on('error', () => undefined);
    await replicaClient.connect();
    try {
      t.is(String(await replicaClient.sendCommand(['CLUSTER', 'FAILOVER'])), 'OK');
      // A manual failover gives up after 5 s when the master's handshake is late
      // (a busy machine): ask again then, as an operator would.
      let asked = Date.now();
      await until(
        async () => {
          const role = String(await replicaClient.sendCommand(['ROLE'])).split(',')[0];
          if (role !== 'master' && Date.now() - asked > 8000) {
            asked = Date.now();
            await replicaClient.sendCommand(['CLUSTER', 'FAILOVER']);
          }
          return role;
        },
        (role) => role === 'master',
        { what: `the replica on ${replicaPort} to take over`, timeout: 90_000 },
      );
    } finally {
      replicaClient.destroy();
    }
    const before = done.size;
    await until(() => done.size, (n) => n >= before + 100, { what: `100 more jobs on the new master (${before} ran before)`, timeout: 60_000 });
  } catch (err) {
    t.fail(`${(err as Error).message}\n${figures()}`);
    return;
  } finally {
    producing = false;
    await withTimeout(produce, 10_000, 'the producer loop to stop');
  }

  // Every add that was acknowledged must run: lease recovery returns claims a
  // cut-off call made, so waiting long enough drains the queue.
  const drained = await until(() => worker.countCommitted(), (n) => n === 0, { what: 'the queue to drain', timeout: 60_000 }).then(
    () => true,
    (err: Error) => (t.log(err.message), false),
  );
  const lost = [...added].filter((id) => !done.has(id));
  t.deepEqual(lost, [], `jobs acknowledged by addJob that never ran: ${figures()}`);
  t.true(drained, `the queue did not drain: ${figures()}`);
  t.true(added.size > 200, `only ${added.size} jobs were added: ${figures()}`);
  t.log(figures());
});

test('after its slot moves to another master, a queue goes on: adds and idle workers follow MOVED', async (t) => {
  const backend = await clusterBackend(await startRedisCluster());
  t.teardown(() => withTimeout(backend.stop(), 30_000, 'stopping the cluster'));
  const q = createQueue('reshard', { redis: backend.redis, blockingTimeout: 1 });
  q.on('error', () => undefined);
  t.teardown(() => withTimeout(q.close({ timeout: 1000 }), 15_000, 'closing the queue'));
  const done: string[] = [];
  q.process(async (job) => {
    done.push(job.id);
  });
  await q.addJobs([new Job('before'), new Job('waiting', { kept: true })]);
  await until(() => done.length, (v) => v === 2, 'both jobs to run before the move');
  await q.stopProcessing();
  await q.addJob(new Job('moved-with-the-slot', { kept: true }));

  // move the queue's slot from its master to another one, keys and all
  const slot = Number(await backend.inspect.sendCommand(['CLUSTER', 'KEYSLOT', q.keys.queued]));
  const masters: { port: number; id: string; owns: boolean; c: { sendCommand(args: string[]): Promise<unknown>; destroy(): void } }[] = [];
  for (const node of backend.topology.nodes) {
    const c = createClient({ url: node.url });
    await c.connect();
    if (!String(await c.sendCommand(['ROLE'])).startsWith('master')) {
      c.destroy();
      continue;
    }
    const id = String(await c.sendCommand(['CLUSTER', 'MYID']));
    const owns = Number(await c.sendCommand(['CLUSTER', 'COUNTKEYSINSLOT', String(slot)])) > 0;
    masters.push({ port: node.port, id, owns, c });
  }
  t.teardown(() => masters.forEach((m) => m.c.destroy()));
  const from = masters.find((m) => m.owns)!;
  const to = masters.find((m) => !m.owns)!;
  await to.c.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id]);
  await from.c.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id]);
  for (;;) {
    const keys = (await from.c.sendCommand(['CLUSTER', 'GETKEYSINSLOT', String(slot), '100'])) as string[];
    if (!keys.length) break;
    await from.c.sendCommand(['MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys]);
  }
  for (const m of masters) await m.c.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id]);
  t.true(Number(await to.c.sendCommand(['CLUSTER', 'COUNTKEYSINSLOT', String(slot)])) > 0, 'the keys moved');

  q.process(async (job) => {
    done.push(job.id);
  });
  await until(() => done, (d) => d.includes('moved-with-the-slot'), 'the job that moved with its slot to run');
  await sleep(1500); // the worker is idle and blocked on the new owner
  t.is(await q.addJob(new Job('after', { kept: true })), 'queued');
  await until(() => done, (d) => d.includes('after'), 'a job added after the move to run');
  t.deepEqual(await q.stats(), { queued: 0, scheduled: 0, committed: 0, processing: 0, failed: 0, paused: false });
});

test('a cluster queue closed while its first connection is being made leaves no connection behind', async (t) => {
  const backend = await clusterBackend(await startRedisCluster());
  t.teardown(() => withTimeout(backend.stop(), 30_000, 'stopping the cluster'));
  const admins = await Promise.all(
    backend.topology.nodes.map(async (node) => {
      const c = createClient({ url: node.url });
      await c.connect();
      return c;
    }),
  );
  t.teardown(() => admins.forEach((c) => c.destroy()));
  // connections on every node but the admins' own
  const others = async () => {
    let n = 0;
    for (const c of admins) n += String(await c.sendCommand(['CLIENT', 'LIST', 'TYPE', 'normal'])).trim().split('\n').length - 1;
    return n;
  };
  const before = await others();
  for (let i = 0; i < 5; i++) {
    const q = createQueue(`closed-early-${i}`, { redis: backend.redis });
    // no await before close: the cluster is still discovering its nodes
    await q.close();
  }
  await until(others, (n) => n === before, { what: 'the queues\' connections to close', timeout: 20_000 });
  t.is(await others(), before);
});
