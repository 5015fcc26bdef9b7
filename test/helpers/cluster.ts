/**
 * A private Redis Cluster for tests: 3 masters and 3 replicas of redis-server,
 * each on a free port in a temp dir, joined with `redis-cli --cluster create`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { startRedisServer, type RedisServer } from './redis-server.js';

const run = promisify(execFile);

export interface RedisCluster {
  readonly nodes: RedisServer[];
  readonly rootNodes: { url: string }[];
  stop(): Promise<void>;
}

/** Generous on a busy machine: joining six nodes can take a while there. */
const UP_MS = 45_000;

export async function startRedisCluster(): Promise<RedisCluster> {
  // A node timeout well above any stall of a busy machine, so no node is
  // failed over by accident (manual failovers do not wait for it).
  const started = await Promise.allSettled(
    Array.from({ length: 6 }, () =>
      startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000']),
    ),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stopAll = async () => {
    await Promise.allSettled(nodes.map((n) => n.stop()));
  };
  try {
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], {
      timeout: UP_MS,
    });
    await waitForClusterOk(nodes, Date.now() + UP_MS);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    rootNodes: nodes.map((n) => ({ url: n.url })),
    stop: stopAll,
  };
}

/** Every node agrees the cluster is up and knows all six nodes. */
async function waitForClusterOk(nodes: RedisServer[], deadline: number): Promise<void> {
  for (const node of nodes) {
    const c = createClient({ url: node.url, socket: { connectTimeout: 10_000, reconnectStrategy: false } });
    c.on('error', () => undefined);
    await c.connect();
    try {
      let info = '';
      for (;;) {
        info = String(await c.sendCommand(['CLUSTER', 'INFO']));
        const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1]);
        if (info.includes('cluster_state:ok') && known === nodes.length) break;
        if (Date.now() > deadline) throw new Error(`cluster did not come up (node ${node.port}): ${info.replace(/\r\n/g, ' ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      c.destroy();
    }
  }
}
