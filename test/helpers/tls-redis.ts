/**
 * A private TLS-only redis-server for tests: a throwaway CA and server
 * certificate made with openssl in a temp dir, and redis-server started with
 * `--port 0 --tls-port P` (so nothing listens in plain text). Its readiness is
 * checked with a PING over TLS, which redis-server.ts's plain-text probe cannot do.
 */
import { execFile, spawnSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { freePort, makeTempDir, removeTempDir, spawnRedis } from './redis-server.js';

export interface TestCerts {
  dir: string;
  /** PEM of the CA that signed the server certificate */
  ca: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

// Asynchronous, so the test process's event loop (and its timers) keep running.
const execFileAsync = promisify(execFile);
async function openssl(dir: string, args: string[]): Promise<void> {
  await execFileAsync('openssl', args, { cwd: dir });
}

// Elliptic-curve keys: made in milliseconds, where RSA keys take a while.
const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

/**
 * A CA and a server certificate for 127.0.0.1 / localhost, valid for a day, in
 * a temp folder: remove it with `removeTestCerts` (it also goes when the
 * process exits).
 */
export async function makeTestCerts(dir = makeTempDir('convoy-tls-')): Promise<TestCerts> {
  await openssl(dir, ['req', '-x509', ...newKey, '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=convoy-queue test CA']);
  await openssl(dir, ['req', ...newKey, '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'san.cnf']);
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
  };
}

export function removeTestCerts(certs: TestCerts): void {
  removeTempDir(certs.dir);
}

export interface TlsRedisServer {
  readonly port: number;
  readonly certs: TestCerts;
  stop(): Promise<void>;
}

/**
 * Whether this redis-server build has TLS, asked synchronously (so a test file
 * can choose between test and test.skip): a build without it refuses the
 * tls-* directives as unknown; one with it fails on the missing files instead.
 */
export function redisServerTls(): { ok: true } | { ok: false; reason: string } {
  const r = spawnSync('redis-server', ['--port', '0', '--tls-port', '1', '--tls-cert-file', '/nonexistent/c', '--tls-key-file', '/nonexistent/k', '--save', ''], {
    encoding: 'utf8',
    timeout: 5000,
  });
  if (r.error) return { ok: false, reason: `redis-server could not run: ${r.error.message}` };
  const out = `${r.stdout}${r.stderr}`;
  if (/Bad directive|tls.*not supported|unsupported/i.test(out)) {
    return { ok: false, reason: `this redis-server build has no TLS support (${out.trim().split('\n').pop()})` };
  }
  if (/Failed to configure TLS|tls/i.test(out)) return { ok: true };
  return { ok: false, reason: `could not tell whether redis-server has TLS: ${out.trim().slice(-200)}` };
}

/** Thrown when this redis-server build has no TLS. */
export class TlsUnsupportedError extends Error {
  override name = 'TlsUnsupportedError';
}

function pingOverTls(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('secureConnect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
    sock.once('error', () => done(false));
  });
}

export async function startTlsRedisServer(extraArgs: string[] = []): Promise<TlsRedisServer> {
  const certs = await makeTestCerts();
  const port = await freePort();
  let log = '';
  const child: ChildProcess = spawnRedis(
    [
      '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--dir', certs.dir, '--save', '', '--appendonly', 'no',
      '--tls-cert-file', certs.certFile, '--tls-key-file', certs.keyFile, '--tls-ca-cert-file', certs.caFile, '--tls-auth-clients', 'no',
      ...extraArgs,
    ],
    port,
    certs.dir,
    (d) => (log += d),
  );
  let exited = child.exitCode !== null;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  const stop = async () => {
    if (!exited) {
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const slow = new Promise<'slow'>((r) => (timer = setTimeout(() => r('slow'), 10_000)));
      if ((await Promise.race([gone, slow])) === 'slow') {
        child.kill('SIGKILL');
        await gone;
      }
      clearTimeout(timer);
    }
    removeTestCerts(certs);
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      removeTestCerts(certs);
      if (/TLS|tls-port|Bad directive/i.test(log)) throw new TlsUnsupportedError(`redis-server has no TLS support: ${log.trim().split('\n').slice(-3).join(' / ')}`);
      throw new Error(`redis-server exited: ${log.slice(-500)}`);
    }
    if (await pingOverTls(port, certs.ca)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`TLS redis-server on ${port} did not answer within 20 s: ${log.slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  return { port, certs, stop };
}
