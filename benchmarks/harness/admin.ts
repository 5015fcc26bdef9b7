/**
 * The harness's own connection to the private redis-server: FLUSHALL between
 * runs, CONFIG RESETSTAT before a measurement and INFO to read it. It is only
 * ever given the URL of the server the harness started.
 */
import { createClient } from 'redis';

/** The part of a node-redis client the harness uses (its full generic type does not survive inference). */
export interface Conn {
  sendCommand(args: string[]): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
}

/** A connected node-redis client; errors surface through the commands that fail. */
export async function connect(url: string, onError: (err: Error) => void = () => undefined): Promise<Conn> {
  const client = createClient({ url });
  client.on('error', onError);
  await client.connect();
  return client as unknown as Conn;
}

/** The harness's own commands: left out of the per-job counts. */
const OWN_COMMANDS = new Set(['info', 'config', 'flushall']);

export class Admin {
  private constructor(private readonly client: Conn) {}

  static async connect(url: string): Promise<Admin> {
    return new Admin(await connect(url, (err) => process.stderr.write(`admin connection: ${err.message}\n`)));
  }

  async flushAll(): Promise<void> {
    await this.client.sendCommand(['FLUSHALL', 'SYNC']);
  }

  async resetStats(): Promise<void> {
    await this.client.sendCommand(['CONFIG', 'RESETSTAT']);
  }

  async info(section: string): Promise<string> {
    return String(await this.client.sendCommand(['INFO', section]));
  }

  /**
   * Calls per command since the last RESETSTAT, from INFO commandstats. Commands
   * run inside Lua scripts are counted there too, so a script call costs its
   * EVALSHA plus every command it runs.
   */
  async commandStats(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const m of (await this.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      // Redis 7 names subcommands 'config|resetstat'.
      if (!OWN_COMMANDS.has(m[1].split('|')[0])) out[m[1]] = Number(m[2]);
    }
    return out;
  }

  /** CPU seconds the server has used (user + sys): not reset by RESETSTAT, so take deltas. */
  async cpuSeconds(): Promise<number> {
    const info = await this.info('cpu');
    const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
    return field('used_cpu_user') + field('used_cpu_sys');
  }

  async usedMemory(): Promise<number> {
    return Number(/^used_memory:(\d+)/m.exec(await this.info('memory'))?.[1]);
  }

  async redisVersion(): Promise<string> {
    return /^redis_version:(\S+)/m.exec(await this.info('server'))?.[1] ?? 'unknown';
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export function totalCalls(stats: Record<string, number>): number {
  return Object.values(stats).reduce((a, b) => a + b, 0);
}
