/**
 * A private redis-server for tests, demos and benchmarks: started on a free port
 * in a temporary directory and stopped after. Nothing here ever talks to a Redis
 * it did not start.
 *
 * No server outlives the process that started it, however that process ends:
 * - a normal exit (or process.exit) kills the servers and removes their folders;
 * - each server has a watchdog, a tiny `sh` child holding the read end of a
 *   pipe whose write end only this process has: when this process dies (even
 *   by SIGKILL) the pipe closes and the watchdog kills the server and removes
 *   its folder;
 * - each server's folder holds an owner record (owner PID and start time, server
 *   PID and port); `reapLeftovers()` (run when this module loads, and by
 *   `make test` first) kills the servers of owners that are gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** PID of the running redis-server (0 when stopped). */
  readonly pid: number;
  /**
   * Stop the server (SIGKILL with `hard`, like a crash). Without options the
   * folder is removed too; with options it is kept for `start()` (and removed
   * when this process exits).
   */
  stop(options?: { hard?: boolean }): Promise<void>;
  /** Start it again on the same port and directory, with the same arguments. */
  start(): Promise<void>;
}

/** Prefixes of the temp folders this harness makes; reapLeftovers looks at these. */
export const TEMP_PREFIXES = ['convoy-redis-', 'convoy-tls-'];
const OWNER_FILE = 'convoy-owner.json';

// ---- process bookkeeping: children to kill and folders to remove on exit

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A temp folder removed when this process exits (if not removed before). */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  writeOwnerRecord(dir, 0, 0);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Start time of a process in clock ticks since boot (Linux), to tell a reused PID apart. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface OwnerRecord {
  owner: number;
  ownerStart?: string;
  server: number;
  port: number;
}

function writeOwnerRecord(dir: string, server: number, port: number): void {
  const record: OwnerRecord = { owner: process.pid, ownerStart: startTime(process.pid), server, port };
  try {
    writeFileSync(join(dir, OWNER_FILE), JSON.stringify(record));
  } catch {
    /* the folder went away */
  }
}

function ownerGone(r: OwnerRecord): boolean {
  if (!alive(r.owner)) return true;
  const s = startTime(r.owner);
  return r.ownerStart !== undefined && s !== undefined && s !== r.ownerStart;
}

/** The redis-server on `port` with this PID, if it still runs (not a reused PID). */
function isOurServer(pid: number, port: number): boolean {
  const cmd = cmdline(pid);
  return alive(pid) && /redis-server/.test(cmd) && (cmd.includes(`:${port}`) || cmd.includes(String(port)));
}

/**
 * Kill the redis-servers, and remove the folders, that a test process which is
 * gone left behind (its owner record says who started them). Folders without
 * a record, or whose owner still runs, are left alone. Returns what it did.
 */
