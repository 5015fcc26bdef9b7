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

export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes = await Promise.all(
    Array.from({ length: 6 }, () =>
      startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000']),
    ),
  );
  try {
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']);
    await waitForClusterOk(nodes);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes,
    rootNodes: nodes.map((n) => ({ url: n.url })),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/** Every node agrees the cluster is up and knows all six nodes. */
async function waitForClusterOk(nodes: RedisServer[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const node of nodes) {
    const c = createClient({ url: node.url });
    await c.connect();
    try {
      for (;;) {
        const info = String(await c.sendCommand(['CLUSTER', 'INFO']));
        const known = Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1]);
        if (info.includes('cluster_state:ok') && known === nodes.length) break;
        if (Date.now() > deadline) throw new Error(`cluster did not come up: ${info}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      c.destroy();
    }
  }
}
