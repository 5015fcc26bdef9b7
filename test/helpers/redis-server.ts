/**
 * A private redis-server for tests, demos and benchmarks: started on a free port
 * in a temporary directory and stopped after. Nothing here ever talks to a Redis
 * it did not start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Stop the server (SIGKILL with `hard`, like a crash). */
  stop(options?: { hard?: boolean }): Promise<void>;
  /** Start it again on the same port and directory, with the same arguments. */
  start(): Promise<void>;
}

// Servers still running when the test process exits are killed with it.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function waitForPort(port: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = createConnection({ port, host: '127.0.0.1' });
      sock.once('connect', () => {
        sock.write('PING\r\n');
        sock.once('data', (d) => {
          sock.destroy();
          if (d.toString().startsWith('+PONG')) resolve();
          else retry();
        });
      });
      sock.once('error', () => {
        sock.destroy();
        retry();
      });
    };
    const retry = () => (Date.now() > deadline ? reject(new Error(`redis-server on ${port} did not start`)) : setTimeout(attempt, 20));
    attempt();
  });
}

/** Start a private redis-server; `args` are extra server options (`['--appendonly', 'yes']`). */
export async function startRedisServer(args: string[] = []): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'convoy-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';

  const start = async () => {
    log = '';
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(child);
    child.once('exit', () => running.delete(child!));
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const exited = new Promise<never>((_, reject) =>
      child!.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${log.slice(-500)}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForPort(port, Date.now() + 10_000), exited]);
  };

  const stop = async ({ hard = false } = {}) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await gone;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    start,
    async stop(options) {
      await stop(options);
      if (!options) rmSync(dir, { recursive: true, force: true });
    },
  };
}