export function reapLeftovers(dir = tmpdir()): string[] {
  const done: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return done;
  }
  for (const name of entries) {
    if (!TEMP_PREFIXES.some((p) => name.startsWith(p))) continue;
    const folder = join(dir, name);
    let record: OwnerRecord;
    try {
      record = JSON.parse(readFileSync(join(folder, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not ours to judge (or being written right now)
    }
    if (!ownerGone(record)) continue;
    if (record.server && isOurServer(record.server, record.port)) {
      try {
        process.kill(record.server, 'SIGKILL');
        done.push(`killed redis-server ${record.server} on port ${record.port} (owner ${record.owner} is gone)`);
      } catch {
        /* already gone */
      }
    }
    rmSync(folder, { recursive: true, force: true });
    done.push(`removed ${folder}`);
  }
  return done;
}

// Servers of test processes that were killed before they could clean up.
for (const line of reapLeftovers()) console.warn(`redis-server harness: ${line}`);

// The watchdog: waits for EOF on stdin (this process gone, by any death), then
// kills the server if that PID is still the redis-server on its port, waits
// for it to go (bounded), and removes its folder.
const WATCHDOG = `
read -r _ || true
pid=$1 port=$2 dir=$3
if grep -q "redis-server" "/proc/$pid/cmdline" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi
i=0
while [ -d "/proc/$pid" ] && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
[ -n "$dir" ] && rm -rf "$dir"
`;

/**
 * Spawn redis-server with `args`, with a watchdog and an owner record in `dir`
 * (`removeDir`: whether the watchdog removes `dir` when this process dies).
 * Output goes to `onOutput`. The child is the real redis-server process.
 */
export function spawnRedis(args: string[], port: number, dir: string, onOutput: (chunk: string) => void): ChildProcess {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.stdout!.on('data', (d) => onOutput(String(d)));
  child.stderr!.on('data', (d) => onOutput(String(d)));
  child.once('error', () => undefined);
  if (child.pid) {
    writeOwnerRecord(dir, child.pid, port);
    const watchdog = spawn('sh', ['-c', WATCHDOG, 'convoy-redis-watchdog', String(child.pid), String(port), dir], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    watchdog.once('error', () => undefined);
    watchdog.stdin!.on('error', () => undefined);
    // Neither the watchdog nor its pipe keeps this process alive.
    watchdog.unref();
    (watchdog.stdin as unknown as { unref(): void }).unref();
    child.once('exit', () => {
      running.delete(child);
      watchdog.kill('SIGKILL');
    });
  } else {
    child.once('exit', () => running.delete(child));
  }
  return child;
}

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

/**
 * Resolve once the redis-server with PID `pid` answers on `port` (INFO names
 * its process_id, so another test's server that took the port does not count).
 */
function waitForServer(port: number, pid: number, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let last = 'no answer yet';
    const attempt = () => {
      const sock = createConnection({ port, host: '127.0.0.1' });
      let reply = '';
      sock.setTimeout(2000, () => {
        last = 'no reply within 2 s';
        sock.destroy();
        retry();
      });
      sock.once('connect', () => sock.write('INFO server\r\n'));
      sock.on('data', (d) => {
        reply += d;
        const m = /process_id:(\d+)\r\n/.exec(reply);
        if (m) {
          sock.destroy();
          if (Number(m[1]) === pid) resolve();
          else reject(new Error(`port ${port} is held by another redis-server (PID ${m[1]}, not ${pid})`));
        } else if (reply.startsWith('-')) {
          last = reply.trim();
          sock.destroy();
          retry();
        }
      });
      sock.once('error', (err) => {
        last = err.message;
        sock.destroy();
        retry();
      });
    };
    const retry = () =>
      Date.now() > deadline
        ? reject(new Error(`redis-server on ${port} did not answer within its start time (last: ${last})`))
        : setTimeout(attempt, 25);
    attempt();
  });
}

/** How long a server may take to start or stop on a busy machine. */
const START_MS = 20_000;
const STOP_MS = 10_000;

/** Start a private redis-server; `args` are extra server options (`['--appendonly', 'yes']`). */
export async function startRedisServer(args: string[] = []): Promise<RedisServer> {
  const dir = makeTempDir('convoy-redis-');
  let port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';

  const start = async () => {
    log = '';
    const c = spawnRedis(
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', ...args],
      port,
      dir,
      (d) => (log += d),
    );
    child = c;
    const exited = new Promise<never>((_, reject) => {
      c.once('error', (err) => reject(new Error(`redis-server could not run: ${err.message}`)));
      c.once('exit', (code, signal) => reject(new Error(`redis-server on ${port} exited (${signal ?? code}): ${log.slice(-500)}`)));
    });
    exited.catch(() => undefined);
    try {
      await Promise.race([waitForServer(port, c.pid ?? -1, Date.now() + START_MS), exited]);
    } catch (err) {
      await stop({ hard: true });
      throw err;
    }
  };

  const stop = async ({ hard = false } = {}) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    // A graceful stop that takes too long on a busy machine becomes a hard one.
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((resolve) => (timer = setTimeout(() => resolve('slow'), STOP_MS)));
    if ((await Promise.race([gone, slow])) === 'slow') {
      c.kill('SIGKILL');
      await gone;
    }
    clearTimeout(timer);
  };

  // The first start may lose its port to another process between freePort and
  // the bind: then it tries again on another port.
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (err) {
      const portTaken = /Address already in use|held by another/.test(String((err as Error).message) + log);
      if (!portTaken || attempt >= 5) {
        removeTempDir(dir);
        throw err;
      }
      port = await freePort();
    }
  }
  return {
    get port() {
      return port;
    },
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    dir,
    get pid() {
      return child?.pid ?? 0;
    },
    start,
    async stop(options) {
      await stop(options);
      if (!options) removeTempDir(dir);
    },
  };
}

/** Whether any folder this module made is still there (for tests of the harness). */
export function leftoverTempDirs(): string[] {
  return [...tempDirs].filter((d) => existsSync(d));
}
